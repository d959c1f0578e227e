#include "ralm/value.hpp"

#include <cstdio>
#include <cstdlib>

#include "ralm/error.hpp"

namespace ralm {

std::string Location::str() const {
  std::string s = file.empty() ? std::string("<unknown>") : file;
  if (line > 0) {
    s += ":" + std::to_string(line);
    if (column > 0) s += ":" + std::to_string(column);
  }
  return s;
}

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::Null:
      return "null";
    case Value::Kind::Bool:
      return "boolean";
    case Value::Kind::Int:
      return "integer";
    case Value::Kind::Float:
      return "number";
    case Value::Kind::String:
      return "string";
    case Value::Kind::List:
      return "list";
    case Value::Kind::Map:
      return "map";
  }
  return "?";
}

Value Value::null(Location where) {
  Value v;
  v.where_ = std::move(where);
  return v;
}
Value Value::boolean(bool b, Location where) {
  Value v;
  v.data_ = b;
  v.where_ = std::move(where);
  return v;
}
Value Value::integer(std::int64_t i, Location where) {
  Value v;
  v.data_ = i;
  v.where_ = std::move(where);
  return v;
}
Value Value::real(double d, Location where) {
  Value v;
  v.data_ = d;
  v.where_ = std::move(where);
  return v;
}
Value Value::string(std::string s, Location where) {
  Value v;
  v.data_ = std::move(s);
  v.where_ = std::move(where);
  return v;
}
Value Value::list(List items, Location where) {
  Value v;
  v.data_ = std::move(items);
  v.where_ = std::move(where);
  return v;
}
Value Value::map(Map entries, Location where) {
  Value v;
  v.data_ = std::move(entries);
  v.where_ = std::move(where);
  return v;
}

Value::Kind Value::kind() const {
  return static_cast<Kind>(data_.index());
}

namespace {
[[noreturn]] void wrong_kind(const Value& v, const char* wanted) {
  throw Error(v.where().str() + ": expected a " + wanted + ", found a " + kind_name(v.kind()));
}
}  // namespace

bool Value::as_bool() const {
  if (auto* b = std::get_if<bool>(&data_)) return *b;
  wrong_kind(*this, "boolean");
}
std::int64_t Value::as_int() const {
  if (auto* i = std::get_if<std::int64_t>(&data_)) return *i;
  wrong_kind(*this, "integer");
}
double Value::as_float() const {
  if (auto* d = std::get_if<double>(&data_)) return *d;
  if (auto* i = std::get_if<std::int64_t>(&data_)) return static_cast<double>(*i);
  wrong_kind(*this, "number");
}
const std::string& Value::as_string() const {
  if (auto* s = std::get_if<std::string>(&data_)) return *s;
  wrong_kind(*this, "string");
}
const Value::List& Value::as_list() const {
  if (auto* l = std::get_if<List>(&data_)) return *l;
  wrong_kind(*this, "list");
}
const Value::Map& Value::as_map() const {
  if (auto* m = std::get_if<Map>(&data_)) return *m;
  wrong_kind(*this, "map");
}
Value::Map& Value::as_map() {
  if (auto* m = std::get_if<Map>(&data_)) return *m;
  wrong_kind(*this, "map");
}

const Value* Value::find(const std::string& key) const {
  for (const auto& [k, v] : as_map()) {
    if (k == key) return &v;
  }
  return nullptr;
}
Value* Value::find(const std::string& key) {
  for (auto& [k, v] : as_map()) {
    if (k == key) return &v;
  }
  return nullptr;
}
void Value::set(const std::string& key, Value v) {
  if (Value* existing = find(key)) {
    *existing = std::move(v);
    return;
  }
  as_map().emplace_back(key, std::move(v));
}
void Value::erase(const std::string& key) {
  auto& m = as_map();
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (it->first == key) {
      m.erase(it);
      return;
    }
  }
}

std::string Value::str() const {
  switch (kind()) {
    case Kind::Null:
      return "null";
    case Kind::Bool:
      return as_bool() ? "true" : "false";
    case Kind::Int:
      return std::to_string(as_int());
    case Kind::Float: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", as_float());
      // Prefer the shortest spelling that reads back as the same double.
      for (int prec = 1; prec <= 17; ++prec) {
        char shortest[64];
        std::snprintf(shortest, sizeof shortest, "%.*g", prec, as_float());
        if (std::strtod(shortest, nullptr) == as_float()) return shortest;
      }
      return buf;
    }
    case Kind::String:
      return as_string();
    case Kind::List: {
      std::string s = "[";
      for (const Value& item : as_list()) {
        if (s.size() > 1) s += ", ";
        s += item.str();
      }
      return s + "]";
    }
    case Kind::Map: {
      std::string s = "{";
      for (const auto& [k, v] : as_map()) {
        if (s.size() > 1) s += ", ";
        s += k + ": " + v.str();
      }
      return s + "}";
    }
  }
  return "?";
}

}  // namespace ralm
