// The pieces of one retrieval step that every task driving a context policy
// shares (the request loop, the perplexity task): when a query counts, how a
// hit becomes passage tokens, and how much of a sequence's KV cache a new
// layout lets it keep.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ralm/context_policy.hpp"
#include "ralm/model.hpp"
#include "ralm/retriever.hpp"

namespace ralm::core {

// A query window that decodes to blank text (whitespace, or ids with no
// text) is no query: the caller keeps the previous passages.
bool is_blank_query(const std::string& query);

// Each hit's passage as the policy receives it: "title\ntext" (the text alone
// when untitled), tokenised without BOS and truncated to `max_passage_tokens`.
std::vector<RetrievedPassage> tokenize_passages(const Retriever& retriever, const Tokenizer& tokenizer,
                                                std::span<const Hit> hits, std::int32_t max_passage_tokens);

// How many leading tokens of `held` (the sequence's cache) survive when the
// model must now have seen `layout`: their longest common prefix, no more than
// the policy's `reusable_prefix`, and short of the whole layout, so that at
// least its last token is evaluated and yields logits.
std::size_t reusable_cache_length(const Tokens& held, const Tokens& layout, std::int32_t reusable_prefix);

}  // namespace ralm::core
