// Value types shared by every interface: tokens, passages and retrieval hits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ralm {

using TokenId = std::int32_t;
using Tokens = std::vector<TokenId>;

// A passage's stable id in its corpus: the position at which the corpus
// builder stored it, so the same corpus always gives the same ids.
using PassageId = std::int64_t;

struct Passage {
  PassageId id = -1;
  std::string title;
  std::string text;
};

// One retrieval result. Scores are "higher is better" for every retriever
// (an L2 retriever returns the negated distance), so that a speculative cache
// can rank passages with the same comparison whatever the retriever.
struct Hit {
  PassageId id = -1;
  float score = 0.0f;

  friend bool operator==(const Hit&, const Hit&) = default;
};

// The one ranking order of the project: higher score first, and between
// equal scores the lower id first. Verification compares ranked lists, so
// every retriever and every cache must break ties the same way.
inline bool ranks_before(const Hit& a, const Hit& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.id < b.id;
}

// Sorts hits into the ranking order and keeps the best k (k < 0 keeps all).
void rank_hits(std::vector<Hit>& hits, std::int64_t k = -1);

}  // namespace ralm
