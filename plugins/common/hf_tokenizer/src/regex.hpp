// The regular expressions of tokenizer.json (Split patterns, Replace
// patterns) through PCRE2 in UTF and Unicode-property mode, which reads the
// Oniguruma syntax those files use (\p{L}, \p{N}, (?i:...), (?!\S)) the same
// way for the patterns real checkpoints ship.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ralm::hf {

class Regex {
 public:
  // `where` names the file and the pattern in errors
  // ("tokenizer.json: pre_tokenizer.pattern.Regex").
  Regex(const std::string& pattern, const std::string& where);
  // A pattern matching `literal` exactly.
  static Regex literal(std::string_view literal, const std::string& where);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  // Non-overlapping matches left to right, as byte ranges [start, end) of
  // `text` (valid UTF-8). An empty match moves the search on by a character.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace ralm::hf
