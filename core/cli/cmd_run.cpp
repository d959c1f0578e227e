// `ralm run PIPELINE`: builds the pipeline's components and runs it.
#include <cstdlib>
#include <iostream>
#include <thread>

#include "command.hpp"
#include "pipeline_args.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"

namespace ralm::cli {
namespace {

// DESIGN.md §3: BLAS and OpenMP pools multiply; every run states its layout.
void log_thread_layout(const core::BuiltPipeline& built) {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(name) + "=" + (v ? v : "(unset)");
  };
  log_info("threads: engine " + std::to_string(built.threads) + " of " +
           std::to_string(std::thread::hardware_concurrency()) + " cores; " + env("OMP_NUM_THREADS") + ", " +
           env("OPENBLAS_NUM_THREADS") + ", " + env("OPENBLAS_CORETYPE"));
}

}  // namespace

int run_run(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm run`");
  po::options_description hidden;
  po::positional_options_description positional;
  add_pipeline_options(options, hidden, positional);
  options.add_options()("dry-run", "build every component, report them, and stop");
  po::variables_map vm;
  if (!parse_command("run", "run PIPELINE [--set SECTION.KEY=VALUE ...] [--dry-run]", args, options,
                     positional, vm, hidden)) {
    return 0;
  }
  core::Registry registry;
  load_plugins(global, registry);
  const core::PipelineSpec spec = load_pipeline_from_args(vm, registry);
  const core::BuiltPipeline built = core::build_pipeline(spec, registry);
  log_thread_layout(built);
  if (vm.count("dry-run")) {
    print_pipeline(std::cout, spec);
    std::cout << "built " << spec.components.size() << " component(s); dry run: nothing generated\n";
    return 0;
  }
  throw Error("run: this build has no request loop yet (it lands with the engine); `ralm run " + spec.file +
              " --dry-run` builds and checks every component");
}

}  // namespace ralm::cli
