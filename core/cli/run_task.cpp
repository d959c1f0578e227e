#include "run_task.hpp"

#include <cstdlib>
#include <thread>

#include "ralm/core/engine/request_loop.hpp"
#include "ralm/core/engine/tasks.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"
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

core::RunReport run_task(const core::PipelineSpec& spec, const core::Registry& registry,
                         const TaskOverrides& overrides) {
  if (spec.task_kind.empty() && !overrides.prompts) {
    throw InputError(spec.file +
                     ": the pipeline has no task; add `task: {kind: generate, prompts: FILE}`, or give "
                     "--prompts FILE, or use --dry-run");
  }
  const fs::path prompts_file = overrides.prompts ? *overrides.prompts : spec.task.get_path("prompts");
  std::int64_t limit = spec.task_kind.empty() ? 0 : spec.task.get_int("limit");
  if (overrides.limit > 0) limit = overrides.limit;
  std::vector<core::Prompt> prompts = core::read_prompts(prompts_file);
  if (limit > 0 && static_cast<std::int64_t>(prompts.size()) > limit)
    prompts.resize(static_cast<std::size_t>(limit));

  const core::BuiltPipeline built = core::build_pipeline(spec, registry);
  log_thread_layout(built);
  core::RequestLoop loop(built, core::EngineSettings::from(spec.engine));

  core::RunReport report;
  report.pipeline = spec.name;
  report.file = spec.file;
  Progress progress(spec.name, static_cast<std::int64_t>(prompts.size()), "requests");
  for (const core::Prompt& prompt : prompts) {
    core::RequestResult result = loop.run(prompt.text);
    result.id = prompt.id;
    report.add(std::move(result));
    progress.advance();
  }
  progress.finish();

  fs::path out = spec.task_kind.empty() ? fs::path() : spec.task.get_path("output");
  if (out.empty()) out = fs::path("out") / spec.name;
  core::write_run_files(report, out);
  log_info(spec.name + ": outputs and summary written to " + out.string());
  return report;
}

}  // namespace ralm::cli
