// The `xapian` retriever: BM25 over a passage store's Xapian shards, local
// folders or `xapian-tcpsrv` servers, searched as one database so that Xapian
// ranks with the statistics of the whole collection.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include <xapian.h>

#include "ralm/retriever.hpp"
#include "shard_index.hpp"

namespace ralm::xapian_shards {

struct RetrieverSettings {
  double k1 = 0.9;
  double b = 0.4;
  OpenOptions open;
  // A shard that fails: an error naming it (false), or a logged, counted
  // search of the shards left (true).
  bool partial_results = false;
};

class XapianRetriever final : public Retriever {
 public:
  // `shards[i]` is shard i of shards.size(); each is checked on opening.
  XapianRetriever(std::shared_ptr<const PassageStore> store, std::vector<ShardLocation> shards,
                  RetrieverSettings settings);

  // One query after another on the one connection to each shard: Xapian's
  // remote protocol answers one query per round trip.
  std::vector<std::vector<Hit>> search(std::span<const std::string> queries, std::int64_t k) override;
  std::vector<float> score(std::string_view query, std::span<const PassageId> ids) override;
  Passage passage(PassageId id) const override { return store_->passage(id); }
  std::int64_t size() const override { return store_->size(); }

  // Queries (searched or scored) answered without every shard (partial_results).
  std::int64_t partial_searches() const { return partial_searches_; }
  std::int64_t live_shards() const;

 private:
  // Runs `query` (limited to `count` results) on the shards still in use,
  // reopening them and, with partial results, dropping those that fail.
  Xapian::MSet run(const Xapian::Query& query, Xapian::doccount count);
  void open_live_shards();
  // Which shards do not answer now ("HOST:PORT, ..."); drops them when
  // partial results are allowed.
  std::string probe_shards();
  PassageId passage_of(Xapian::docid combined) const;
  Xapian::Query parse(std::string_view text) const;
  std::vector<Hit> top_k(const Xapian::Query& query, std::int64_t k);

  std::shared_ptr<const PassageStore> store_;
  std::vector<ShardLocation> shards_;
  RetrieverSettings settings_;
  mutable std::mutex mutex_;  // Xapian databases are not thread-safe
  Xapian::Database db_;
  std::vector<std::int64_t> live_;  // the shards in db_, in order
  std::atomic<std::int64_t> partial_searches_{0};
};

}  // namespace ralm::xapian_shards
