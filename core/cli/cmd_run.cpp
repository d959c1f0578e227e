// `ralm run PIPELINE`: builds the pipeline's components and runs its task.
#include <iostream>

#include "command.hpp"
#include "pipeline_args.hpp"
#include "ralm/core/compare_table.hpp"
#include "ralm/core/engine/task_runner.hpp"
#include "ralm/core/pipeline_builder.hpp"

namespace ralm::cli {

int run_run(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm run`");
  po::options_description hidden;
  po::positional_options_description positional;
  add_pipeline_options(options, hidden, positional);
  options.add_options()("dry-run", "build every component, report them, and stop")(
      "prompts", po::value<std::string>(),
      "a prompts (generate) or questions (qa) JSONL file instead of the task's")(
      "limit", po::value<std::int64_t>()->default_value(0),
      "run only the first N prompts, questions or documents; 0: task.limit");
  po::variables_map vm;
  if (!parse_command("run", "run PIPELINE [--set SECTION.KEY=VALUE ...] [--dry-run]", args, options,
                     positional, vm, hidden)) {
    return 0;
  }
  core::Registry registry;
  load_plugins(global, registry);
  const core::PipelineSpec spec = load_pipeline_from_args(vm, registry);
  if (vm.count("dry-run")) {
    const core::BuiltPipeline built = core::build_pipeline(spec, registry);
    core::log_thread_layout(built);
    print_pipeline(std::cout, spec);
    // A draft retriever left unbuilt (engine.draft: off) is not counted.
    const int count = !!built.model + !!built.retriever + !!built.draft_retriever + !!built.policy +
                      !!built.scheduler + !!built.trainer;
    std::cout << "built " << count << " component(s); dry run: nothing generated\n";
    return 0;
  }
  core::TaskOverrides overrides;
  if (vm.count("prompts")) overrides.prompts = vm["prompts"].as<std::string>();
  overrides.limit = vm["limit"].as<std::int64_t>();
  const core::RunReport report = core::run_task(spec, registry, overrides);
  core::print_compare_table(std::cout, {report}, {0});
  return 0;
}

}  // namespace ralm::cli
