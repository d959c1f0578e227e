// HF's BPE model (models/bpe in the tokenizers crate).
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "components.hpp"
#include "vocabulary.hpp"

namespace ralm::hf {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::optional<std::string> continuing_subword_prefix;
  std::optional<std::string> end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  // Llama 3: a word that is itself a token is that token, merges or not.
  bool ignore_merges = false;
};

class BpeModel final : public Model {
 public:
  // `merges_field` names the merges in errors.
  BpeModel(Vocabulary vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           BpeOptions options, const JsonField& merges_field);
  ~BpeModel() override;

  void tokenize(std::string_view word, Tokens& out) const override;
  std::optional<TokenId> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  std::optional<std::string> id_to_token(TokenId id) const override { return vocab_.token(id); }
  std::int32_t vocab_size() const override { return vocab_.size(); }
  std::string kind() const override;
  // Whether its words come from the ByteLevel pre-tokeniser (for kind()).
  void set_byte_level(bool byte_level) { byte_level_ = byte_level; }

 private:
  struct MergeRule {
    std::uint32_t rank;
    TokenId new_id;
  };
  Tokens merge_word(std::string_view word) const;
  TokenId unk_id() const;

  Vocabulary vocab_;
  BpeOptions options_;
  std::unordered_map<std::uint64_t, MergeRule> merges_;
  std::optional<TokenId> unk_id_;
  std::array<std::optional<TokenId>, 256> byte_ids_{};
  bool byte_level_ = false;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, Tokens, StringHash, std::equal_to<>> cache_;
};

std::unique_ptr<Model> bpe_model_from_json(const JsonField& field);

}  // namespace ralm::hf
