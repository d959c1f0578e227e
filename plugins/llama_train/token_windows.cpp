#include "token_windows.hpp"

#include <algorithm>
#include <string>

#include "ralm/error.hpp"
#include "tokenizer_training.hpp"

namespace ralm::llama_train {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

TokenWindows::TokenWindows(const PassageStore& store, const Tokenizer& tokenizer, std::int32_t length,
                           std::int32_t validation_permille, std::uint64_t seed)
    : length_(length), seed_(seed) {
  for (PassageId id = 0; id < store.size(); ++id) {
    const std::int64_t doc = store.document(id);
    const bool held_out = held_out_document(doc, validation_permille);
    std::string text(store.title(id));
    text += '\n';
    text += store.text(id);
    const Tokens tokens = tokenizer.encode(text, true);
    auto& out = held_out ? validation_ : train_;
    out.insert(out.end(), tokens.begin(), tokens.end());
    auto& docs = held_out ? validation_docs_ : train_docs_;
    docs.insert(docs.end(), tokens.size(), doc);
  }
  if (train_windows() == 0) {
    throw InputError(store.dir().string() + ": the corpus's training split holds " +
                     std::to_string(train_.size()) + " tokens, fewer than one window of " +
                     std::to_string(length + 1) + "; use a larger corpus or a shorter trainer.seq_len");
  }
}

const std::vector<std::int64_t>& TokenWindows::permutation(std::int64_t epoch) {
  if (epoch == cached_epoch_) return order_;
  const std::int64_t n = train_windows();
  order_.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    order_[static_cast<std::size_t>(i)] = i;
  std::uint64_t state = seed_ ^ (0xd1b54a32d192ed03ull * static_cast<std::uint64_t>(epoch + 1));
  for (std::int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
    const auto j = static_cast<std::int64_t>(splitmix64(state) % static_cast<std::uint64_t>(i + 1));
    std::swap(order_[static_cast<std::size_t>(i)], order_[static_cast<std::size_t>(j)]);
  }
  cached_epoch_ = epoch;
  return order_;
}

void TokenWindows::add_window(const std::vector<TokenId>& stream, std::int64_t index,
                              TokenBatch& batch) const {
  const auto begin = stream.begin() + static_cast<std::ptrdiff_t>(index * (length_ + 1));
  batch.inputs.insert(batch.inputs.end(), begin, begin + length_);
  batch.targets.insert(batch.targets.end(), begin + 1, begin + length_ + 1);
  if (loss_tokens_ > 0 && loss_tokens_ < length_) {
    std::fill(batch.targets.end() - length_, batch.targets.end() - loss_tokens_, TokenBatch::kIgnore);
  }
  ++batch.sequences;
}

TokenBatch TokenWindows::train_batch(std::int64_t position, std::int32_t count) {
  TokenBatch batch;
  batch.length = length_;
  const std::int64_t n = train_windows();
  for (std::int32_t i = 0; i < count; ++i) {
    const std::int64_t p = position + i;
    add_window(train_, permutation(p / n)[static_cast<std::size_t>(p % n)], batch);
  }
  return batch;
}

TokenWindows::Window TokenWindows::train_window(std::int64_t position) {
  const std::int64_t n = train_windows();
  const auto start = static_cast<std::size_t>(
      permutation(position / n)[static_cast<std::size_t>(position % n)] * (length_ + 1));
  return {train_.data() + start, train_docs_.data() + start};
}

TokenWindows::Window TokenWindows::validation_window(std::int64_t index) const {
  const auto start = static_cast<std::size_t>(index * (length_ + 1));
  return {validation_.data() + start, validation_docs_.data() + start};
}

TokenBatch TokenWindows::validation_batch(std::int64_t first, std::int32_t count) const {
  TokenBatch batch;
  batch.length = length_;
  for (std::int32_t i = 0; i < count && first + i < validation_windows(); ++i)
    add_window(validation_, first + i, batch);
  return batch;
}

}  // namespace ralm::llama_train
