#include "retrieval_windows.hpp"

#include <algorithm>

#include "ralm/error.hpp"

namespace ralm::llama_train {

RetrievalWindows::RetrievalWindows(TokenWindows& windows, Retriever& retriever, const PassageStore& store,
                                   const Tokenizer& tokenizer, RetrievalLayout layout)
    : windows_(windows),
      retriever_(retriever),
      store_(store),
      tokenizer_(tokenizer),
      layout_(std::move(layout)) {
  if (windows_.length() != layout_.context_tokens + layout_.target_tokens)
    throw Error("RetrievalWindows: windows of the wrong length");
}

std::vector<TokenId> RetrievalWindows::sample(const TokenWindows::Window& w) {
  const std::int32_t ctx = layout_.context_tokens, tgt = layout_.target_tokens;
  const std::int32_t q = std::min(layout_.query_tokens, ctx);
  const std::string query =
      tokenizer_.decode(std::span<const TokenId>(w.tokens + ctx - q, static_cast<std::size_t>(q)));
  // The window's own documents: those of its context and its target.
  const std::int64_t own_context = w.document_at(ctx - 1), own_target = w.document_at(ctx + tgt - 1);
  auto cached = passage_cache_.find(query);
  if (cached == passage_cache_.end()) {
    Tokens passage;
    const std::vector<std::string> queries = {query};
    const std::vector<std::vector<Hit>> hits = retriever_.search(queries, 8);
    for (const Hit& hit : hits.front()) {
      const std::int64_t doc = hit.id < store_.size() ? store_.document(hit.id) : -1;
      if (doc == own_context || doc == own_target) continue;
      const Passage p = retriever_.passage(hit.id);
      passage = tokenizer_.encode(p.title + "\n" + p.text, false);
      if (static_cast<std::int32_t>(passage.size()) > layout_.passage_tokens)
        passage.resize(static_cast<std::size_t>(layout_.passage_tokens));
      break;
    }
    cached = passage_cache_.emplace(query, std::move(passage)).first;
  }
  const Tokens& passage = cached->second;
  std::vector<TokenId> out;
  const auto context_end = w.tokens + ctx;
  if (layout_.layout == "prepend") {
    out.insert(out.end(), passage.begin(), passage.end());
    out.insert(out.end(), w.tokens, context_end);
  } else {
    out.insert(out.end(), w.tokens, context_end);
    if (!layout_.marks.empty()) out.push_back(layout_.marks[0]);
    out.insert(out.end(), passage.begin(), passage.end());
    if (!layout_.marks.empty()) out.push_back(layout_.marks[1]);
  }
  out.insert(out.end(), context_end, context_end + tgt);
  return out;
}

TokenBatch RetrievalWindows::batch(const std::vector<std::vector<TokenId>>& samples) const {
  TokenBatch b;
  std::size_t longest = 0;
  for (const auto& s : samples)
    longest = std::max(longest, s.size());
  b.sequences = static_cast<std::int32_t>(samples.size());
  b.length = static_cast<std::int32_t>(longest - 1);
  const std::size_t tgt = static_cast<std::size_t>(layout_.target_tokens);
  for (const auto& s : samples) {
    for (std::size_t i = 0; i + 1 < longest; ++i) {
      const bool real = i + 1 < s.size();
      b.inputs.push_back(i < s.size() ? s[i] : tokenizer_.eos());
      // Position i predicts s[i + 1]; the loss is on the last `tgt` tokens.
      b.targets.push_back(real && i + 1 >= s.size() - tgt ? s[i + 1] : TokenBatch::kIgnore);
    }
  }
  return b;
}

TokenBatch RetrievalWindows::train_batch(std::int64_t position, std::int32_t count) {
  std::vector<std::vector<TokenId>> samples;
  for (std::int32_t i = 0; i < count; ++i)
    samples.push_back(sample(windows_.train_window(position + i)));
  return batch(samples);
}

TokenBatch RetrievalWindows::validation_batch(std::int64_t first, std::int32_t count) {
  std::vector<std::vector<TokenId>> samples;
  for (std::int32_t i = 0; i < count && first + i < windows_.validation_windows(); ++i)
    samples.push_back(sample(windows_.validation_window(first + i)));
  return batch(samples);
}

}  // namespace ralm::llama_train
