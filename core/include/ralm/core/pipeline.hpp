// A pipeline file: loading (extends, --set overrides) and validation against
// the registry's parameter documentation.
//
//   extends: base.yaml          # optional; this file states only what differs
//   name: my-pipeline
//   model:     {plugin: NAME, ...}  # each section names a registered component
//   retriever: {plugin: NAME, ...}
//   policy:    {plugin: NAME, ...}
//   draft_retriever: {plugin: NAME, ...}  # optional: speculation's cheap second retriever
//   scheduler: {plugin: NAME, ...}  # optional: absent means no speculation
//   engine:    {stride: 4, ...}
//   task:      {kind: generate, prompts: prompts.jsonl}
//   compare:   {baseline: icralm-none}   # optional: `ralm compare`'s reference
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ralm/core/registry.hpp"
#include "ralm/params.hpp"
#include "ralm/value.hpp"

namespace ralm::core {

// One `--set section.key=value`.
struct Override {
  std::vector<std::string> path;  // {"retriever", "k"}
  Value value;
};

// Parses "retriever.k=5"; a malformed one is an InputError. `option` names
// where the text came from in errors (`ralm sweep` passes "--grid").
Override parse_override(const std::string& text, const std::string& option = "--set");

// The pipeline tree after following `extends:` and applying the overrides.
// Merging: maps merge key by key, the including file winning; a component
// section whose `plugin:` differs from the base's replaces it whole; a null
// value removes the key (`scheduler: null` turns speculation off). With a
// registry, each file's and each override's former component and parameter
// names become the current ones before merging (deprecated_names.hpp).
Value load_pipeline_tree(const std::filesystem::path& file, const std::vector<Override>& overrides = {},
                         const Registry* registry = nullptr);

// The section of a retriever that speculation asks for candidates
// (engine.draft), verified by the pipeline's `retriever:` as the cache is.
inline constexpr const char* kDraftRetrieverSection = "draft_retriever";

// Each component section as {kind of component, section name}, in build
// order: the draft retriever is a second retriever, built after the first.
const std::vector<std::pair<std::string, std::string>>& component_sections();

struct ComponentSpec {
  std::string kind;    // the section: "retriever", or "draft_retriever" for a second retriever
  std::string plugin;  // the registered name, the current one even where the file wrote a former one
  const RegistryEntry* entry = nullptr;
  Params params;  // validated, defaults filled in
  Location where;
};

struct PipelineSpec {
  std::string file;
  std::string name;  // `name:`, or the file's stem
  std::string description;
  std::vector<ComponentSpec> components;  // in build order: model, retriever, draft_retriever, policy, ...
  Params engine;
  std::string task_kind;  // empty: the pipeline has no task
  Params task;
  Params compare;  // `compare:` (compare.hpp), defaults filled in

  const ComponentSpec* find(const std::string& kind) const;
};

// Validates a loaded tree against the registry.
PipelineSpec validate_pipeline(const Value& tree, const std::string& file, const Registry& registry);

// load_pipeline_tree, then validate_pipeline.
PipelineSpec load_pipeline(const std::filesystem::path& file, const std::vector<Override>& overrides,
                           const Registry& registry);

}  // namespace ralm::core
