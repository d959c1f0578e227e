// `ralm index build PIPELINE [--force]`: builds the index of the pipeline's
// retriever, and the datastore of its policy (kNN-LM), ahead of a run, so the
// first request does not pay for it. `ralm datastore build` is the same for
// the policy alone (cmd_datastore.cpp).
//
// No hook in the Retriever or ContextPolicy interface: a component that keeps
// an index declares `build_if_missing` (and `rebuild` for --force), and its
// factory builds what is missing. This command sets them and builds the
// pipeline.
#include <chrono>
#include <iostream>
#include <utility>

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

int build_indexes(const std::vector<std::string>& args, const GlobalOptions& global,
                  const std::string& command, const std::vector<std::string>& sections) {
  po::options_description options("Options of `ralm " + command + " build`");
  po::options_description hidden;
  po::positional_options_description positional;
  hidden.add_options()("action", po::value<std::string>());
  positional.add("action", 1);
  add_pipeline_options(options, hidden, positional);
  options.add_options()("force", "rebuild even if one exists");
  po::variables_map vm;
  const std::string usage = command + " build PIPELINE [--force] [--set SECTION.KEY=VALUE ...]";
  if (!parse_command(command, usage, args, options, positional, vm, hidden)) return 0;
  if (!vm.count("action") || vm["action"].as<std::string>() != "build") {
    throw InputError(command + ": expected `ralm " + usage + "`");
  }
  core::Registry registry;
  load_plugins(global, registry);
  const core::PipelineSpec first = load_pipeline_from_args(vm, registry);
  const bool force = vm.count("force") > 0;
  std::vector<core::Override> overrides;
  if (vm.count("set")) {
    for (const std::string& s : vm["set"].as<std::vector<std::string>>())
      overrides.push_back(core::parse_override(s));
  }
  // The sections that keep something to build: those declaring build_if_missing.
  std::vector<std::pair<std::string, std::string>> building;  // section, plugin
  std::string found;
  for (const std::string& section : sections) {
    const core::ComponentSpec* c = first.find(section);
    if (!c) continue;
    found += (found.empty() ? "" : " or ") + section + " '" + c->plugin + "'";
    if (!declares(*c, "build_if_missing")) continue;
    if (force && !declares(*c, "rebuild")) {
      throw InputError(command + ": " + section + " '" + c->plugin +
                       "' cannot rebuild (no rebuild parameter); delete its folder instead of --force");
    }
    overrides.push_back(core::parse_override(section + ".build_if_missing=true"));
    if (force) overrides.push_back(core::parse_override(section + ".rebuild=true"));
    building.emplace_back(section, c->plugin);
  }
  if (building.empty()) {
    std::string wanted;
    for (const std::string& section : sections)
      wanted += (wanted.empty() ? "" : " or ") + section;
    if (found.empty())
      throw InputError(first.file + ": the pipeline has no " + wanted + " section; nothing to build");
    throw InputError(first.file + ": " + found + " keeps nothing that `ralm " + command +
                     " build` can build (no build_if_missing parameter)");
  }
  const core::PipelineSpec spec = core::load_pipeline(first.file, overrides, registry);

  const auto start = std::chrono::steady_clock::now();
  const core::BuiltPipeline built = core::build_pipeline(spec, registry);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& [section, plugin] : building) {
    std::cout << spec.file << ": the " << (section == "retriever" ? "index" : "datastore") << " of "
              << section << " '" << plugin << "' is ready";
    if (section == "retriever") std::cout << " (" << built.retriever->size() << " passages)";
    std::cout << " (" << seconds << " s)\n";
  }
  return 0;
}

int run_index(const std::vector<std::string>& args, const GlobalOptions& global) {
  return build_indexes(args, global, "index", {"retriever", "policy"});
}

}  // namespace ralm::cli
