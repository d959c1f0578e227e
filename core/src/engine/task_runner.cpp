#include "ralm/core/engine/task_runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <string_view>
#include <thread>

#include "ralm/core/engine/engine.hpp"
#include "ralm/core/engine/perplexity.hpp"
#include "ralm/core/engine/prompts.hpp"
#include "ralm/core/engine/qa.hpp"
#include "ralm/core/engine/request_loop.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"
#include "ralm/passage_store.hpp"
#include "ralm/progress.hpp"

namespace ralm::core {

namespace fs = std::filesystem;

void log_thread_layout(const BuiltPipeline& built) {
  // Whatever library a plugin brings sizes its pool from variables named so.
  std::vector<std::string> variables = {"OMP_NUM_THREADS=(unset)"};
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    if (name.ends_with("_NUM_THREADS") || name.ends_with("_CORETYPE")) {
      if (name == "OMP_NUM_THREADS") {
        variables.front() = entry;
      } else {
        variables.emplace_back(entry);
      }
    }
  }
  std::sort(variables.begin() + 1, variables.end());
  std::string line = "threads: engine " + std::to_string(built.threads) + " of " +
                     std::to_string(std::thread::hardware_concurrency()) + " cores";
  for (std::size_t i = 0; i < variables.size(); ++i)
    line += (i == 0 ? "; " : ", ") + variables[i];
  log_info(line);
}

namespace {

std::int64_t task_limit(const PipelineSpec& spec, const TaskOverrides& overrides) {
  if (overrides.limit > 0) return overrides.limit;
  return spec.task_kind.empty() ? 0 : spec.task.get_int("limit");
}

template <typename T>
void apply_limit(std::vector<T>& items, std::int64_t limit) {
  if (limit > 0 && static_cast<std::int64_t>(items.size()) > limit)
    items.resize(static_cast<std::size_t>(limit));
}

void write_report(const PipelineSpec& spec, const RunReport& report, const TaskOverrides& overrides) {
  fs::path out = overrides.output         ? *overrides.output
                 : spec.task_kind.empty() ? fs::path()
                                          : spec.task.get_path("output");
  if (out.empty()) out = fs::path("out") / spec.name;
  write_run_files(report, out);
  log_info(spec.name + ": outputs and summary written to " + out.string());
}

RunReport new_report(const PipelineSpec& spec, const std::string& task) {
  RunReport report;
  report.pipeline = spec.name;
  report.file = spec.file;
  report.task = task;
  return report;
}

// Builds the pipeline and runs one request per item through the engine,
// showing progress: `prompt_of` gives an item's prompt, `book` files its
// result, in the items' order. Returns where the retriever's remote searches
// spent their time, if it has them.
template <class Item, class PromptOf, class Book>
std::optional<Retriever::RemoteSearchTimes> run_requests(const PipelineSpec& spec, const Registry& registry,
                                                         const std::vector<Item>& items, const char* unit,
                                                         PromptOf prompt_of, Book book) {
  const BuiltPipeline built = build_pipeline(spec, registry);
  log_thread_layout(built);
  Engine engine(built, EngineSettings::from(spec.engine));
  std::vector<std::shared_ptr<Engine::Request>> requests;
  requests.reserve(items.size());
  for (const Item& item : items)
    requests.push_back(engine.submit(prompt_of(item)));
  Progress progress(spec.name, static_cast<std::int64_t>(items.size()), unit);
  for (std::size_t i = 0; i < items.size(); ++i) {
    book(items[i], requests[i]->wait());
    progress.advance();
  }
  progress.finish();
  return built.retriever ? built.retriever->remote_search_times() : std::nullopt;
}

RunReport run_generate(const PipelineSpec& spec, const Registry& registry, const TaskOverrides& overrides) {
  if (spec.task_kind.empty() && !overrides.prompts) {
    throw InputError(spec.file +
                     ": the pipeline has no task; add `task: {kind: generate, prompts: FILE}`, or give "
                     "--prompts FILE, or use --dry-run");
  }
  std::vector<Prompt> prompts =
      read_prompts(overrides.prompts ? *overrides.prompts : spec.task.get_path("prompts"));
  apply_limit(prompts, task_limit(spec, overrides));

  RunReport report = new_report(spec, "generate");
  report.remote_search = run_requests(
      spec, registry, prompts, "requests", [](const Prompt& p) { return p.text; },
      [&](const Prompt& p, RequestResult result) {
        result.id = p.id;
        report.add(std::move(result));
      });
  write_report(spec, report, overrides);
  return report;
}

RunReport run_qa(const PipelineSpec& spec, const Registry& registry, const TaskOverrides& overrides) {
  std::vector<Question> questions =
      read_questions(overrides.prompts ? *overrides.prompts : spec.task.get_path("questions"));
  apply_limit(questions, task_limit(spec, overrides));
  const std::string prompt_template = spec.task.get_string("template");
  if (prompt_template.find("{question}") == std::string::npos)
    spec.task.fail("template",
                   "has no {question}; write where the question goes, e.g. \"Q: {question}\\nA:\"");

  RunReport report = new_report(spec, "qa");
  report.remote_search = run_requests(
      spec, registry, questions, "questions",
      [&](const Question& q) { return qa_prompt(prompt_template, q.question); },
      [&](const Question& q, RequestResult result) {
        result.id = q.id;
        QaScore score{q.id, q.question, q.answers, answer_of(result.text), 0, 0};
        score.exact_match = exact_match(score.prediction, q.answers);
        score.f1 = f1_score(score.prediction, q.answers);
        report.questions.push_back(std::move(score));
        report.add(std::move(result));
      });
  write_report(spec, report, overrides);
  log_info(spec.name + ": exact match " + std::to_string(100 * report.exact_match()) + "%, F1 " +
           std::to_string(100 * report.f1()) + "% over " + std::to_string(questions.size()) + " questions");
  return report;
}

RunReport run_perplexity(const PipelineSpec& spec, const Registry& registry, const TaskOverrides& overrides) {
  if (overrides.prompts) {
    throw InputError("--prompts: " + spec.file +
                     " runs the perplexity task, which scores task.text or task.corpus; drop --prompts");
  }
  const Params& task = spec.task;
  const fs::path text = task.get_path("text"), corpus = task.get_path("corpus");
  if (text.empty() == corpus.empty()) {
    task.fail(text.empty() ? "text" : "corpus",
              "give exactly one of task.text (a text or JSONL file) and task.corpus (a passage store)");
  }
  std::shared_ptr<const PassageStore> store;
  std::vector<HeldOutDocument> documents;
  if (!corpus.empty()) {
    store = PassageStore::open(corpus);
    documents = held_out_corpus_documents(*store, task.get_int("document_step"));
  } else {
    documents = read_held_out_text(text);
  }
  apply_limit(documents, task_limit(spec, overrides));

  const BuiltPipeline built = build_pipeline(spec, registry);
  log_thread_layout(built);
  PerplexitySettings settings;
  settings.engine = EngineSettings::from(spec.engine);
  settings.window = static_cast<std::int32_t>(task.get_int("window"));
  PerplexityEvaluator evaluator(built, settings, store);

  RunReport report = new_report(spec, "perplexity");
  const std::int64_t max_tokens = task.get_int("max_tokens");
  Progress progress(spec.name, static_cast<std::int64_t>(documents.size()), "documents");
  for (const HeldOutDocument& document : documents) {
    if (max_tokens > 0 && report.scored >= max_tokens) break;
    DocumentScore score = evaluator.score(document, max_tokens > 0 ? max_tokens - report.scored : 0);
    if (score.tokens > 0) report.add(std::move(score));
    progress.advance();
  }
  progress.finish();
  if (built.retriever) report.remote_search = built.retriever->remote_search_times();
  if (report.scored == 0) {
    throw InputError(spec.file +
                     ": the held-out text has no tokens to score; check task.text or task.corpus");
  }
  write_report(spec, report, overrides);
  log_info(spec.name + ": perplexity " + std::to_string(report.perplexity()) + " over " +
           std::to_string(report.scored) + " tokens (window " + std::to_string(evaluator.window()) + ")");
  return report;
}

}  // namespace

RunReport run_task(const PipelineSpec& spec, const Registry& registry, const TaskOverrides& overrides) {
  if (spec.task_kind == "perplexity") return run_perplexity(spec, registry, overrides);
  if (spec.task_kind == "qa") return run_qa(spec, registry, overrides);
  return run_generate(spec, registry, overrides);
}

}  // namespace ralm::core
