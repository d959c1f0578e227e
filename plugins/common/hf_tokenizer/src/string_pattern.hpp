// tokenizer.json's pattern object: {"String": "..."} (a literal) or
// {"Regex": "..."}, as the Split pre-tokeniser and the Replace normaliser
// and decoder use it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json_field.hpp"
#include "regex.hpp"

namespace ralm::hf {

class StringPattern {
 public:
  static StringPattern from_json(const JsonField& field);
  static StringPattern literal(std::string text) { return StringPattern(std::move(text)); }

  // Non-overlapping matches left to right, as byte ranges.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;
  std::string replace_all(std::string_view text, std::string_view content) const;

 private:
  explicit StringPattern(std::string literal) : literal_(std::move(literal)) {}
  explicit StringPattern(Regex regex) : regex_(std::move(regex)) {}
  std::string literal_;
  std::optional<Regex> regex_;
};

}  // namespace ralm::hf
