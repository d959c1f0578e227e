#include "ralm/core/engine/speculative_cache.hpp"

#include <algorithm>

namespace ralm::core {

void SpeculativeCache::touch(PassageId id) {
  const auto it = where_.find(id);
  if (it != where_.end()) {
    order_.splice(order_.begin(), order_, it->second);
    return;
  }
  order_.push_front(id);
  where_.emplace(id, order_.begin());
  if (capacity_ > 0 && order_.size() > capacity_) {
    where_.erase(order_.back());
    order_.pop_back();
    ++evictions_;
  }
}

std::size_t SpeculativeCache::size() const {
  std::lock_guard lock(mutex_);
  return order_.size();
}

std::int64_t SpeculativeCache::evictions() const {
  std::lock_guard lock(mutex_);
  return evictions_;
}

bool SpeculativeCache::contains(PassageId id) const {
  std::lock_guard lock(mutex_);
  return where_.count(id) != 0;
}

void SpeculativeCache::insert(std::span<const Hit> hits) {
  std::lock_guard lock(mutex_);
  // Worst first, so that the best ends up most recently used and is the last
  // to be evicted.
  for (auto it = hits.rbegin(); it != hits.rend(); ++it)
    touch(it->id);
}

void SpeculativeCache::insert(std::span<const PassageId> ids) {
  std::lock_guard lock(mutex_);
  for (auto it = ids.rbegin(); it != ids.rend(); ++it)
    touch(*it);
}

std::vector<Hit> SpeculativeCache::top(Retriever& retriever, const std::string& query, std::int64_t k) {
  return top([&](std::span<const PassageId> ids) { return retriever.score(query, ids); }, k);
}

std::vector<Hit> SpeculativeCache::top(const Scorer& score, std::int64_t k) {
  return top(score, k, {});
}

std::vector<Hit> SpeculativeCache::top(const Scorer& score, std::int64_t k,
                                       std::span<const PassageId> extra) {
  std::vector<PassageId> ids;
  {
    std::lock_guard lock(mutex_);
    ids.assign(order_.begin(), order_.end());
    for (const PassageId id : extra) {
      if (where_.count(id) == 0 &&
          std::find(ids.begin() + static_cast<std::ptrdiff_t>(order_.size()), ids.end(), id) == ids.end())
        ids.push_back(id);
    }
  }
  if (ids.empty() || k <= 0) return {};
  const std::vector<float> scores = score(ids);
  std::vector<Hit> hits(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i)
    hits[i] = {ids[i], scores[i]};
  rank_hits(hits, k);
  insert(hits);
  return hits;
}

}  // namespace ralm::core
