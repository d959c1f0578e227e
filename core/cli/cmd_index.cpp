// `ralm index build PIPELINE [--force] [--shards K]`: builds the index of the
// pipeline's retriever and of its draft retriever, and the datastore of its
// policy (kNN-LM), ahead of a run, so the first request does not pay for it.
// `ralm datastore build` is the same for the policy alone (cmd_datastore.cpp).
// --shards K is `--set SECTION.shards=K` for each section built whose
// component takes a `shards` setting: such a component writes its index in K
// shards.
//
// A component that keeps something on disk says what (ComponentTraits::keeps)
// when it registers; this command builds the pipeline asking those components
// to build it (BuildContext::index_request()).
#include <algorithm>
#include <chrono>
#include <iostream>
#include <utility>

#include "command.hpp"
#include "pipeline_args.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {

namespace {

// `spec` loaded again with SECTION.shards=K (after the command line's --set)
// for each of `sections` whose component takes `shards`; none is an error.
core::PipelineSpec with_shards(const core::PipelineSpec& spec, const po::variables_map& vm,
                               const core::Registry& registry, const std::vector<std::string>& sections,
                               std::int64_t shards) {
  std::vector<core::Override> overrides;
  if (vm.count("set")) {
    for (const std::string& s : vm["set"].as<std::vector<std::string>>())
      overrides.push_back(core::parse_override(s));
  }
  const std::size_t set_by_hand = overrides.size();
  for (const std::string& section : sections) {
    // The draft is the local copy speculation asks first: never split.
    if (section == core::kDraftRetrieverSection) continue;
    const core::ComponentSpec* c = spec.find(section);
    if (!c) continue;
    const auto& params = c->entry->info.params;
    if (std::any_of(params.begin(), params.end(), [](const ParamSpec& p) { return p.name == "shards"; }))
      overrides.push_back(core::parse_override(section + ".shards=" + std::to_string(shards), "--shards"));
  }
  if (overrides.size() == set_by_hand)
    throw InputError("--shards: " + spec.file + " has no component here that is built in shards");
  return core::load_pipeline(vm["pipeline"].as<std::string>(), overrides, registry);
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
  options.add_options()("shards", po::value<std::int64_t>(),
                        "also write the index in K shards (SECTION.shards=K for each section built that "
                        "takes `shards`)");
  po::variables_map vm;
  const std::string usage = command + " build PIPELINE [--force] [--shards K] [--set SECTION.KEY=VALUE ...]";
  if (!parse_command(command, usage, args, options, positional, vm, hidden)) return 0;
  if (!vm.count("action") || vm["action"].as<std::string>() != "build") {
    throw InputError(command + ": expected `ralm " + usage + "`");
  }
  core::Registry registry;
  load_plugins(global, registry);
  core::PipelineSpec spec = load_pipeline_from_args(vm, registry);
  if (vm.count("shards")) spec = with_shards(spec, vm, registry, sections, vm["shards"].as<std::int64_t>());
  const IndexRequest request = vm.count("force") ? IndexRequest::Rebuild : IndexRequest::BuildMissing;
  // The sections whose component keeps something to build.
  core::IndexRequests requests;
  std::vector<const core::ComponentSpec*> building;
  std::string found;
  for (const std::string& section : sections) {
    const core::ComponentSpec* c = spec.find(section);
    if (!c) continue;
    found += (found.empty() ? "" : " or ") + section + " '" + c->plugin + "'";
    if (c->entry->info.traits.keeps.empty()) continue;
    requests[section] = request;
    building.push_back(c);
  }
  if (building.empty()) {
    std::string wanted;
    for (const std::string& section : sections)
      wanted += (wanted.empty() ? "" : " or ") + section;
    if (found.empty())
      throw InputError(spec.file + ": the pipeline has no " + wanted + " section; nothing to build");
    throw InputError(spec.file + ": " + found + " keeps nothing on disk that `ralm " + command +
                     " build` can build");
  }

  const auto start = std::chrono::steady_clock::now();
  const core::BuiltPipeline built = core::build_pipeline(spec, registry, requests);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const core::ComponentSpec* c : building) {
    std::cout << spec.file << ": the " << c->entry->info.traits.keeps << " of " << c->kind << " '"
              << c->plugin << "' is ready";
    if (c->kind == Retriever::kKind) std::cout << " (" << built.retriever->size() << " passages)";
    if (c->kind == core::kDraftRetrieverSection)
      std::cout << " (" << built.draft_retriever->size() << " passages)";
    std::cout << " (" << seconds << " s)\n";
  }
  return 0;
}

int run_index(const std::vector<std::string>& args, const GlobalOptions& global) {
  return build_indexes(args, global, "index", {"retriever", core::kDraftRetrieverSection, "policy"});
}

}  // namespace ralm::cli
