// `ralm validate PIPELINE`: checks a pipeline without building anything.
#include <iostream>

#include "command.hpp"
#include "pipeline_args.hpp"

namespace ralm::cli {

int run_validate(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm validate`");
  po::options_description hidden;
  po::positional_options_description positional;
  add_pipeline_options(options, hidden, positional);
  options.add_options()("quiet,q", "print nothing when the pipeline is valid");
  po::variables_map vm;
  if (!parse_command("validate", "validate PIPELINE [--set SECTION.KEY=VALUE ...]", args, options, positional,
                     vm, hidden)) {
    return 0;
  }
  core::Registry registry;
  load_plugins(global, registry);
  const core::PipelineSpec spec = load_pipeline_from_args(vm, registry);
  if (!vm.count("quiet")) {
    print_pipeline(std::cout, spec);
    std::cout << spec.file << ": valid\n";
  }
  return 0;
}

}  // namespace ralm::cli
