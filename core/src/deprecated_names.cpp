#include "ralm/core/deprecated_names.hpp"

#include "ralm/core/compare.hpp"
#include "ralm/core/engine_params.hpp"
#include "ralm/core/param_validation.hpp"
#include "ralm/core/pipeline.hpp"
#include "ralm/core/task_params.hpp"

namespace ralm::core {
namespace {

// tree.section.key, or nullptr.
const Value* section_key(const Value& tree, const std::string& section, const std::string& key) {
  const Value* s = tree.kind() == Value::Kind::Map ? tree.find(section) : nullptr;
  return s && s->kind() == Value::Kind::Map ? s->find(key) : nullptr;
}

}  // namespace

const RegistryEntry* find_component(const Registry& registry, const std::string& kind, const Value& plugin) {
  const RegistryEntry* entry = registry.find(kind, plugin.str());
  if (entry && entry->info.name != plugin.str()) {
    warn_deprecated(plugin.where(), kind + " plugin '" + plugin.str() + "'", "'" + entry->info.name + "'");
  }
  return entry;
}

void use_current_names(Value& tree, const Value& base, const Registry& registry) {
  if (tree.kind() != Value::Kind::Map) return;
  for (const auto& [kind, name] : component_sections()) {
    Value* section = tree.find(name);
    if (!section || section->kind() != Value::Kind::Map) continue;
    Value* own = section->find("plugin");
    const Value* plugin = own ? own : section_key(base, name, "plugin");
    const RegistryEntry* entry = plugin ? find_component(registry, kind, *plugin) : nullptr;
    if (!entry) continue;  // validation reports a missing or unknown plugin
    if (own) *own = Value::string(entry->info.name, own->where());
    use_current_param_names(*section, entry->info.params, name);
  }
  if (Value* engine = tree.find("engine")) use_current_param_names(*engine, engine_param_specs(), "engine");
  if (Value* compare = tree.find("compare"))
    use_current_param_names(*compare, compare_param_specs(), "compare");
  if (Value* task = tree.find("task"); task && task->kind() == Value::Kind::Map) {
    const Value* kind = task->find("kind");
    if (!kind) kind = section_key(base, "task", "kind");
    if (const ParamSpecs* specs = kind ? task_param_specs(kind->str()) : nullptr) {
      use_current_param_names(*task, *specs, "task");
    }
  }
}

Override use_current_names(Override o, const Value& tree, const Registry& registry) {
  if (o.path.empty() || o.path.size() > 2) return o;
  // The --set as the one-key tree it stands for.
  const Location where = o.value.where();
  Value section = o.path.size() == 1 ? o.value : Value::map({{o.path[1], o.value}}, where);
  Value one = Value::map({{o.path[0], std::move(section)}}, where);
  use_current_names(one, tree, registry);
  const Value& renamed = *one.find(o.path[0]);
  if (o.path.size() == 1) {
    o.value = renamed;
  } else {
    o.path[1] = renamed.as_map().front().first;
    o.value = renamed.as_map().front().second;
  }
  return o;
}

}  // namespace ralm::core
