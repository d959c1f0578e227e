// RaLMSpec's speculative retrieval cache: passages seen by earlier real
// retrievals, ranked for a new query with the retriever's own score(), so that
// a speculated top-k equals the real one whenever the real top-k is cached.
// Speculative kNN-LM keeps datastore entries in it the same way, ranked by the
// policy's NeighbourSearch::score().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "ralm/retriever.hpp"
#include "ralm/types.hpp"

namespace ralm::core {

// Thread-safe: with a shared cache, requests running at once in an engine
// use it together. Scoring runs outside the lock (it may wait for the
// engine's batcher, which must never wait on a lock a request holds).
class SpeculativeCache {
 public:
  // At most `capacity` passages (0: no bound); beyond it the least recently
  // used passage (inserted, re-inserted or returned by top()) is evicted.
  explicit SpeculativeCache(std::size_t capacity) : capacity_(capacity) {}

  // Inserts (or refreshes) the hits' passages, best first.
  void insert(std::span<const Hit> hits);
  void insert(std::span<const PassageId> ids);

  // The best k cached passages for `query`, scored by retriever.score() and
  // ranked by ranks_before(); fewer when fewer are cached.
  std::vector<Hit> top(Retriever& retriever, const std::string& query, std::int64_t k);
  // The same with any scoring: `score(ids)` gives one score per id.
  using Scorer = std::function<std::vector<float>(std::span<const PassageId>)>;
  std::vector<Hit> top(const Scorer& score, std::int64_t k);
  // The best k of the cached passages and `extra` (a draft retriever's
  // candidates) together, each scored once; only those returned are inserted.
  std::vector<Hit> top(const Scorer& score, std::int64_t k, std::span<const PassageId> extra);

  std::size_t size() const;
  std::int64_t evictions() const;
  bool contains(PassageId id) const;

 private:
  void touch(PassageId id);  // with mutex_ held

  mutable std::mutex mutex_;
  std::size_t capacity_;
  std::list<PassageId> order_;  // most recently used first
  std::unordered_map<PassageId, std::list<PassageId>::iterator> where_;
  std::int64_t evictions_ = 0;
};

}  // namespace ralm::core
