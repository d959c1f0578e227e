#include "ralm/core/engine/retrieval_step.hpp"

#include <algorithm>

namespace ralm::core {

bool is_blank_query(const std::string& query) {
  return query.find_first_not_of(" \t\r\n") == std::string::npos;
}

std::vector<RetrievedPassage> tokenize_passages(const Retriever& retriever, const Tokenizer& tokenizer,
                                                std::span<const Hit> hits, std::int32_t max_passage_tokens) {
  std::vector<RetrievedPassage> passages;
  passages.reserve(hits.size());
  for (const Hit& hit : hits) {
    const Passage p = retriever.passage(hit.id);
    Tokens tokens = tokenizer.encode(p.title.empty() ? p.text : p.title + "\n" + p.text, false);
    if (static_cast<std::int32_t>(tokens.size()) > max_passage_tokens) {
      tokens.resize(static_cast<std::size_t>(max_passage_tokens));
    }
    passages.push_back({hit, std::move(tokens)});
  }
  return passages;
}

std::size_t reusable_cache_length(const Tokens& held, const Tokens& layout, std::int32_t reusable_prefix) {
  std::size_t common = 0;
  while (common < held.size() && common < layout.size() && held[common] == layout[common])
    ++common;
  const std::size_t allowed = static_cast<std::size_t>(std::max(reusable_prefix, 0));
  return std::min({common, allowed, layout.empty() ? 0 : layout.size() - 1});
}

}  // namespace ralm::core
