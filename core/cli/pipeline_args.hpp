// The PIPELINE argument and `--set` overrides, shared by the subcommands that
// take a pipeline.
#pragma once

#include <ostream>

#include "command.hpp"
#include "ralm/core/engine/task_runner.hpp"
#include "ralm/core/pipeline.hpp"

namespace ralm::cli {

// Adds --set to `options`, and the PIPELINE argument to `hidden` and `positional`.
void add_pipeline_options(po::options_description& options, po::options_description& hidden,
                          po::positional_options_description& positional);

// Loads and validates the pipeline the arguments name.
core::PipelineSpec load_pipeline_from_args(const po::variables_map& vm, const core::Registry& registry);

// The task that several pipelines run alike (`ralm compare`, `ralm sweep`):
// every pipeline must have the first's task kind (an InputError naming
// `command` otherwise), and gets --prompts or else the first's prompts or
// questions, and --limit. Perplexity pipelines score their own task.text or
// task.corpus: have them extend one base so that it is the same.
core::TaskOverrides shared_task(const std::vector<core::PipelineSpec>& specs, const po::variables_map& vm);

// The resolved pipeline: each component, its plugin, and every parameter with
// where its value came from.
void print_pipeline(std::ostream& out, const core::PipelineSpec& spec);

}  // namespace ralm::cli
