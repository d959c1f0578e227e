#include "ralm/core/param_validation.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <set>

#include "ralm/core/suggest.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"

namespace ralm::core {
namespace {

bool is_pseudo_source(const std::string& file) {
  return file == "default" || file.rfind("--set", 0) == 0;
}

std::string found(const Value& v) {
  std::string what = kind_name(v.kind());
  if (v.kind() == Value::Kind::Map || v.kind() == Value::Kind::List) return "a " + what;
  return "the " + what + " '" + v.str() + "'";
}

// The wanted kind of one scalar, or an error.
Value check_scalar(const Value& v, ParamType type, const std::string& key) {
  auto wrong = [&](const char* wanted) -> Value {
    throw InputError(v.where().str() + ": " + key + ": expected " + wanted + ", found " + found(v));
  };
  switch (type) {
    case ParamType::Bool:
      if (v.kind() != Value::Kind::Bool) return wrong("true or false");
      return v;
    case ParamType::Int:
    case ParamType::IntList:
      if (v.kind() != Value::Kind::Int) return wrong("an integer");
      return v;
    case ParamType::Float:
    case ParamType::FloatList:
      if (v.kind() == Value::Kind::Int) return Value::real(static_cast<double>(v.as_int()), v.where());
      if (v.kind() != Value::Kind::Float) return wrong("a number");
      return v;
    case ParamType::String:
    case ParamType::StringList:
    case ParamType::Path:
      // A plain word that YAML read as a number or boolean is still a fine
      // string (`name: 2024`), so scalars are accepted as their text.
      if (v.kind() == Value::Kind::List || v.kind() == Value::Kind::Map || v.kind() == Value::Kind::Null) {
        return wrong("a string");
      }
      return Value::string(v.str(), v.where());
  }
  return v;
}

void check_limits(const Value& v, const ParamSpec& spec, const std::string& key) {
  if (v.kind() == Value::Kind::Int || v.kind() == Value::Kind::Float) {
    const double x = v.as_float();
    if ((spec.min && !(x >= *spec.min)) || (spec.max && !(x <= *spec.max))) {
      throw InputError(v.where().str() + ": " + key + ": " + v.str() + " is out of range; " +
                       describe_constraints(spec));
    }
  }
  if (v.kind() == Value::Kind::String && !spec.choices.empty() &&
      std::find(spec.choices.begin(), spec.choices.end(), v.as_string()) == spec.choices.end()) {
    throw InputError(v.where().str() + ": " + key + ": '" + v.as_string() + "' is not one of " +
                     join_names(spec.choices) + did_you_mean(v.as_string(), spec.choices));
  }
}

Value resolve_path(const Value& v) {
  std::filesystem::path p = v.as_string();
  if (p.empty() || p.is_absolute() || is_pseudo_source(v.where().file)) return v;
  const std::filesystem::path base = std::filesystem::path(v.where().file).parent_path();
  return Value::string((base / p).lexically_normal().string(), v.where());
}

Value check_value(const Value& v, const ParamSpec& spec, const std::string& key) {
  const bool is_list = spec.type == ParamType::IntList || spec.type == ParamType::FloatList ||
                       spec.type == ParamType::StringList;
  if (is_list) {
    if (v.kind() != Value::Kind::List) {
      throw InputError(v.where().str() + ": " + key + ": expected a list (" + param_type_name(spec.type) +
                       "), found " + found(v) + "; write [a, b, ...]");
    }
    Value::List items;
    for (const Value& item : v.as_list()) {
      Value checked = check_scalar(item, spec.type, key);
      check_limits(checked, spec, key);
      items.push_back(std::move(checked));
    }
    return Value::list(std::move(items), v.where());
  }
  Value checked = check_scalar(v, spec.type, key);
  check_limits(checked, spec, key);
  if (spec.type == ParamType::Path) checked = resolve_path(checked);
  return checked;
}

// The spec a key names, by its name or a former one.
const ParamSpec* spec_named(const ParamSpecs& specs, const std::string& key) {
  for (const ParamSpec& s : specs) {
    if (s.name == key || std::find(s.aliases.begin(), s.aliases.end(), key) != s.aliases.end()) return &s;
  }
  return nullptr;
}

// " (did you mean 'x'?)" over names and former names alike, always naming
// the current one: a misspelt former name leads to the name to write.
std::string did_you_mean_param(const std::string& key, const ParamSpecs& specs) {
  std::vector<std::string> candidates;
  for (const ParamSpec& s : specs) {
    candidates.push_back(s.name);
    candidates.insert(candidates.end(), s.aliases.begin(), s.aliases.end());
  }
  const std::string best = closest_match(key, candidates);
  if (best.empty()) return "";
  return " (did you mean '" + spec_named(specs, best)->name + "'?)";
}

}  // namespace

void warn_deprecated(const Location& where, const std::string& what, const std::string& current) {
  // A pipeline loaded twice by one command (`ralm index build`), or a base
  // that several compared pipelines extend, warns once.
  static std::mutex mutex;
  static std::set<std::string> logged;
  const std::string line = where.str() + ": " + what + " is deprecated: write " + current;
  {
    std::lock_guard lock(mutex);
    if (!logged.insert(line).second) return;
  }
  log_warn(line);
}

void use_current_param_names(Value& section, const ParamSpecs& specs, const std::string& section_name) {
  if (section.kind() != Value::Kind::Map) return;
  for (auto& [key, v] : section.as_map()) {
    const ParamSpec* spec = spec_named(specs, key);
    if (!spec || spec->name == key) continue;
    if (section.find(spec->name)) {
      throw InputError(v.where().str() + ": " + section_name + ": both '" + key + "' and '" + spec->name +
                       "' are given, and '" + key + "' is the former name of '" + spec->name +
                       "'; keep only " + spec->name);
    }
    warn_deprecated(v.where(), section_name + "." + key, spec->name);
    key = spec->name;
  }
}

std::string describe_constraints(const ParamSpec& spec) {
  std::string out;
  auto num = [](double x) {
    Value v = (x == std::floor(x) && std::abs(x) < 1e15) ? Value::integer(static_cast<std::int64_t>(x))
                                                         : Value::real(x);
    return v.str();
  };
  if (spec.min && spec.max) {
    out = "between " + num(*spec.min) + " and " + num(*spec.max);
  } else if (spec.min) {
    out = "at least " + num(*spec.min);
  } else if (spec.max) {
    out = "at most " + num(*spec.max);
  }
  if (!spec.choices.empty()) out = "one of " + join_names(spec.choices);
  return out;
}

Value validate_params(const Value& given, const ParamSpecs& specs, const std::string& section,
                      const std::string& owner, const std::vector<std::string>& reserved) {
  if (given.kind() != Value::Kind::Map) {
    throw InputError(given.where().str() + ": " + section + ": expected a map of parameters, found " +
                     found(given));
  }
  std::vector<std::string> known;
  for (const ParamSpec& s : specs)
    known.push_back(s.name);

  Value current = given;
  use_current_param_names(current, specs, section);
  for (const auto& [key, v] : current.as_map()) {
    if (std::find(reserved.begin(), reserved.end(), key) != reserved.end()) continue;
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      throw InputError(v.where().str() + ": " + section + ": unknown key '" + key + "' for " + owner +
                       did_you_mean_param(key, specs) + "; its keys are: " + join_names(known) +
                       " (`ralm plugins show` documents them)");
    }
  }

  Value out = Value::map({}, given.where());
  for (const ParamSpec& spec : specs) {
    const std::string key = section + "." + spec.name;
    if (const Value* v = current.find(spec.name)) {
      out.set(spec.name, check_value(*v, spec, key));
    } else if (spec.default_value) {
      out.set(spec.name, *spec.default_value);
    } else {
      throw InputError(given.where().str() + ": " + section + ": missing required key '" + spec.name + "' (" +
                       param_type_name(spec.type) + ": " + spec.help + ") for " + owner + "; add `" +
                       spec.name + ": ...`");
    }
  }
  return out;
}

}  // namespace ralm::core
