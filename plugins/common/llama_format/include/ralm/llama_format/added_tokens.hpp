// Tokens added to a model's vocabulary after its tokenizer was trained
// (FlashBack's <MARK_L> and <MARK_R>), the way Hugging Face keeps them: each
// has the next id after the vocabulary, its own embedding and output rows,
// and is never split: text is cut at every added token's spelling and the
// pieces between are encoded by the underlying tokenizer.
//
// On disk (Hugging Face's two spellings, both written, either read):
//   tokenizer_config.json  "added_tokens_decoder": {"32000": {"content": "<MARK_L>", "special": true, ...}}
//   added_tokens.json      {"<MARK_L>": 32000}
// config.json's vocab_size and the embed_tokens / lm_head tensors grow with them.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ralm/model.hpp"

namespace ralm::llama {

struct AddedToken {
  std::string content;
  TokenId id = 0;
};

class AddedTokensTokenizer final : public Tokenizer {
 public:
  // `vocab_size`: the model's, which may exceed the base tokenizer's pieces.
  AddedTokensTokenizer(std::unique_ptr<Tokenizer> base, std::int32_t vocab_size);

  // Registers `content` as `id`; the vocabulary grows to id + 1 if needed.
  void add(std::string content, TokenId id);
  const std::vector<AddedToken>& added() const { return added_; }
  const Tokenizer& base() const { return *base_; }

  Tokens encode(std::string_view text, bool add_bos) const override;
  std::string decode(std::span<const TokenId> ids) const override;
  std::string piece(TokenId id) const override;
  std::int32_t vocab_size() const override { return vocab_; }
  TokenId bos() const override { return base_->bos(); }
  TokenId eos() const override { return base_->eos(); }
  std::optional<TokenId> special(std::string_view name) const override;

 private:
  const AddedToken* find(TokenId id) const;

  std::unique_ptr<Tokenizer> base_;
  std::int32_t vocab_;
  std::vector<AddedToken> added_;
};

// The added tokens a checkpoint folder declares: tokenizer_config.json's
// added_tokens_decoder, else added_tokens.json; entries the base tokenizer
// already spells with the same id (<s>, </s>, <unk>) are left out. No file:
// none. A malformed file is an InputError naming it.
std::vector<AddedToken> read_added_tokens(const std::filesystem::path& dir, const Tokenizer& base);

// Writes tokenizer_config.json, added_tokens.json and special_tokens_map.json
// (and tokenizer.model when `base` is SentencePiece) into `dir`, each
// atomically: `base` is the tokenizer without the added tokens.
void write_tokenizer_files(const std::filesystem::path& dir, const Tokenizer& base,
                           const std::vector<AddedToken>& added);

}  // namespace ralm::llama
