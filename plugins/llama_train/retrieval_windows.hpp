// FlashBack's retrieval-augmented training samples. Each window of the
// corpus is split into a context and the `target` tokens after it; the last
// `query_tokens` of the context, detokenised, are the query; the retriever's
// best passage from another document (never the window's own, which would
// leak the answer) is truncated to `passage_tokens` and laid out as
//   append:  context ⊕ <MARK_L> passage <MARK_R> ⊕ target   (FlashBack)
//   prepend: passage ⊕ context ⊕ target                     (In-Context RALM)
// (the marks only when their ids are given). The loss falls on the target
// tokens only. Samples of one batch are right-padded to the longest; padding
// has no loss and, the attention being causal, changes nothing before it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "llama_graph.hpp"
#include "ralm/model.hpp"
#include "ralm/passage_store.hpp"
#include "ralm/retriever.hpp"
#include "token_windows.hpp"

namespace ralm::llama_train {

struct RetrievalLayout {
  std::string layout = "append";  // "append" or "prepend"
  std::int32_t context_tokens = 112;
  std::int32_t target_tokens = 16;
  std::int32_t query_tokens = 32;
  std::int32_t passage_tokens = 128;
  std::vector<TokenId> marks;  // {<MARK_L>, <MARK_R>} ids, or empty: no marks
};

class RetrievalWindows {
 public:
  // `windows` must cut windows of context_tokens + target_tokens tokens.
  RetrievalWindows(TokenWindows& windows, Retriever& retriever, const PassageStore& store,
                   const Tokenizer& tokenizer, RetrievalLayout layout);

  TokenBatch train_batch(std::int64_t position, std::int32_t count);
  TokenBatch validation_batch(std::int64_t first, std::int32_t count);
  std::int64_t validation_windows() const { return windows_.validation_windows(); }

 private:
  std::vector<TokenId> sample(const TokenWindows::Window& w);
  TokenBatch batch(const std::vector<std::vector<TokenId>>& samples) const;

  TokenWindows& windows_;
  Retriever& retriever_;
  const PassageStore& store_;
  const Tokenizer& tokenizer_;
  RetrievalLayout layout_;
  std::map<std::string, Tokens> passage_cache_;  // query text → passage tokens
};

}  // namespace ralm::llama_train
