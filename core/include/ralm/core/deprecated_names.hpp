// Former component and parameter names (ComponentInfo::aliases,
// ParamSpec::aliases) read as the current ones.
//
// Each pipeline file, and each --set, has its former names replaced before it
// is merged over its base: a file that writes a parameter's current name then
// overrides its base's former one (and the other way round) instead of the two
// meeting in one section, and `plugin: OLD` over a base's `plugin: NEW`
// refines the base's section instead of replacing it.
#pragma once

#include <string>

#include "ralm/core/pipeline.hpp"
#include "ralm/core/registry.hpp"
#include "ralm/value.hpp"

namespace ralm::core {

// The component `plugin` names, by its name or a former one; a former one is
// logged as deprecated. nullptr when none is registered.
const RegistryEntry* find_component(const Registry& registry, const std::string& kind, const Value& plugin);

// Replaces former names in `tree`, one file's top-level map: each component
// section's `plugin:`, and the keys of every section whose parameters are
// known (components, engine, task, compare). A section without `plugin:` (or
// task without `kind:`) refines the same section of `base`, the tree the file
// is merged over (an empty map when there is none), and takes its
// parameters from there. Each replacement logs one deprecation line.
void use_current_names(Value& tree, const Value& base, const Registry& registry);

// The same for one `--set` applied over `tree`.
Override use_current_names(Override o, const Value& tree, const Registry& registry);

}  // namespace ralm::core
