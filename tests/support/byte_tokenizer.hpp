// The tests' byte tokenizer: any text, no vocabulary file.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ralm/model.hpp"

namespace ralm::test {

// Bytes as tokens: id = byte + 3; 1 is BOS. EOS is outside the vocabulary, so
// a random model never stops early.
class ByteTokenizer final : public Tokenizer {
 public:
  Tokens encode(std::string_view text, bool add_bos) const override {
    Tokens out;
    if (add_bos) out.push_back(1);
    for (unsigned char c : text)
      out.push_back(static_cast<TokenId>(c) + 3);
    return out;
  }
  std::string decode(std::span<const TokenId> ids) const override {
    std::string s;
    for (TokenId id : ids) {
      if (id >= 3 && id < 259) s.push_back(static_cast<char>(id - 3));
    }
    return s;
  }
  std::string piece(TokenId id) const override { return decode(std::span(&id, 1)); }
  std::int32_t vocab_size() const override { return 262; }
  TokenId bos() const override { return 1; }
  TokenId eos() const override { return 262; }
  std::optional<TokenId> special(std::string_view) const override { return std::nullopt; }
};

}  // namespace ralm::test
