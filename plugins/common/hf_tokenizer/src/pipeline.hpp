// Everything a tokenizer.json describes, assembled: what HfTokenizer runs.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "added_tokens.hpp"
#include "components.hpp"
#include "vocabulary.hpp"

namespace ralm::hf {

class Pipeline {
 public:
  std::unique_ptr<Normalizer> normalizer;       // may be null
  std::unique_ptr<PreTokenizer> pre_tokenizer;  // may be null
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;  // may be null
  std::unique_ptr<Decoder> decoder;               // may be null
  std::vector<AddedToken> added_tokens;
  std::optional<TokenId> padding_id;
  std::optional<std::int32_t> truncation_max_length;

  // Builds the matchers; call once the parts above are set.
  void finish();

  Tokens encode(std::string_view text, bool add_special) const;
  std::string decode(std::span<const TokenId> ids) const;
  // An added token's content, else the model's token.
  std::optional<std::string> token(TokenId id) const;
  std::optional<TokenId> added_token_id(std::string_view content) const;
  std::int32_t vocab_size() const;

 private:
  AddedTokenMatcher raw_tokens_, normalized_tokens_;
  std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>> added_by_content_;
  std::unordered_map<TokenId, std::string> added_by_id_;
};

}  // namespace ralm::hf
