// `ralm ask PIPELINE "question"`: one request through the pipeline's model,
// retriever, policy and scheduler, showing what it retrieved and where the
// time went.
#include <iostream>
#include <sstream>

#include "command.hpp"
#include "pipeline_args.hpp"
#include "ralm/core/engine/engine.hpp"
#include "ralm/core/engine/qa.hpp"
#include "ralm/core/engine/result_json.hpp"
#include "ralm/core/engine/task_runner.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/core/table.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {
namespace {

std::string fixed(double v, int digits) {
  std::ostringstream out;
  out.precision(digits);
  out << std::fixed << v;
  return out.str();
}

// Control characters escaped, so that a generation prints on one line.
std::string printable(const std::string& text) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
    } else {
      out += ch;
    }
  }
  return out;
}

std::string title_of(const Retriever* retriever, PassageId id) {
  return retriever ? retriever->passage(id).title : "";
}

void print_json(const core::RequestResult& r, const std::string& prompt, const std::string& answer,
                const Retriever* retriever) {
  const core::ResultJson j = {{"prompt", prompt},
                              {"answer", answer},
                              {"text", r.text},
                              {"input_tokens", r.input.size()},
                              {"output_tokens", r.output.size()},
                              {"stopped_at_eos", r.stopped_at_eos},
                              {"tokens_computed", r.tokens_computed},
                              {"retrievals", core::retrieval_records_json(r.retrievals, retriever)},
                              {"times", core::phase_times_json(r.times)},
                              {"speculation", core::speculation_stats_json(r.speculation)}};
  std::cout << core::dump_json(j, 2) << "\n";
}

void print_text(const core::RequestResult& r, const std::string& answer, const Retriever* retriever) {
  std::cout << "answer: \"" << printable(answer) << "\"\n";
  if (answer != r.text) std::cout << "generated: \"" << printable(r.text) << "\"\n";
  std::cout << "\n" << r.retrievals.size() << " retrieval(s)\n";
  if (!r.retrievals.empty()) {
    core::Table table({"POSITION", "FROM", "QUERY", "PASSAGE", "SCORE", "TITLE"});
    for (const core::RetrievalRecord& rec : r.retrievals) {
      std::string query = printable(rec.query);
      if (query.size() > 40) query = "..." + query.substr(query.size() - 37);
      for (const Hit& h : rec.hits) {
        table.add({std::to_string(rec.position), rec.speculative ? "speculative cache" : "retriever",
                   "\"" + query + "\"", std::to_string(h.id), fixed(h.score, 4), title_of(retriever, h.id)});
      }
      if (rec.hits.empty())
        table.add({std::to_string(rec.position), rec.speculative ? "speculative cache" : "retriever",
                   "\"" + query + "\"", "-", "-", "(no passage)"});
    }
    table.print(std::cout, "  ");
  }
  std::cout << "\nlatency (ms)\n";
  core::Table times({"PHASE", "MS"});
  for (const auto& [name, seconds] : core::named_phases(r.times))
    times.add({name, fixed(seconds * 1000, 2)});
  times.print(std::cout, "  ");
  std::cout << "\n"
            << r.input.size() << " input token(s), " << r.output.size() << " generated, " << r.tokens_computed
            << " computed";
  if (r.speculation.rounds > 0) {
    std::cout << "; speculation: " << r.speculation.speculated << " step(s) speculated, "
              << r.speculation.accepted << " accepted, " << r.speculation.rollbacks << " rollback(s), "
              << r.speculation.real << " real retrieval(s)";
  }
  std::cout << "\n";
}

}  // namespace

int run_ask(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm ask`");
  po::options_description hidden;
  po::positional_options_description positional;
  add_pipeline_options(options, hidden, positional);
  hidden.add_options()("question", po::value<std::string>());
  positional.add("question", 1);
  options.add_options()("raw", "send the question as it is, not through a qa task's template")(
      "json", "print one JSON object");
  po::variables_map vm;
  if (!parse_command("ask", "ask PIPELINE \"QUESTION\" [--set SECTION.KEY=VALUE ...] [--raw] [--json]", args,
                     options, positional, vm, hidden)) {
    return 0;
  }
  if (!vm.count("question")) throw InputError("ask: which question? write `ralm ask PIPELINE \"QUESTION\"`");
  core::Registry registry;
  load_plugins(global, registry);
  const core::PipelineSpec spec = load_pipeline_from_args(vm, registry);
  const std::string question = vm["question"].as<std::string>();
  // A qa pipeline asks through its template and answers with the first line;
  // any other pipeline continues the question as a prompt.
  const bool templated = spec.task_kind == "qa" && !vm.count("raw");
  const std::string prompt =
      templated ? core::qa_prompt(spec.task.get_string("template"), question) : question;
  const core::BuiltPipeline built = core::build_pipeline(spec, registry);
  core::log_thread_layout(built);
  core::Engine engine(built, core::EngineSettings::from(spec.engine));
  const core::RequestResult result = engine.submit(prompt)->wait();
  const std::string answer = templated ? core::answer_of(result.text) : result.text;
  if (vm.count("json")) {
    print_json(result, prompt, answer, built.retriever.get());
  } else {
    print_text(result, answer, built.retriever.get());
  }
  return 0;
}

}  // namespace ralm::cli
