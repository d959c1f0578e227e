// Running a pipeline's task, shared by `ralm run` and `ralm compare`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "ralm/core/engine/run_report.hpp"
#include "ralm/core/pipeline.hpp"
#include "ralm/core/pipeline_builder.hpp"

namespace ralm::cli {

struct TaskOverrides {
  // Instead of task.prompts (generate) or task.questions (qa); an error for
  // perplexity, which scores task.text or task.corpus.
  std::optional<std::filesystem::path> prompts;
  std::int64_t limit = 0;  // instead of task.limit, when > 0
};

// DESIGN.md §3: BLAS and OpenMP pools multiply; every run logs its threads.
void log_thread_layout(const core::BuiltPipeline& built);

// Builds the pipeline, runs its task (generate, qa or perplexity; generate
// when the pipeline has none but --prompts is given), writes the run's files
// to task.output (default out/<name>) and returns the report.
core::RunReport run_task(const core::PipelineSpec& spec, const core::Registry& registry,
                         const TaskOverrides& overrides);

}  // namespace ralm::cli
