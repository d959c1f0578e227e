// How a plugin tells the core what it provides.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "ralm/component.hpp"
#include "ralm/params.hpp"

namespace ralm {

// The registry's record of one component implementation.
struct ComponentInfo {
  std::string kind;         // "model", "retriever", "policy", "scheduler" or "trainer"
  std::string name;         // what a pipeline writes after `plugin:`
  std::string description;  // one line
  ParamSpecs params;
};

using ComponentFactory = std::function<std::unique_ptr<Component>(const Params&, BuildContext&)>;

// Handed to a plugin's registration function. A plugin adds each component it
// implements with its parameter documentation and a factory:
//
//   registrar.add<ralm::SpeculationScheduler>(
//       "fixed", "speculate a constant number of steps",
//       {ralm::param::integer("stride", 4, "steps per round").at_least(1)},
//       [](const ralm::Params& p, ralm::BuildContext&) {
//         return std::make_unique<FixedScheduler>(p.get_int("stride"));
//       });
class Registrar {
 public:
  virtual ~Registrar();

  template <class Interface, class Factory>
  void add(std::string name, std::string description, ParamSpecs params, Factory factory) {
    static_assert(std::is_base_of_v<Component, Interface>, "register one of the interfaces (model, retriever, policy, scheduler, trainer)");
    ComponentInfo info{Interface::kKind, std::move(name), std::move(description), std::move(params)};
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
