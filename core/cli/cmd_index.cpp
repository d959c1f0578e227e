// `ralm index build PIPELINE [--force]`: builds the index of the pipeline's
// retriever ahead of a run, so the first request does not pay for it.
//
// No hook in the Retriever interface: a retriever that keeps an index
// declares `build_if_missing` (and `rebuild` for --force), and its factory
// builds what is missing. This command sets them and builds the pipeline.
#include <chrono>
#include <iostream>

#include "command.hpp"
#include "pipeline_args.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {

namespace {

bool declares(const core::ComponentSpec& c, const std::string& param) {
  for (const ParamSpec& p : c.entry->info.params)
    if (p.name == param) return true;
  return false;
}

}  // namespace

int run_index(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm index build`");
  po::options_description hidden;
  po::positional_options_description positional;
  hidden.add_options()("action", po::value<std::string>());
  positional.add("action", 1);
  add_pipeline_options(options, hidden, positional);
  options.add_options()("force", "rebuild the index even if one exists");
  po::variables_map vm;
  const std::string usage = "index build PIPELINE [--force] [--set SECTION.KEY=VALUE ...]";
  if (!parse_command("index", usage, args, options, positional, vm, hidden)) return 0;
  if (!vm.count("action") || vm["action"].as<std::string>() != "build") {
    throw InputError("index: expected `ralm " + usage + "`");
  }
  core::Registry registry;
  load_plugins(global, registry);
  const core::PipelineSpec first = load_pipeline_from_args(vm, registry);
  const core::ComponentSpec* retriever = first.find("retriever");
  if (!retriever) throw InputError(first.file + ": the pipeline has no retriever section; nothing to index");
  if (!declares(*retriever, "build_if_missing")) {
    throw InputError(
        first.file + ": retriever '" + retriever->plugin +
        "' keeps no index that `ralm index build` can build (it has no build_if_missing parameter)");
  }
  const bool force = vm.count("force") > 0;
  if (force && !declares(*retriever, "rebuild")) {
    throw InputError(
        "index: retriever '" + retriever->plugin +
        "' cannot rebuild its index (no rebuild parameter); delete the index folder instead of --force");
  }
  std::vector<core::Override> overrides;
  if (vm.count("set")) {
    for (const std::string& s : vm["set"].as<std::vector<std::string>>())
      overrides.push_back(core::parse_override(s));
  }
  overrides.push_back(core::parse_override("retriever.build_if_missing=true"));
  if (force) overrides.push_back(core::parse_override("retriever.rebuild=true"));
  const core::PipelineSpec spec = core::load_pipeline(first.file, overrides, registry);

  const auto start = std::chrono::steady_clock::now();
  const core::BuiltPipeline built = core::build_pipeline(spec, registry);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << spec.file << ": the index of retriever '" << retriever->plugin << "' is ready ("
            << built.retriever->size() << " passages, " << seconds << " s)\n";
  return 0;
}

}  // namespace ralm::cli
