// `ralm index build PIPELINE [--force]`: builds the index of the pipeline's
// retriever and of its draft retriever, and the datastore of its policy (kNN-LM), ahead of a run, so the
// first request does not pay for it. `ralm datastore build` is the same for
// the policy alone (cmd_datastore.cpp).
//
// A component that keeps something on disk says what (ComponentTraits::keeps)
// when it registers; this command builds the pipeline asking those components
// to build it (BuildContext::index_request()).
#include <chrono>
#include <iostream>
#include <utility>

#include "command.hpp"
#include "pipeline_args.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {

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
  const core::PipelineSpec spec = load_pipeline_from_args(vm, registry);
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
