// Running a pipeline's task (generate, qa or perplexity) from its spec: the
// engine's entry point for a program that runs a whole pipeline without the
// command line. `ralm run` and `ralm compare` are thin clients of it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "ralm/core/engine/run_report.hpp"
#include "ralm/core/pipeline.hpp"
#include "ralm/core/pipeline_builder.hpp"

namespace ralm::core {

struct TaskOverrides {
  // Instead of task.prompts (generate) or task.questions (qa); an error for
  // perplexity, which scores task.text or task.corpus.
  std::optional<std::filesystem::path> prompts;
  std::int64_t limit = 0;  // instead of task.limit, when > 0
  // Instead of task.output (default out/<name>): `ralm sweep` gives each
  // combination a folder of its own.
  std::optional<std::filesystem::path> output;
};

// Logs (at info) the engine's threads and the variables that size other
// libraries' thread pools: pools that each take every core multiply, so a
// slow run's log shows whether they did.
void log_thread_layout(const BuiltPipeline& built);

// Builds the pipeline, runs its task (generate, qa or perplexity; generate
// when the pipeline has none but --prompts is given), writes the run's files
// to task.output (default out/<name>), or the overrides' output, and returns the report.
RunReport run_task(const PipelineSpec& spec, const Registry& registry, const TaskOverrides& overrides);

}  // namespace ralm::core
