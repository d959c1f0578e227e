#include "xapian_retriever.hpp"

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "ralm/error.hpp"
#include "ralm/text_analysis/analyzer.hpp"

namespace ralm::xapian_shards {

XapianRetriever::XapianRetriever(std::shared_ptr<const PassageStore> store, std::vector<ShardLocation> shards,
                                 RetrieverSettings settings)
    : store_(std::move(store)),
      settings_(settings),
      connections_(store_, std::move(shards), settings.open, settings.partial_results) {
  if (connections_.doccount() != static_cast<Xapian::doccount>(store_->size())) {
    throw InputError("xapian: the " + std::to_string(connections_.shard_count()) + " shards hold " +
                     std::to_string(connections_.doccount()) + " passages, " + store_->dir().string() +
                     " has " + std::to_string(store_->size()) +
                     "; rebuild the index with `ralm index build --force`");
  }
  if (settings_.parallel_queries < 1) {
    throw InputError("xapian: parallel_queries = " + std::to_string(settings_.parallel_queries) +
                     "; give 1 or more");
  }
}

// Threads of our own rather than the kernels' pool: these wait on the
// network, and a pool shared with the model's matrix products would stall
// them; a thread costs tens of microseconds, a round trip far more.
void XapianRetriever::for_each_query(std::size_t n, const QueryTask& task) {
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex failure_mutex;
  std::exception_ptr failure;
  const auto work = [&] {
    try {
      const ShardConnections::Lease connection = connections_.lease();
      for (std::size_t i; !stop && (i = next++) < n;)
        task(*connection, i, stop);
    } catch (const BatchStopped&) {
      // The thread whose error stopped the batch reports it.
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      stop = true;
    }
  };
  const std::size_t threads = std::min(n, static_cast<std::size_t>(settings_.parallel_queries));
  {
    std::vector<std::jthread> helpers;
    try {
      for (std::size_t t = 1; t < threads; ++t)
        helpers.emplace_back(work);
    } catch (...) {
      stop = true;  // the helpers started end at their next query
      throw;
    }
    work();
  }
  if (failure) std::rethrow_exception(failure);
}

Xapian::MSet XapianRetriever::run(ShardConnection& connection, const Xapian::Query& query,
                                  Xapian::doccount count, std::atomic<bool>& stop) {
  const Xapian::BM25Weight weighting(settings_.k1, 0, 1, settings_.b, 0.5);
  return connections_.run(connection, query, weighting, count, stop);
}

void XapianRetriever::count_if_partial(const ShardConnection& connection) {
  if (static_cast<std::int64_t>(connection.live.size()) < connections_.shard_count()) ++partial_searches_;
}

Xapian::Query XapianRetriever::parse(std::string_view text) const {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
    throw InputError("xapian: empty query; a query needs at least one word");
  text_analysis::Analyzer analyzer;
  std::vector<std::string> terms = analyzer.terms(text);
  std::vector<Xapian::Query> parts;
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
  for (const std::string& t : terms)
    parts.emplace_back(t);
  return Xapian::Query(Xapian::Query::OP_OR, parts.begin(), parts.end());
}

// Xapian ranks by double weights; the SDK's ranking is by float scores, ties
// to the lower id. Two weights that round to one float could come back in
// the other order, or one of them beyond k, so the search goes on while the
// k-th float ties with the last weight fetched.
std::vector<Hit> XapianRetriever::top_k(ShardConnection& connection, const Xapian::Query& query,
                                        std::int64_t k, std::atomic<bool>& stop) {
  auto count = static_cast<Xapian::doccount>(k);
  for (;;) {
    const Xapian::MSet mset = run(connection, query, count, stop);
    std::vector<Hit> hits;
    hits.reserve(mset.size());
    for (auto it = mset.begin(); it != mset.end(); ++it)
      hits.push_back({connections_.passage_of(connection, *it), static_cast<float>(it.get_weight())});
    const bool more = mset.size() == count && static_cast<std::int64_t>(hits.size()) >= k &&
                      hits.back().score == hits[static_cast<std::size_t>(k - 1)].score;
    if (!more || count >= static_cast<Xapian::doccount>(size())) {
      rank_hits(hits, k);
      return hits;
    }
    count *= 2;
  }
}

std::vector<std::vector<Hit>> XapianRetriever::search(std::span<const std::string> queries, std::int64_t k) {
  if (k < 1 || k > size()) {
    throw InputError("xapian: k = " + std::to_string(k) + " is outside 1.." + std::to_string(size()) +
                     " (the corpus's passages)");
  }
  std::vector<Xapian::Query> parsed;
  for (const std::string& q : queries)
    parsed.push_back(parse(q));
  std::vector<std::vector<Hit>> results(parsed.size());
  for_each_query(parsed.size(), [&](ShardConnection& connection, std::size_t i, std::atomic<bool>& stop) {
    results[i] = top_k(connection, parsed[i], k, stop);
    count_if_partial(connection);
  });
  return results;
}

Xapian::Query XapianRetriever::restrict_to(const Xapian::Query& query, std::span<const PassageId> ids) const {
  std::vector<Xapian::Query> filter;
  for (const PassageId id : ids) {
    if (id < 0 || id >= size()) {
      throw InputError("xapian: passage id " + std::to_string(id) + " is outside 0.." +
                       std::to_string(size() - 1));
    }
    filter.emplace_back("Q" + std::to_string(id));
  }
  return Xapian::Query(Xapian::Query::OP_FILTER, query,
                       Xapian::Query(Xapian::Query::OP_OR, filter.begin(), filter.end()));
}

std::vector<float> XapianRetriever::score_row(ShardConnection& connection, const Xapian::Query& restricted,
                                              std::span<const PassageId> ids, std::atomic<bool>& stop) {
  std::unordered_map<PassageId, float> found;
  const Xapian::MSet mset = run(connection, restricted, static_cast<Xapian::doccount>(ids.size()), stop);
  for (auto it = mset.begin(); it != mset.end(); ++it)
    found[connections_.passage_of(connection, *it)] = static_cast<float>(it.get_weight());
  count_if_partial(connection);
  std::vector<float> out;
  out.reserve(ids.size());
  for (const PassageId id : ids) {
    const auto it = found.find(id);
    out.push_back(it == found.end() ? 0.0f : it->second);
  }
  return out;
}

std::vector<float> XapianRetriever::score(std::string_view query, std::span<const PassageId> ids) {
  const std::string text(query);
  return score_batch({&text, 1}, ids);
}

std::vector<float> XapianRetriever::score_batch(std::span<const std::string> queries,
                                                std::span<const PassageId> ids) {
  std::vector<Xapian::Query> restricted;
  for (const std::string& q : queries)
    restricted.push_back(restrict_to(parse(q), ids));
  std::vector<float> out(queries.size() * ids.size());
  for_each_query(restricted.size(), [&](ShardConnection& connection, std::size_t i, std::atomic<bool>& stop) {
    const std::vector<float> row = score_row(connection, restricted[i], ids, stop);
    std::copy(row.begin(), row.end(), out.begin() + static_cast<std::ptrdiff_t>(i * ids.size()));
  });
  return out;
}

}  // namespace ralm::xapian_shards
