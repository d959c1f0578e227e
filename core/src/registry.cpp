#include "ralm/core/registry.hpp"

#include <algorithm>

#include "ralm/context_policy.hpp"
#include "ralm/error.hpp"
#include "ralm/model.hpp"
#include "ralm/retriever.hpp"
#include "ralm/speculation_scheduler.hpp"
#include "ralm/trainer.hpp"

namespace ralm::core {

const std::vector<std::string>& component_kinds() {
  static const std::vector<std::string> kinds = {Model::kKind, Retriever::kKind, ContextPolicy::kKind,
                                                 SpeculationScheduler::kKind, Trainer::kKind};
  return kinds;
}

namespace {
std::size_t kind_rank(const std::string& kind) {
  const auto& kinds = component_kinds();
  return static_cast<std::size_t>(std::find(kinds.begin(), kinds.end(), kind) - kinds.begin());
}

std::string describe(const PluginRecord* plugin) {
  if (!plugin) return "the core";
  return "plugin '" + plugin->name + "' (" + plugin->file + ")";
}

// A parameter name or former name that two parameters share would make a
// pipeline key ambiguous.
void check_param_names(const RegistryEntry& entry) {
  std::vector<std::string> seen;
  for (const ParamSpec& spec : entry.info.params) {
    std::vector<std::string> names = {spec.name};
    names.insert(names.end(), spec.aliases.begin(), spec.aliases.end());
    for (const std::string& name : names) {
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
        throw InputError(describe(entry.plugin.get()) + " registers " + entry.info.kind + " '" +
                         entry.info.name + "' with two parameters named '" + name +
                         "' (names and former names together); rename one");
      }
      seen.push_back(name);
    }
  }
}
}  // namespace

void Registry::add(RegistryEntry entry) {
  if (kind_rank(entry.info.kind) == component_kinds().size()) {
    throw InputError(describe(entry.plugin.get()) + " registers '" + entry.info.name + "' of unknown kind '" +
                     entry.info.kind + "'; the kinds are model, retriever, policy, scheduler and trainer");
  }
  std::vector<std::string> names = {entry.info.name};
  names.insert(names.end(), entry.info.aliases.begin(), entry.info.aliases.end());
  for (const std::string& name : names) {
    const RegistryEntry* existing = find(entry.info.kind, name);
    if (!existing) continue;
    throw InputError(
        describe(entry.plugin.get()) + " registers " + entry.info.kind + " '" + name + "', which " +
        describe(existing->plugin.get()) + " already registered" +
        (existing->info.name == name ? "" : " as a former name of '" + existing->info.name + "'") +
        "; remove one of the two libraries from the plugin path or rename the component");
  }
  check_param_names(entry);
  entries_.push_back(std::move(entry));
}

void Registry::add_all(std::vector<RegistryEntry> entries) {
  const std::size_t before = entries_.size();
  try {
    for (RegistryEntry& e : entries)
      add(std::move(e));
  } catch (...) {
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(before), entries_.end());
    throw;
  }
}

const RegistryEntry* Registry::find(const std::string& kind, const std::string& name) const {
  for (const RegistryEntry& e : entries_) {
    if (e.info.kind != kind) continue;
    if (e.info.name == name ||
        std::find(e.info.aliases.begin(), e.info.aliases.end(), name) != e.info.aliases.end()) {
      return &e;
    }
  }
  return nullptr;
}

std::vector<const RegistryEntry*> Registry::entries() const {
  std::vector<const RegistryEntry*> out;
  for (const RegistryEntry& e : entries_)
    out.push_back(&e);
  std::sort(out.begin(), out.end(), [](const RegistryEntry* a, const RegistryEntry* b) {
    const auto ka = kind_rank(a->info.kind), kb = kind_rank(b->info.kind);
    return ka != kb ? ka < kb : a->info.name < b->info.name;
  });
  return out;
}

std::vector<std::string> Registry::names(const std::string& kind) const {
  std::vector<std::string> out;
  for (const RegistryEntry& e : entries_) {
    if (e.info.kind == kind) out.push_back(e.info.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::shared_ptr<Component> Registry::create(const RegistryEntry& entry, const Params& params,
                                            BuildContext& ctx) const {
  std::unique_ptr<Component> made = entry.factory(params, ctx);
  if (!made) {
    throw Error(describe(entry.plugin.get()) + ": the factory of " + entry.info.kind + " '" +
                entry.info.name + "' returned nothing");
  }
  // The deleter owns a reference to the library: the object's destructor is
  // code in that library, so the library must outlive the object.
  std::shared_ptr<const PluginRecord> keep_alive = entry.plugin;
  return std::shared_ptr<Component>(made.release(), [keep_alive](Component* component) { delete component; });
}

void Registry::throw_wrong_interface(const RegistryEntry& entry, const char* kind) {
  throw Error(describe(entry.plugin.get()) + ": " + entry.info.kind + " '" + entry.info.name +
              "' made an object that is not a " + kind);
}

}  // namespace ralm::core
