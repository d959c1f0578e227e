#include "ralm/params.hpp"

#include "ralm/error.hpp"

namespace ralm {

const char* param_type_name(ParamType type) {
  switch (type) {
    case ParamType::Bool:
      return "bool";
    case ParamType::Int:
      return "int";
    case ParamType::Float:
      return "float";
    case ParamType::String:
      return "string";
    case ParamType::Path:
      return "path";
    case ParamType::IntList:
      return "int list";
    case ParamType::FloatList:
      return "float list";
    case ParamType::StringList:
      return "string list";
  }
  return "?";
}

namespace param {
namespace {
const Location kDefault{"default", 0, 0};

ParamSpec make(std::string name, ParamType type, Value def, std::string help) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = type;
  spec.help = std::move(help);
  spec.default_value = std::move(def);
  return spec;
}
}  // namespace

ParamSpec boolean(std::string name, bool def, std::string help) {
  return make(std::move(name), ParamType::Bool, Value::boolean(def, kDefault), std::move(help));
}
ParamSpec integer(std::string name, std::int64_t def, std::string help) {
  return make(std::move(name), ParamType::Int, Value::integer(def, kDefault), std::move(help));
}
ParamSpec real(std::string name, double def, std::string help) {
  return make(std::move(name), ParamType::Float, Value::real(def, kDefault), std::move(help));
}
ParamSpec string(std::string name, std::string def, std::string help) {
  return make(std::move(name), ParamType::String, Value::string(std::move(def), kDefault), std::move(help));
}
ParamSpec path(std::string name, std::string def, std::string help) {
  return make(std::move(name), ParamType::Path, Value::string(std::move(def), kDefault), std::move(help));
}
ParamSpec int_list(std::string name, std::vector<std::int64_t> def, std::string help) {
  Value::List items;
  for (auto v : def)
    items.push_back(Value::integer(v, kDefault));
  return make(std::move(name), ParamType::IntList, Value::list(std::move(items), kDefault), std::move(help));
}
ParamSpec float_list(std::string name, std::vector<double> def, std::string help) {
  Value::List items;
  for (auto v : def)
    items.push_back(Value::real(v, kDefault));
  return make(std::move(name), ParamType::FloatList, Value::list(std::move(items), kDefault),
              std::move(help));
}
ParamSpec string_list(std::string name, std::vector<std::string> def, std::string help) {
  Value::List items;
  for (auto& v : def)
    items.push_back(Value::string(std::move(v), kDefault));
  return make(std::move(name), ParamType::StringList, Value::list(std::move(items), kDefault),
              std::move(help));
}
ParamSpec required(std::string name, ParamType type, std::string help) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = type;
  spec.help = std::move(help);
  return spec;
}
}  // namespace param

Params::Params(std::string section, Value values) : section_(std::move(section)), values_(std::move(values)) {
  if (values_.kind() != Value::Kind::Map) throw Error("Params: section '" + section_ + "' is not a map");
}

bool Params::has(const std::string& key) const {
  return values_.find(key) != nullptr;
}

const Value& Params::value(const std::string& key) const {
  if (const Value* v = values_.find(key)) return *v;
  // Reaching this is a plugin bug: it reads a parameter it did not document.
  throw Error("parameter '" + section_ + "." + key +
              "' was read but not documented by its plugin; add it to the plugin's ParamSpecs");
}

bool Params::get_bool(const std::string& key) const {
  return value(key).as_bool();
}
std::int64_t Params::get_int(const std::string& key) const {
  return value(key).as_int();
}
double Params::get_float(const std::string& key) const {
  return value(key).as_float();
}
std::string Params::get_string(const std::string& key) const {
  return value(key).as_string();
}
std::filesystem::path Params::get_path(const std::string& key) const {
  return value(key).as_string();
}

std::vector<std::int64_t> Params::get_int_list(const std::string& key) const {
  std::vector<std::int64_t> out;
  for (const Value& v : value(key).as_list())
    out.push_back(v.as_int());
  return out;
}
std::vector<double> Params::get_float_list(const std::string& key) const {
  std::vector<double> out;
  for (const Value& v : value(key).as_list())
    out.push_back(v.as_float());
  return out;
}
std::vector<std::string> Params::get_string_list(const std::string& key) const {
  std::vector<std::string> out;
  for (const Value& v : value(key).as_list())
    out.push_back(v.as_string());
  return out;
}

void Params::fail(const std::string& key, const std::string& message) const {
  const Value* v = values_.find(key);
  // A default was written nowhere: point at the section instead.
  const bool written = v && v->where().file != "default";
  const std::string where = written ? v->where().str() : values_.where().str();
  throw InputError(where + ": " + section_ + "." + key + ": " + message);
}

}  // namespace ralm
