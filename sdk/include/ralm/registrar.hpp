// How a plugin tells the core what it provides.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ralm/component.hpp"
#include "ralm/params.hpp"

namespace ralm {

// Whether a model component reads the checkpoint at a path (a folder or a
// file): a cheap look at its files, never a load.
using CheckpointProbe = std::function<bool(const std::filesystem::path&)>;

// What a component declares about itself beyond its parameters.
struct ComponentTraits {
  // What it keeps on disk and builds from its corpus ("index", "datastore");
  // empty when nothing. `ralm index build` builds it, asking through
  // BuildContext::index_request().
  std::string keeps{};
  // For a model: whether it reads a checkpoint. `ralm model DIR` picks the
  // model component that claims DIR.
  CheckpointProbe reads_checkpoint{};
};

// The registry's record of one component implementation.
struct ComponentInfo {
  std::string kind;         // "model", "retriever", "policy", "scheduler" or "trainer"
  std::string name;         // what a pipeline writes after `plugin:`
  std::string description;  // one line
  ParamSpecs params;
  ComponentTraits traits;
  // Former names a pipeline may still write after `plugin:`: each use is
  // logged as deprecated and read as `name`.
  std::vector<std::string> aliases;
};

// A component's name and its former names, for Registrar::add:
//   ralm::ComponentName("dense").alias("faiss")
// A plain string converts to a name without aliases.
struct ComponentName {
  ComponentName(std::string current) : name(std::move(current)) {}
  ComponentName(const char* current) : name(current) {}
  ComponentName& alias(std::string former_name) {
    aliases.push_back(std::move(former_name));
    return *this;
  }

  std::string name;
  std::vector<std::string> aliases;
};

using ComponentFactory = std::function<std::unique_ptr<Component>(const Params&, BuildContext&)>;

// Handed to a plugin's registration function. A plugin adds each component it
// implements with its parameter documentation and a factory:
//
//   registrar.add<ralm::SpeculationScheduler>(
//       "fixed", "speculate a constant number of steps",
//       {ralm::param::integer("steps_per_round", 4, "steps per round").at_least(1)},
//       [](const ralm::Params& p, ralm::BuildContext&) {
//         return std::make_unique<FixedScheduler>(p.get_int("steps_per_round"));
//       });
class Registrar {
 public:
  virtual ~Registrar();

  template <class Interface, class Factory>
  void add(ComponentName name, std::string description, ParamSpecs params, Factory factory,
           ComponentTraits traits = {}) {
    static_assert(std::is_base_of_v<Component, Interface>,
                  "register one of the interfaces (model, retriever, policy, scheduler, trainer)");
    ComponentInfo info{Interface::kKind,  std::move(name.name), std::move(description),
                       std::move(params), std::move(traits),    std::move(name.aliases)};
    add_component(std::move(info),
                  [f = std::move(factory)](const Params& p, BuildContext& ctx) -> std::unique_ptr<Component> {
                    std::unique_ptr<Interface> made = f(p, ctx);
                    return made;
                  });
  }

  // The type-erased form of add(); duplicates are reported by the core.
  virtual void add_component(ComponentInfo info, ComponentFactory factory) = 0;
};

}  // namespace ralm
