// The registry of component implementations, keyed by (kind, name).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ralm/registrar.hpp"

namespace ralm::core {

class LoadedLibrary;

// A plugin library that registered components.
struct PluginRecord {
  std::string name;
  std::string version;
  std::string description;
  std::string file;  // where it was loaded from
  // Keeps the library mapped while anything made from it is alive.
  std::shared_ptr<LoadedLibrary> library;
};

struct RegistryEntry {
  // Declared before `factory` so that the factory's code is destroyed before
  // the library holding it can be unloaded.
  std::shared_ptr<const PluginRecord> plugin;
  ComponentInfo info;
  ComponentFactory factory;
};

// The component kinds, in the order a pipeline is built (a trainer last, so
// that it can use the model and retriever built before it).
const std::vector<std::string>& component_kinds();

class Registry {
 public:
  // Throws InputError if (kind, name) or (kind, a former name) is taken,
  // naming both plugins, or if two of its parameters share a name.
  void add(RegistryEntry entry);
  // All or nothing: a clash anywhere (with the registry or within `entries`)
  // throws and leaves the registry as it was.
  void add_all(std::vector<RegistryEntry> entries);

  // By name or former name (ComponentInfo::aliases): a caller that cares
  // compares the entry's name with the one it asked for.
  const RegistryEntry* find(const std::string& kind, const std::string& name) const;
  // Entries sorted by kind (in build order), then name.
  std::vector<const RegistryEntry*> entries() const;
  // Current names only.
  std::vector<std::string> names(const std::string& kind) const;
  const std::vector<std::shared_ptr<const PluginRecord>>& plugins() const { return plugins_; }
  void add_plugin(std::shared_ptr<const PluginRecord> plugin) { plugins_.push_back(std::move(plugin)); }

  // Runs the entry's factory. The object it returns keeps the entry's plugin
  // library loaded for as long as it lives, even after this registry is gone.
  std::shared_ptr<Component> create(const RegistryEntry& entry, const Params& params,
                                    BuildContext& ctx) const;

  template <class Interface>
  std::shared_ptr<Interface> create(const RegistryEntry& entry, const Params& params,
                                    BuildContext& ctx) const {
    std::shared_ptr<Component> made = create(entry, params, ctx);
    auto typed = std::dynamic_pointer_cast<Interface>(made);
    if (!typed) throw_wrong_interface(entry, Interface::kKind);
    return typed;
  }

 private:
  [[noreturn]] static void throw_wrong_interface(const RegistryEntry& entry, const char* kind);

  std::vector<RegistryEntry> entries_;
  std::vector<std::shared_ptr<const PluginRecord>> plugins_;
};

}  // namespace ralm::core
