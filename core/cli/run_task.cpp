#include "run_task.hpp"

#include <cstdlib>
#include <thread>

#include "ralm/core/engine/perplexity.hpp"
#include "ralm/core/engine/qa.hpp"
#include "ralm/core/engine/request_loop.hpp"
#include "ralm/core/engine/tasks.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"
#include "ralm/passage_store.hpp"
#include "ralm/progress.hpp"

namespace ralm::cli {

namespace fs = std::filesystem;

void log_thread_layout(const core::BuiltPipeline& built) {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(name) + "=" + (v ? v : "(unset)");
  };
  log_info("threads: engine " + std::to_string(built.threads) + " of " +
           std::to_string(std::thread::hardware_concurrency()) + " cores; " + env("OMP_NUM_THREADS") + ", " +
           env("OPENBLAS_NUM_THREADS") + ", " + env("OPENBLAS_CORETYPE"));
}

namespace {

std::int64_t task_limit(const core::PipelineSpec& spec, const TaskOverrides& overrides) {
  if (overrides.limit > 0) return overrides.limit;
  return spec.task_kind.empty() ? 0 : spec.task.get_int("limit");
}

template <typename T>
void apply_limit(std::vector<T>& items, std::int64_t limit) {
  if (limit > 0 && static_cast<std::int64_t>(items.size()) > limit)
    items.resize(static_cast<std::size_t>(limit));
}

void write_report(const core::PipelineSpec& spec, const core::RunReport& report) {
  fs::path out = spec.task_kind.empty() ? fs::path() : spec.task.get_path("output");
  if (out.empty()) out = fs::path("out") / spec.name;
  core::write_run_files(report, out);
  log_info(spec.name + ": outputs and summary written to " + out.string());
}

core::RunReport new_report(const core::PipelineSpec& spec, const std::string& task) {
  core::RunReport report;
  report.pipeline = spec.name;
  report.file = spec.file;
  report.task = task;
  return report;
}

core::RunReport run_generate(const core::PipelineSpec& spec, const core::Registry& registry,
                             const TaskOverrides& overrides) {
  if (spec.task_kind.empty() && !overrides.prompts) {
    throw InputError(spec.file +
                     ": the pipeline has no task; add `task: {kind: generate, prompts: FILE}`, or give "
                     "--prompts FILE, or use --dry-run");
  }
  std::vector<core::Prompt> prompts =
      core::read_prompts(overrides.prompts ? *overrides.prompts : spec.task.get_path("prompts"));
  apply_limit(prompts, task_limit(spec, overrides));

  const core::BuiltPipeline built = core::build_pipeline(spec, registry);
  log_thread_layout(built);
  core::RequestLoop loop(built, core::EngineSettings::from(spec.engine));

  core::RunReport report = new_report(spec, "generate");
  Progress progress(spec.name, static_cast<std::int64_t>(prompts.size()), "requests");
  for (const core::Prompt& prompt : prompts) {
    core::RequestResult result = loop.run(prompt.text);
    result.id = prompt.id;
    report.add(std::move(result));
    progress.advance();
  }
  progress.finish();
  write_report(spec, report);
  return report;
}

core::RunReport run_qa(const core::PipelineSpec& spec, const core::Registry& registry,
                       const TaskOverrides& overrides) {
  std::vector<core::Question> questions =
      core::read_questions(overrides.prompts ? *overrides.prompts : spec.task.get_path("questions"));
  apply_limit(questions, task_limit(spec, overrides));
  const std::string prompt_template = spec.task.get_string("template");
  if (prompt_template.find("{question}") == std::string::npos)
    spec.task.fail("template",
                   "has no {question}; write where the question goes, e.g. \"Q: {question}\\nA:\"");

  const core::BuiltPipeline built = core::build_pipeline(spec, registry);
  log_thread_layout(built);
  core::RequestLoop loop(built, core::EngineSettings::from(spec.engine));

  core::RunReport report = new_report(spec, "qa");
  Progress progress(spec.name, static_cast<std::int64_t>(questions.size()), "questions");
  for (const core::Question& q : questions) {
    core::RequestResult result = loop.run(core::qa_prompt(prompt_template, q.question));
    result.id = q.id;
    core::QaScore score{q.id, q.question, q.answers, core::answer_of(result.text), 0, 0};
    score.exact_match = core::exact_match(score.prediction, q.answers);
    score.f1 = core::f1_score(score.prediction, q.answers);
    report.questions.push_back(std::move(score));
    report.add(std::move(result));
    progress.advance();
  }
  progress.finish();
  write_report(spec, report);
  log_info(spec.name + ": exact match " + std::to_string(100 * report.exact_match()) + "%, F1 " +
           std::to_string(100 * report.f1()) + "% over " + std::to_string(questions.size()) + " questions");
  return report;
}

core::RunReport run_perplexity(const core::PipelineSpec& spec, const core::Registry& registry,
                               const TaskOverrides& overrides) {
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
  std::vector<core::HeldOutDocument> documents;
  if (!corpus.empty()) {
    store = PassageStore::open(corpus);
    documents = core::held_out_corpus_documents(*store, task.get_int("document_step"));
  } else {
    documents = core::read_held_out_text(text);
  }
  apply_limit(documents, task_limit(spec, overrides));

  const core::BuiltPipeline built = core::build_pipeline(spec, registry);
  log_thread_layout(built);
  core::PerplexitySettings settings;
  settings.engine = core::EngineSettings::from(spec.engine);
  settings.window = static_cast<std::int32_t>(task.get_int("window"));
  core::PerplexityEvaluator evaluator(built, settings, store);

  core::RunReport report = new_report(spec, "perplexity");
  const std::int64_t max_tokens = task.get_int("max_tokens");
  Progress progress(spec.name, static_cast<std::int64_t>(documents.size()), "documents");
  for (const core::HeldOutDocument& document : documents) {
    if (max_tokens > 0 && report.scored >= max_tokens) break;
    core::DocumentScore score = evaluator.score(document, max_tokens > 0 ? max_tokens - report.scored : 0);
    if (score.tokens > 0) report.add(std::move(score));
    progress.advance();
  }
  progress.finish();
  if (report.scored == 0) {
    throw InputError(spec.file +
                     ": the held-out text has no tokens to score; check task.text or task.corpus");
  }
  write_report(spec, report);
  log_info(spec.name + ": perplexity " + std::to_string(report.perplexity()) + " over " +
           std::to_string(report.scored) + " tokens (window " + std::to_string(evaluator.window()) + ")");
  return report;
}

}  // namespace

core::RunReport run_task(const core::PipelineSpec& spec, const core::Registry& registry,
                         const TaskOverrides& overrides) {
  if (spec.task_kind == "perplexity") return run_perplexity(spec, registry, overrides);
  if (spec.task_kind == "qa") return run_qa(spec, registry, overrides);
  return run_generate(spec, registry, overrides);
}

}  // namespace ralm::cli
