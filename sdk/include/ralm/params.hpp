// Documented parameters: what a component declares it accepts, and the view of
// the values a pipeline gave it.
//
// A plugin documents each parameter (name, type, default, help, limits). The
// core validates a pipeline section against that documentation before the
// plugin's factory runs, fills in defaults, and hands the factory a Params it
// owns. The factory therefore reads values without re-checking types; it calls
// Params::fail() for constraints only it can judge, and the error still names
// the place in the YAML file the value came from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ralm/value.hpp"

namespace ralm {

enum class ParamType {
  Bool,
  Int,
  Float,
  String,
  Path,  // a string, resolved relative to the pipeline file that wrote it
  IntList,
  FloatList,
  StringList,
};

const char* param_type_name(ParamType type);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::String;
  std::string help;
  std::optional<Value> default_value;  // absent: the parameter is required
  std::optional<double> min;           // for Int, Float and their lists
  std::optional<double> max;
  std::vector<std::string> choices;  // for String: the allowed values
  // Former names a pipeline may still write: each use is logged as deprecated
  // and read as `name`, so that renaming a parameter breaks no pipeline.
  std::vector<std::string> aliases;

  bool required() const { return !default_value.has_value(); }

  // Builders, so a parameter list reads as a table:
  //   ralm::param::integer("stride", 4, "tokens between retrievals").at_least(1)
  ParamSpec& at_least(double v) {
    min = v;
    return *this;
  }
  ParamSpec& at_most(double v) {
    max = v;
    return *this;
  }
  ParamSpec& between(double lo, double hi) {
    min = lo;
    max = hi;
    return *this;
  }
  ParamSpec& one_of(std::vector<std::string> allowed) {
    choices = std::move(allowed);
    return *this;
  }
  //   ralm::param::integer("steps_per_round", 4, "...").alias("stride")
  ParamSpec& alias(std::string former_name) {
    aliases.push_back(std::move(former_name));
    return *this;
  }
};

namespace param {
ParamSpec boolean(std::string name, bool def, std::string help);
ParamSpec integer(std::string name, std::int64_t def, std::string help);
ParamSpec real(std::string name, double def, std::string help);
ParamSpec string(std::string name, std::string def, std::string help);
ParamSpec path(std::string name, std::string def, std::string help);
ParamSpec int_list(std::string name, std::vector<std::int64_t> def, std::string help);
ParamSpec float_list(std::string name, std::vector<double> def, std::string help);
ParamSpec string_list(std::string name, std::vector<std::string> def, std::string help);
// A parameter with no default: the pipeline must give it.
ParamSpec required(std::string name, ParamType type, std::string help);
}  // namespace param

using ParamSpecs = std::vector<ParamSpec>;

// The validated values of one pipeline section, defaults filled in.
class Params {
 public:
  Params() = default;
  // `section` names the pipeline section ("retriever"), for messages;
  // `values` is a validated map from parameter name to value.
  Params(std::string section, Value values);

  const std::string& section() const { return section_; }
  bool has(const std::string& key) const;

  bool get_bool(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::filesystem::path get_path(const std::string& key) const;
  std::vector<std::int64_t> get_int_list(const std::string& key) const;
  std::vector<double> get_float_list(const std::string& key) const;
  std::vector<std::string> get_string_list(const std::string& key) const;

  // The raw value with its location; throws if the key is absent.
  const Value& value(const std::string& key) const;
  const Value& values() const { return values_; }

  // Throws an InputError "<where>: <section>.<key>: <message>", where <where>
  // is the file:line:column at which the pipeline gave the value.
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

 private:
  std::string section_;
  Value values_ = Value::map({});
};

}  // namespace ralm
