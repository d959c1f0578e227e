// tokenizer.json's added_tokens: found in the text before the model sees it
// (HF's AddedVocabulary). Tokens with normalized false are found in the raw
// text, the others in the normalised text; the longest token at the leftmost
// place wins; single_word, lstrip and rstrip as HF applies them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "components.hpp"

namespace ralm::hf {

struct AddedToken {
  TokenId id = 0;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

class AddedTokenMatcher {
 public:
  // (pattern, token) pairs: a normalised token's pattern is its normalised content.
  void add(std::string pattern, const AddedToken& token);
  bool empty() const { return patterns_.empty(); }
  // Splits `piece` into the tokens found (with ids) and the text between.
  void split(const Piece& piece, std::vector<Piece>& out) const;

 private:
  struct Pattern {
    std::string text;
    AddedToken token;
  };
  std::vector<Pattern> patterns_;
  std::vector<std::vector<std::size_t>> by_first_byte_ = std::vector<std::vector<std::size_t>>(256);
};

}  // namespace ralm::hf
