// KV-cache prefixes shared by the requests of one engine, so that a layout
// that starts like an earlier request's (BOS and the same passages, for
// prepend) starts from a copy instead of recomputing those positions.
//
// A radix tree over token ids, as SGLang's RadixAttention, vLLM's prefix
// caching and RAGCache's knowledge tree keep them: each edge is a run of
// tokens, and each leaf holds a Sequence (a clone) covering the tokens from
// the root to it. A prefix that ends inside the tree (at an inner node or
// inside an edge) is covered by every leaf below that point, so only leaves
// hold sequences, and inserting a longer prefix of a leaf replaces the
// leaf's sequence. A copy is exact: a Model's keys and values at a position
// depend only on the tokens up to it, so a sequence holding the same leading
// tokens, truncated to them, is what evaluating them afresh gives.
//
// Sequences are charged `bytes_per_sequence` each, whatever their length: a
// Sequence may allocate its whole context when it is created (a model that
// preallocates its KV buffers gives every clone one of context_length
// positions), so that, not the tokens held, is the memory a cached one keeps.
// Beyond `capacity_bytes` the least recently used leaf goes.
//
// Thread-safe: requests on several threads look up and insert at once. One
// mutex guards the tree; the copying of a sequence (a found one, or one to
// keep) happens outside it, so a lookup waits only for tree walks.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <span>

#include "ralm/model.hpp"
#include "ralm/types.hpp"

namespace ralm::core {

// What the prefix cache has done since it was made, and what it holds now.
struct PrefixCacheStats {
  std::int64_t lookups = 0;
  std::int64_t hits = 0;          // lookups that returned a copy
  std::int64_t misses = 0;        // lookups that found no prefix long enough
  std::int64_t tokens_saved = 0;  // tokens in the copies returned: positions not recomputed
  std::int64_t insertions = 0;    // sequences kept (a longer prefix replacing a leaf's included)
  std::int64_t evictions = 0;     // sequences dropped for the budget
  std::int64_t entries = 0;       // sequences held now
  std::int64_t tokens_held = 0;   // their tokens, summed
  std::int64_t bytes_held = 0;    // entries × bytes per sequence
  std::int64_t capacity_bytes = 0;
};

class PrefixCache {
 public:
  // `capacity_bytes` must hold at least one sequence (an Error otherwise):
  // a cache that could keep nothing is a configuration mistake the engine
  // reports with the key's name before it gets here.
  PrefixCache(std::int64_t capacity_bytes, std::int64_t bytes_per_sequence);
  ~PrefixCache();
  PrefixCache(const PrefixCache&) = delete;
  PrefixCache& operator=(const PrefixCache&) = delete;

  // A copy of a cached sequence truncated to the longest prefix of `tokens`
  // the cache holds; null (a miss) when that prefix is shorter than
  // `at_least` tokens, so that a caller who already holds that many copies
  // nothing.
  std::unique_ptr<Sequence> lookup(std::span<const TokenId> tokens, std::int32_t at_least = 1);

  // Keeps a copy of the first `length` tokens of `seq` (length <=
  // seq.length()) unless the cache already holds that prefix; then evicts
  // the least recently used sequences beyond the budget.
  void insert(const Sequence& seq, std::int32_t length);

  // The longest prefix of `tokens` the cache holds, without copying,
  // counting or touching anything.
  std::int32_t matched_length(std::span<const TokenId> tokens) const;

  PrefixCacheStats stats() const;

 private:
  struct Node;
  // Where a walk of the tree along some tokens stopped: `matched` tokens
  // agree, the last `in_edge` of them on the edge into `node` (all of it,
  // or the start of it when the walk stopped inside it).
  struct Match {
    Node* node;
    std::size_t in_edge;
    std::size_t matched;
  };
  Match walk(std::span<const TokenId> tokens) const;
  // A leaf at or below `node`: it holds every prefix that ends there.
  static Node* leaf_below(Node* node);
  void touch(Node* leaf);
  // Removes `leaf`, merges a parent left with one child into it, and hands
  // back the sequence so that the caller frees it outside the lock.
  std::shared_ptr<const Sequence> evict(Node* leaf);

  const std::int64_t capacity_bytes_;
  const std::int64_t bytes_per_sequence_;
  mutable std::mutex mutex_;
  std::unique_ptr<Node> root_;
  std::list<Node*> lru_;  // leaves, most recently used first
  PrefixCacheStats stats_;
};

// An engine's prefix cache for a model with this info and a budget of
// `budget_bytes` (engine.prefix_cache_mb); null when the budget is 0. Each
// sequence is charged context_length × kv_bytes_per_token. An InputError
// naming engine.prefix_cache_mb when the budget cannot hold one sequence or
// the model does not say its KV-cache size.
std::unique_ptr<PrefixCache> make_prefix_cache(const ModelInfo& model, std::int64_t budget_bytes);

}  // namespace ralm::core
