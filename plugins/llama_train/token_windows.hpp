// Training data from a passage store: every passage tokenised (BOS, title,
// newline, text), its document assigned to the training or the held-out
// split by a hash of the document id (so no document straddles the two),
// each split's tokens back to back, cut into windows of length + 1 tokens
// (inputs are the first `length`, targets the last `length`).
//
// The order of training windows is a seeded permutation per epoch, computed
// with a generator whose algorithm this file fixes, so a data position (the
// number of windows consumed) means the same windows on every machine and
// after a resume.
#pragma once

#include <cstdint>
#include <vector>

#include "llama_graph.hpp"
#include "ralm/model.hpp"
#include "ralm/passage_store.hpp"

namespace ralm::llama_train {

class TokenWindows {
 public:
  // validation_permille: documents per thousand in the held-out split.
  TokenWindows(const PassageStore& store, const Tokenizer& tokenizer, std::int32_t length,
               std::int32_t validation_permille, std::uint64_t seed);

  std::int32_t length() const { return length_; }
  // Loss on only the last n positions of each window (0: every position),
  // FlashBack's "loss on the target tokens only".
  void set_loss_tokens(std::int32_t n) { loss_tokens_ = n; }
  std::int64_t train_windows() const { return static_cast<std::int64_t>(train_.size()) / (length_ + 1); }
  std::int64_t validation_windows() const {
    return static_cast<std::int64_t>(validation_.size()) / (length_ + 1);
  }
  std::int64_t train_tokens() const { return static_cast<std::int64_t>(train_.size()); }

  // `count` training windows from data position `position` on.
  TokenBatch train_batch(std::int64_t position, std::int32_t count);
  // Held-out windows [first, first + count).
  TokenBatch validation_batch(std::int64_t first, std::int32_t count) const;

  // A window's length + 1 tokens and the document of its token at `offset`,
  // for samplers that rearrange windows (retrieval-augmented training).
  struct Window {
    const TokenId* tokens;
    std::int64_t document_at(std::int32_t offset) const { return documents[offset]; }
    const std::int64_t* documents;
  };
  // The training window at data position `position` (after the epoch's shuffle).
  Window train_window(std::int64_t position);
  Window validation_window(std::int64_t index) const;

 private:
  void add_window(const std::vector<TokenId>& stream, std::int64_t index, TokenBatch& batch) const;
  const std::vector<std::int64_t>& permutation(std::int64_t epoch);

  std::int32_t length_;
  std::int32_t loss_tokens_ = 0;
  std::uint64_t seed_;
  std::vector<TokenId> train_, validation_;
  std::vector<std::int64_t> train_docs_, validation_docs_;  // each token's document
  std::int64_t cached_epoch_ = -1;
  std::vector<std::int64_t> order_;
};

// SplitMix64: a fixed, portable generator for data order and initialisation.
std::uint64_t splitmix64(std::uint64_t& state);

}  // namespace ralm::llama_train
