// The `xapian` retriever: BM25 over a passage store's Xapian shards, local
// folders or `xapian-tcpsrv` servers, searched as one database so that Xapian
// ranks with the statistics of the whole collection.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include <xapian.h>

#include "ralm/retriever.hpp"
#include "shard_connections.hpp"
#include "shard_index.hpp"

namespace ralm::xapian_shards {

struct RetrieverSettings {
  double k1 = 0.9;
  double b = 0.4;
  OpenOptions open;
  // A shard that fails: an error naming it (false), or a logged, counted
  // search of the shards left (true).
  bool partial_results = false;
  // How many of a batch's queries run at once, each on its own connection to
  // every shard: a batch then costs about one round trip, not one per query.
  // 1: one after another on one connection.
  std::int64_t parallel_queries = 8;
};

class XapianRetriever final : public Retriever {
 public:
  // `shards[i]` is shard i of shards.size(); each is checked on opening.
  XapianRetriever(std::shared_ptr<const PassageStore> store, std::vector<ShardLocation> shards,
                  RetrieverSettings settings);

  // The batch's queries run `parallel_queries` at a time, each thread on its
  // own connection: Xapian's remote protocol answers one query per round
  // trip, so a batch costs about its slowest query, not the sum. Results are
  // those of searching one query after another, in the same order.
  std::vector<std::vector<Hit>> search(std::span<const std::string> queries, std::int64_t k) override;
  std::vector<float> score(std::string_view query, std::span<const PassageId> ids) override;
  std::vector<float> score_batch(std::span<const std::string> queries,
                                 std::span<const PassageId> ids) override;
  Passage passage(PassageId id) const override { return store_->passage(id); }
  std::int64_t size() const override { return store_->size(); }

  // Queries (searched or scored) answered without every shard (partial_results).
  std::int64_t partial_searches() const { return partial_searches_; }
  std::int64_t live_shards() const { return connections_.live_shards(); }

 private:
  using QueryTask = std::function<void(ShardConnection&, std::size_t, std::atomic<bool>&)>;
  // task(connection, i, stop) for every i in [0, n), on up to
  // parallel_queries threads (the caller's among them), each with a leased
  // connection; rethrows the first error once every thread has ended.
  void for_each_query(std::size_t n, const QueryTask& task);
  Xapian::MSet run(ShardConnection& connection, const Xapian::Query& query, Xapian::doccount count,
                   std::atomic<bool>& stop);
  Xapian::Query parse(std::string_view text) const;
  std::vector<Hit> top_k(ShardConnection& connection, const Xapian::Query& query, std::int64_t k,
                         std::atomic<bool>& stop);
  std::vector<float> score_row(ShardConnection& connection, const Xapian::Query& restricted,
                               std::span<const PassageId> ids, std::atomic<bool>& stop);
  // `query` limited to `ids` (each an id of the store); a query of its own,
  // sharing nothing with another (Xapian's queries are not thread-safe).
  Xapian::Query restrict_to(const Xapian::Query& query, std::span<const PassageId> ids) const;
  void count_if_partial(const ShardConnection& connection);

  std::shared_ptr<const PassageStore> store_;
  RetrieverSettings settings_;
  ShardConnections connections_;
  std::atomic<std::int64_t> partial_searches_{0};
};

}  // namespace ralm::xapian_shards
