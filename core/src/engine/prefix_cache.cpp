#include "ralm/core/engine/prefix_cache.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "ralm/error.hpp"

namespace ralm::core {

// Inner nodes other than the root have two children or more (a node left
// with one is merged into it), and every leaf holds a sequence: so a walk
// that stops anywhere below the root has a sequence under it.
struct PrefixCache::Node {
  Tokens edge;  // the tokens from the parent to here; empty for the root only
  Node* parent = nullptr;
  std::map<TokenId, std::unique_ptr<Node>> children;  // by the first token of their edge
  std::shared_ptr<const Sequence> sequence;           // leaves: the tokens from the root through `edge`
  std::list<Node*>::iterator lru;                     // leaves: their place in lru_
};

PrefixCache::PrefixCache(std::int64_t capacity_bytes, std::int64_t bytes_per_sequence)
    : capacity_bytes_(capacity_bytes),
      bytes_per_sequence_(bytes_per_sequence),
      root_(std::make_unique<Node>()) {
  if (bytes_per_sequence_ <= 0 || capacity_bytes_ < bytes_per_sequence_) {
    throw Error("a prefix cache of " + std::to_string(capacity_bytes_) + " bytes cannot hold a sequence of " +
                std::to_string(bytes_per_sequence_) + " bytes");
  }
  stats_.capacity_bytes = capacity_bytes_;
}

PrefixCache::~PrefixCache() = default;

PrefixCache::Match PrefixCache::walk(std::span<const TokenId> tokens) const {
  Node* node = root_.get();
  std::size_t matched = 0;
  while (matched < tokens.size()) {
    const auto it = node->children.find(tokens[matched]);
    if (it == node->children.end()) break;
    Node* child = it->second.get();
    std::size_t agree = 0;
    while (agree < child->edge.size() && matched + agree < tokens.size() &&
           child->edge[agree] == tokens[matched + agree])
      ++agree;
    matched += agree;
    if (agree < child->edge.size()) return {child, agree, matched};
    node = child;
  }
  return {node, node->edge.size(), matched};
}

PrefixCache::Node* PrefixCache::leaf_below(Node* node) {
  while (!node->children.empty())
    node = node->children.begin()->second.get();
  return node;
}

void PrefixCache::touch(Node* leaf) {
  lru_.splice(lru_.begin(), lru_, leaf->lru);
}

std::unique_ptr<Sequence> PrefixCache::lookup(std::span<const TokenId> tokens, std::int32_t at_least) {
  std::shared_ptr<const Sequence> holder;
  std::size_t matched = 0;
  {
    std::lock_guard lock(mutex_);
    ++stats_.lookups;
    const Match m = walk(tokens);
    if (m.matched == 0 || m.matched < static_cast<std::size_t>(std::max(at_least, 1))) {
      ++stats_.misses;
      return nullptr;
    }
    Node* leaf = leaf_below(m.node);
    touch(leaf);
    holder = leaf->sequence;
    matched = m.matched;
    ++stats_.hits;
    stats_.tokens_saved += static_cast<std::int64_t>(matched);
  }
  // `holder` keeps the sequence alive should another thread evict it while
  // this one copies it.
  std::unique_ptr<Sequence> copy = holder->clone();
  copy->truncate(static_cast<std::int32_t>(matched));
  return copy;
}

void PrefixCache::insert(const Sequence& seq, std::int32_t length) {
  if (length <= 0) return;
  if (length > seq.length()) {
    throw Error("the prefix cache was asked to keep " + std::to_string(length) +
                " tokens of a sequence that holds " + std::to_string(seq.length()));
  }
  {
    std::lock_guard lock(mutex_);
    if (walk(std::span(seq.tokens()).first(static_cast<std::size_t>(length))).matched ==
        static_cast<std::size_t>(length))
      return;
  }
  std::shared_ptr<Sequence> copy = seq.clone();
  copy->truncate(length);
  const std::span<const TokenId> prefix(copy->tokens());
  // Sequences let go of, freed once the lock is released.
  std::vector<std::shared_ptr<const Sequence>> dropped;
  std::lock_guard lock(mutex_);
  const Match m = walk(prefix);
  if (m.matched == prefix.size()) {  // another request kept it meanwhile
    dropped.push_back(std::move(copy));
    return;
  }
  const auto rest = prefix.subspan(m.matched);
  Node* leaf = m.node;
  if (leaf != root_.get() && leaf->children.empty() && m.in_edge == leaf->edge.size()) {
    // The new prefix extends a leaf's, and so covers it: the leaf grows.
    leaf->edge.insert(leaf->edge.end(), rest.begin(), rest.end());
    stats_.tokens_held -= leaf->sequence->length();
    dropped.push_back(std::move(leaf->sequence));
    touch(leaf);
  } else {
    Node* parent = m.node;
    if (m.in_edge < m.node->edge.size()) {
      // The walk stopped inside an edge: split it there.
      auto upper = std::make_unique<Node>();
      upper->edge.assign(m.node->edge.begin(), m.node->edge.begin() + static_cast<std::ptrdiff_t>(m.in_edge));
      upper->parent = m.node->parent;
      std::unique_ptr<Node>& slot = m.node->parent->children[upper->edge.front()];
      std::unique_ptr<Node> lower = std::move(slot);
      lower->edge.erase(lower->edge.begin(), lower->edge.begin() + static_cast<std::ptrdiff_t>(m.in_edge));
      lower->parent = upper.get();
      parent = upper.get();
      upper->children.emplace(lower->edge.front(), std::move(lower));
      slot = std::move(upper);
    }
    auto node = std::make_unique<Node>();
    node->edge.assign(rest.begin(), rest.end());
    node->parent = parent;
    leaf = node.get();
    parent->children.emplace(leaf->edge.front(), std::move(node));
    lru_.push_front(leaf);
    leaf->lru = lru_.begin();
  }
  leaf->sequence = std::move(copy);
  stats_.tokens_held += length;
  ++stats_.insertions;
  // The budget holds at least one sequence, so the one just kept stays.
  while (static_cast<std::int64_t>(lru_.size()) * bytes_per_sequence_ > capacity_bytes_)
    dropped.push_back(evict(lru_.back()));
  stats_.entries = static_cast<std::int64_t>(lru_.size());
  stats_.bytes_held = stats_.entries * bytes_per_sequence_;
}

std::shared_ptr<const Sequence> PrefixCache::evict(Node* leaf) {
  lru_.erase(leaf->lru);
  std::shared_ptr<const Sequence> seq = std::move(leaf->sequence);
  stats_.tokens_held -= seq->length();
  ++stats_.evictions;
  Node* parent = leaf->parent;
  const TokenId first = leaf->edge.front();  // the key outlives the leaf it names
  parent->children.erase(first);
  if (parent != root_.get() && parent->children.size() == 1) {
    // An inner node with one child is no branch point: the child takes its
    // place, its edge lengthened by the parent's.
    std::unique_ptr<Node>& slot = parent->parent->children[parent->edge.front()];
    std::unique_ptr<Node> only = std::move(parent->children.begin()->second);
    only->edge.insert(only->edge.begin(), parent->edge.begin(), parent->edge.end());
    only->parent = parent->parent;
    slot = std::move(only);
  }
  return seq;
}

std::int32_t PrefixCache::matched_length(std::span<const TokenId> tokens) const {
  std::lock_guard lock(mutex_);
  return static_cast<std::int32_t>(walk(tokens).matched);
}

PrefixCacheStats PrefixCache::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::unique_ptr<PrefixCache> make_prefix_cache(const ModelInfo& model, std::int64_t budget_bytes) {
  if (budget_bytes <= 0) return nullptr;
  if (model.kv_bytes_per_token <= 0) {
    throw InputError(
        "engine.prefix_cache_mb: the model does not report its KV-cache bytes per token, so the "
        "prefix cache has nothing to budget by; set engine.prefix_cache_mb to 0");
  }
  constexpr std::int64_t kMiB = std::int64_t{1} << 20;
  const std::int64_t per_sequence = std::int64_t{model.context_length} * model.kv_bytes_per_token;
  if (budget_bytes < per_sequence) {
    throw InputError("engine.prefix_cache_mb: " + std::to_string(budget_bytes / kMiB) +
                     " MiB cannot hold one cached sequence of this model (" +
                     std::to_string(model.context_length) + " positions x " +
                     std::to_string(model.kv_bytes_per_token) + " bytes); raise it to at least " +
                     std::to_string((per_sequence + kMiB - 1) / kMiB) + " or set 0 (off)");
  }
  return std::make_unique<PrefixCache>(budget_bytes, per_sequence);
}

}  // namespace ralm::core
