#include "ralm/core/pipeline.hpp"

#include <algorithm>

#include "ralm/core/compare.hpp"
#include "ralm/core/deprecated_names.hpp"
#include "ralm/core/engine_params.hpp"
#include "ralm/core/param_validation.hpp"
#include "ralm/core/suggest.hpp"
#include "ralm/core/task_params.hpp"
#include "ralm/core/yaml_reader.hpp"
#include "ralm/error.hpp"
#include "ralm/retriever.hpp"
#include "ralm/speculation_scheduler.hpp"

namespace ralm::core {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string>& top_level_keys() {
  static const std::vector<std::string> keys = {
      "extends", "name",      "description", "model",  "retriever", kDraftRetrieverSection,
      "policy",  "scheduler", "trainer",     "engine", "task",      "compare"};
  return keys;
}

const Value* plugin_of(const Value& section) {
  return section.kind() == Value::Kind::Map ? section.find("plugin") : nullptr;
}

bool same_plugin(const Value& a, const Value& b) {
  const Value* pa = plugin_of(a);
  const Value* pb = plugin_of(b);
  if (!pa || !pb) return true;  // a section that names no plugin refines the base's
  return pa->str() == pb->str();
}

// `child` over `base`; see load_pipeline_tree for the rules.
void merge_into(Value& base, const Value& child, bool top_level) {
  for (const auto& [key, v] : child.as_map()) {
    Value* existing = base.find(key);
    if (v.kind() == Value::Kind::Null) {
      base.erase(key);
    } else if (existing && existing->kind() == Value::Kind::Map && v.kind() == Value::Kind::Map &&
               (!top_level || same_plugin(*existing, v))) {
      merge_into(*existing, v, false);
    } else {
      base.set(key, v);
    }
  }
}

Value load_with_extends(const fs::path& file, std::vector<fs::path>& chain, const Location& included_at,
                        const Registry* registry) {
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(file, ec);
  const fs::path id = ec ? file : canonical;
  if (std::find(chain.begin(), chain.end(), id) != chain.end()) {
    std::string cycle;
    bool in_cycle = false;
    for (const fs::path& p : chain) {
      in_cycle = in_cycle || p == id;
      if (in_cycle) cycle += p.filename().string() + " -> ";
    }
    cycle += id.filename().string();
    throw InputError(included_at.str() + ": extends cycle: " + cycle + "; remove one of the `extends:` keys");
  }
  if (!fs::exists(file, ec) && included_at.line > 0) {
    throw InputError(included_at.str() + ": extends: no such file " + file.string() +
                     " (relative to the including file's folder); fix the path");
  }
  Value tree = read_yaml_file(file);
  if (tree.kind() != Value::Kind::Map) {
    throw InputError(tree.where().str() +
                     ": a pipeline must be a map of sections (model:, retriever:, ...), " + "found a " +
                     kind_name(tree.kind()));
  }
  const Value* extends = tree.find("extends");
  if (!extends) {
    if (registry) use_current_names(tree, Value::map({}), *registry);
    return tree;
  }
  if (extends->kind() != Value::Kind::String) {
    throw InputError(extends->where().str() + ": extends: expected the path of a base pipeline, found a " +
                     kind_name(extends->kind()));
  }
  chain.push_back(id);
  const fs::path base_file = file.parent_path() / extends->as_string();
  Value merged = load_with_extends(base_file, chain, extends->where(), registry);
  chain.pop_back();
  merged.erase("extends");
  // A pipeline is named and described by its own file, not its base's.
  merged.erase("name");
  merged.erase("description");
  Value child = tree;
  child.erase("extends");
  if (registry) use_current_names(child, merged, *registry);
  merge_into(merged, child, true);
  return merged;
}

// `key: null` means "not given", in a base, a child or a --set alike.
void drop_nulls(Value& map) {
  auto& entries = map.as_map();
  for (auto it = entries.begin(); it != entries.end();) {
    if (it->second.kind() == Value::Kind::Null) {
      it = entries.erase(it);
      continue;
    }
    if (it->second.kind() == Value::Kind::Map) drop_nulls(it->second);
    ++it;
  }
}

void apply_override(Value& tree, const Override& o) {
  Value* node = &tree;
  for (std::size_t i = 0; i + 1 < o.path.size(); ++i) {
    Value* next = node->find(o.path[i]);
    if (!next || next->kind() != Value::Kind::Map) {
      node->set(o.path[i], Value::map({}, o.value.where()));
      next = node->find(o.path[i]);
    }
    node = next;
  }
  const std::string& last = o.path.back();
  if (o.value.kind() == Value::Kind::Null) {
    node->erase(last);
    return;
  }
  // A --set that changes a component's plugin drops the old plugin's keys.
  if (o.path.size() == 2 && last == "plugin") {
    if (const Value* old = node->find("plugin"); old && old->str() != o.value.str()) {
      *node = Value::map({}, o.value.where());
    }
  }
  node->set(last, o.value);
}

std::string string_field(const Value& tree, const std::string& key) {
  const Value* v = tree.find(key);
  if (!v) return "";
  if (v->kind() == Value::Kind::Map || v->kind() == Value::Kind::List || v->kind() == Value::Kind::Null) {
    throw InputError(v->where().str() + ": " + key + ": expected a string, found a " + kind_name(v->kind()));
  }
  return v->str();
}

// engine.draft needs what it speculates with and what it speculates for;
// the draft's passage store is checked once both retrievers are built
// (pipeline_builder.cpp).
void check_draft(const PipelineSpec& spec) {
  const std::string mode = spec.engine.get_string("draft");
  if (mode == "off") return;
  if (!spec.find(kDraftRetrieverSection)) {
    spec.engine.fail("draft", mode +
                                  " needs a `draft_retriever:` section (a cheap retriever over the "
                                  "retriever's passage store); add one, or set draft: off");
  }
  if (!spec.find(SpeculationScheduler::kKind)) {
    spec.engine.fail("draft", mode +
                                  " drafts passages for speculation, and the pipeline has no `scheduler:` "
                                  "section; add one, or set draft: off");
  }
}

}  // namespace

Override parse_override(const std::string& text, const std::string& option) {
  const std::string where = option + " " + text;
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw InputError(where + ": expected SECTION.KEY=VALUE, e.g. " + option + " retriever.k=5");
  }
  Override o;
  const std::string key = text.substr(0, eq);
  std::size_t start = 0;
  while (true) {
    const auto dot = key.find('.', start);
    o.path.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (o.path.back().empty()) {
      throw InputError(where + ": empty part in the key '" + key + "'; write SECTION.KEY=VALUE");
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  o.value = parse_yaml_value(text.substr(eq + 1), Location{where, 0, 0});
  return o;
}

Value load_pipeline_tree(const fs::path& file, const std::vector<Override>& overrides,
                         const Registry* registry) {
  std::vector<fs::path> chain;
  Value tree = load_with_extends(file, chain, Location{file.string(), 0, 0}, registry);
  tree.erase("extends");
  for (const Override& o : overrides)
    apply_override(tree, registry ? use_current_names(o, tree, *registry) : o);
  drop_nulls(tree);
  return tree;
}

const std::vector<std::pair<std::string, std::string>>& component_sections() {
  static const std::vector<std::pair<std::string, std::string>> sections = [] {
    std::vector<std::pair<std::string, std::string>> all;
    for (const std::string& kind : component_kinds()) {
      all.emplace_back(kind, kind);
      if (kind == Retriever::kKind) all.emplace_back(kind, kDraftRetrieverSection);
    }
    return all;
  }();
  return sections;
}

const ComponentSpec* PipelineSpec::find(const std::string& kind) const {
  for (const ComponentSpec& c : components) {
    if (c.kind == kind) return &c;
  }
  return nullptr;
}

PipelineSpec validate_pipeline(const Value& tree, const std::string& file, const Registry& registry) {
  for (const auto& [key, v] : tree.as_map()) {
    const auto& keys = top_level_keys();
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      throw InputError(v.where().str() + ": unknown top-level key '" + key + "'" + did_you_mean(key, keys) +
                       "; the keys are: " + join_names(keys));
    }
  }

  PipelineSpec spec;
  spec.file = file;
  spec.name = string_field(tree, "name");
  if (spec.name.empty()) spec.name = fs::path(file).stem().string();
  spec.description = string_field(tree, "description");

  for (const auto& [kind, section_name] : component_sections()) {
    const Value* section = tree.find(section_name);
    if (!section) continue;
    if (section->kind() != Value::Kind::Map) {
      throw InputError(section->where().str() + ": " + section_name +
                       ": expected a map with a `plugin:` key, found a " + kind_name(section->kind()));
    }
    const std::vector<std::string> available = registry.names(kind);
    const Value* plugin = section->find("plugin");
    if (!plugin) {
      throw InputError(section->where().str() + ": " + section_name + ": missing `plugin:`; the " + kind +
                       " plugins are: " + join_names(available, "none (check --plugin-path)"));
    }
    const std::string name = plugin->str();
    const RegistryEntry* entry = find_component(registry, kind, *plugin);
    if (!entry) {
      throw InputError(plugin->where().str() + ": " + section_name + ".plugin: unknown " + kind +
                       " plugin '" + name + "'" + did_you_mean(name, available) +
                       "; available: " + join_names(available, "none (check --plugin-path)"));
    }
    ComponentSpec c;
    c.kind = section_name;
    c.plugin = entry->info.name;
    c.entry = entry;
    c.where = section->where();
    c.params = Params(section_name, validate_params(*section, entry->info.params, section_name,
                                                    kind + " plugin '" + c.plugin + "'", {"plugin"}));
    spec.components.push_back(std::move(c));
  }

  const Value empty = Value::map({}, Location{file, 0, 0});
  const Value* engine = tree.find("engine");
  spec.engine = Params(
      "engine", validate_params(engine ? *engine : empty, engine_param_specs(), "engine", "the engine"));
  check_draft(spec);
  const Value* compare = tree.find("compare");
  spec.compare = Params("compare", validate_params(compare ? *compare : empty, compare_param_specs(),
                                                   "compare", "`ralm compare`"));
  if (const Value* task = tree.find("task")) {
    if (task->kind() != Value::Kind::Map) {
      throw InputError(task->where().str() + ": task: expected a map with a `kind:` key, found a " +
                       kind_name(task->kind()));
    }
    const Value* kind = task->find("kind");
    if (!kind) {
      throw InputError(task->where().str() +
                       ": task: missing `kind:`; the tasks are: " + join_names(task_kinds()));
    }
    const ParamSpecs* specs = task_param_specs(kind->str());
    if (!specs) {
      throw InputError(kind->where().str() + ": task.kind: unknown task '" + kind->str() + "'" +
                       did_you_mean(kind->str(), task_kinds()) +
                       "; the tasks are: " + join_names(task_kinds()));
    }
    spec.task_kind = kind->str();
    spec.task =
        Params("task", validate_params(*task, *specs, "task", "task '" + spec.task_kind + "'", {"kind"}));
  }
  return spec;
}

PipelineSpec load_pipeline(const fs::path& file, const std::vector<Override>& overrides,
                           const Registry& registry) {
  return validate_pipeline(load_pipeline_tree(file, overrides, &registry), file.string(), registry);
}

}  // namespace ralm::core
