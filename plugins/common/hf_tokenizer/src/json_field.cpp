#include "json_field.hpp"

#include "ralm/error.hpp"

namespace ralm::hf {

std::string JsonField::child(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void JsonField::fail(const std::string& message) const {
  throw InputError(source_ + ": " + (path_.empty() ? std::string("the document") : path_) + ": " + message);
}

void JsonField::unsupported_type(std::string_view supported) const {
  at("type").fail("'" + type() + "' is not supported (supported: " + std::string(supported) + ")");
}

bool JsonField::has(std::string_view key) const {
  return value_.is_object() && value_.contains(key);
}

bool JsonField::is_null_or_absent(std::string_view key) const {
  return !has(key) || value_.at(key).is_null();
}

JsonField JsonField::at(std::string_view key) const {
  if (!value_.is_object()) fail("must be an object");
  if (!value_.contains(key)) JsonField(value_, child(key), source_).fail("missing");
  return JsonField(value_.at(key), child(key), source_);
}

JsonField JsonField::at(std::size_t index) const {
  return JsonField(value_.at(index), path_ + "[" + std::to_string(index) + "]", source_);
}

std::size_t JsonField::size() const {
  if (!value_.is_array()) fail("must be an array");
  return value_.size();
}

std::string JsonField::as_string() const {
  if (!value_.is_string()) fail("must be a string");
  return value_.get<std::string>();
}

std::int64_t JsonField::as_integer() const {
  if (!value_.is_number_integer()) fail("must be an integer");
  return value_.get<std::int64_t>();
}

std::string JsonField::string(std::string_view key) const {
  return at(key).as_string();
}

std::string JsonField::string_or(std::string_view key, std::string fallback) const {
  return is_null_or_absent(key) ? fallback : string(key);
}

std::optional<std::string> JsonField::optional_string(std::string_view key) const {
  if (is_null_or_absent(key)) return std::nullopt;
  return string(key);
}

bool JsonField::boolean_or(std::string_view key, bool fallback) const {
  return optional_boolean(key).value_or(fallback);
}

std::optional<bool> JsonField::optional_boolean(std::string_view key) const {
  if (is_null_or_absent(key)) return std::nullopt;
  const JsonField f = at(key);
  if (!f.value().is_boolean()) f.fail("must be true or false");
  return f.value().get<bool>();
}

std::int64_t JsonField::integer(std::string_view key) const {
  return at(key).as_integer();
}

std::int64_t JsonField::integer_or(std::string_view key, std::int64_t fallback) const {
  return is_null_or_absent(key) ? fallback : integer(key);
}

}  // namespace ralm::hf
