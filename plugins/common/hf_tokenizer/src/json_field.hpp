// A place in a tokenizer.json document: its value, the path a person reads
// ("pre_tokenizer.pretokenizers[1].pattern") and the file, so that every
// error names the file and the field.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ralm::hf {

class JsonField {
 public:
  JsonField(const nlohmann::json& value, std::string path, const std::string& source)
      : value_(value), path_(std::move(path)), source_(source) {}

  const nlohmann::json& value() const { return value_; }
  const std::string& path() const { return path_; }
  const std::string& source() const { return source_; }

  bool has(std::string_view key) const;
  bool is_null_or_absent(std::string_view key) const;
  JsonField at(std::string_view key) const;  // an error when absent
  JsonField at(std::size_t index) const;
  std::size_t size() const;  // of an array; an error otherwise

  std::string string(std::string_view key) const;
  std::string string_or(std::string_view key, std::string fallback) const;
  std::optional<std::string> optional_string(std::string_view key) const;  // absent or null: nullopt
  bool boolean_or(std::string_view key, bool fallback) const;
  std::optional<bool> optional_boolean(std::string_view key) const;
  std::int64_t integer(std::string_view key) const;
  std::int64_t integer_or(std::string_view key, std::int64_t fallback) const;
  // The component's "type", for choosing its class.
  std::string type() const { return string("type"); }

  std::string as_string() const;
  std::int64_t as_integer() const;

  // "<file>: <path>: <message>".
  [[noreturn]] void fail(const std::string& message) const;
  [[noreturn]] void unsupported_type(std::string_view supported) const;

 private:
  std::string child(std::string_view key) const;
  const nlohmann::json& value_;
  std::string path_;
  const std::string& source_;
};

// Each element of the array `list` read by `read` (a Sequence's parts).
template <class Read>
auto read_each(const JsonField& list, Read read) {
  std::vector<decltype(read(list))> out;
  for (std::size_t i = 0; i < list.size(); ++i)
    out.push_back(read(list.at(i)));
  return out;
}

}  // namespace ralm::hf
