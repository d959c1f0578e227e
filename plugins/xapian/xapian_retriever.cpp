#include "xapian_retriever.hpp"

#include <algorithm>
#include <unordered_map>

#include "ralm/error.hpp"
#include "ralm/log.hpp"
#include "ralm/text_analysis/analyzer.hpp"

namespace ralm::xapian_shards {

XapianRetriever::XapianRetriever(std::shared_ptr<const PassageStore> store, std::vector<ShardLocation> shards,
                                 RetrieverSettings settings)
    : store_(std::move(store)), shards_(std::move(shards)), settings_(settings) {
  if (shards_.empty()) throw InputError("xapian: no shards to search");
  for (std::int64_t s = 0; s < static_cast<std::int64_t>(shards_.size()); ++s)
    live_.push_back(s);
  open_live_shards();
  if (db_.get_doccount() != static_cast<Xapian::doccount>(store_->size())) {
    throw InputError("xapian: the " + std::to_string(shards_.size()) + " shards hold " +
                     std::to_string(db_.get_doccount()) + " passages, " + store_->dir().string() + " has " +
                     std::to_string(store_->size()) + "; rebuild the index with `ralm index build --force`");
  }
}

std::int64_t XapianRetriever::live_shards() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::int64_t>(live_.size());
}

void XapianRetriever::open_live_shards() {
  Xapian::Database combined;
  const auto count = static_cast<std::int64_t>(shards_.size());
  for (const std::int64_t s : live_)
    combined.add_database(
        open_shard(shards_[static_cast<std::size_t>(s)], s, count, *store_, settings_.open));
  db_ = combined;
}

std::string XapianRetriever::probe_shards() {
  std::string failed;
  std::vector<std::int64_t> answering;
  const auto count = static_cast<std::int64_t>(shards_.size());
  for (const std::int64_t s : live_) {
    const ShardLocation& where = shards_[static_cast<std::size_t>(s)];
    try {
      (void)open_shard(where, s, count, *store_, settings_.open).get_doccount();
      answering.push_back(s);
    } catch (const Error&) {
      failed += (failed.empty() ? "" : ", ") + where.name();
    }
  }
  if (settings_.partial_results) live_ = answering;
  return failed;
}

// With every shard live, combined document c is passage c - 1 (see
// shard_index.hpp); with some dropped, Xapian interleaves the live ones.
PassageId XapianRetriever::passage_of(Xapian::docid combined) const {
  const auto m = static_cast<std::int64_t>(live_.size()), n = static_cast<std::int64_t>(shards_.size());
  const std::int64_t c = static_cast<std::int64_t>(combined) - 1;
  return (c / m) * n + live_[static_cast<std::size_t>(c % m)];
}

Xapian::MSet XapianRetriever::run(const Xapian::Query& query, Xapian::doccount count) {
  // A failed search probes every shard: one that does not answer is named
  // (or, with partial results, dropped); when all answer, the search is
  // retried once on fresh connections (a shard restarted since the last
  // search answers again). Each round drops a shard or ends, so this ends.
  for (int attempt = 0;; ++attempt) {
    try {
      Xapian::Enquire enquire(db_);
      enquire.set_query(query);
      enquire.set_weighting_scheme(Xapian::BM25Weight(settings_.k1, 0, 1, settings_.b, 0.5));
      // Every matching document is weighed (check_at_least: all of them):
      // Xapian 1.4.22's pruning of a database of several shards dropped
      // documents that belong in the top k (xapian_test's rankings caught
      // it), and exact rankings are what RaLMSpec's verification compares.
      Xapian::MSet mset = enquire.get_mset(0, count, db_.get_doccount());
      return mset;
    } catch (const Xapian::Error& e) {
      const std::string failed = probe_shards();
      if (!failed.empty()) {
        if (!settings_.partial_results) {
          throw Error("xapian: shard " + failed + " did not answer (timeout_ms " +
                      std::to_string(settings_.open.timeout_ms) + "): " + e.get_description() +
                      "; start it again, or set on_shard_failure: partial to search the others");
        }
        if (live_.empty()) throw Error("xapian: no shard answers: " + e.get_description());
        log_warn("xapian: searching without shard " + failed + " (" + std::to_string(live_.size()) + " of " +
                 std::to_string(shards_.size()) + " left): " + e.get_description());
      } else if (attempt > 0) {
        throw Error("xapian: search failed: " + e.get_description());
      }
      open_live_shards();
    }
  }
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
std::vector<Hit> XapianRetriever::top_k(const Xapian::Query& query, std::int64_t k) {
  auto count = static_cast<Xapian::doccount>(k);
  for (;;) {
    const Xapian::MSet mset = run(query, count);
    std::vector<Hit> hits;
    hits.reserve(mset.size());
    for (auto it = mset.begin(); it != mset.end(); ++it)
      hits.push_back({passage_of(*it), static_cast<float>(it.get_weight())});
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
  std::lock_guard lock(mutex_);
  std::vector<std::vector<Hit>> results;
  for (const Xapian::Query& q : parsed) {
    results.push_back(top_k(q, k));
    if (live_.size() < shards_.size()) ++partial_searches_;
  }
  return results;
}

std::vector<float> XapianRetriever::score(std::string_view query, std::span<const PassageId> ids) {
  std::vector<Xapian::Query> filter;
  for (const PassageId id : ids) {
    if (id < 0 || id >= size()) {
      throw InputError("xapian: passage id " + std::to_string(id) + " is outside 0.." +
                       std::to_string(size() - 1));
    }
    filter.emplace_back("Q" + std::to_string(id));
  }
  const Xapian::Query restricted(Xapian::Query::OP_FILTER, parse(query),
                                 Xapian::Query(Xapian::Query::OP_OR, filter.begin(), filter.end()));
  std::unordered_map<PassageId, float> found;
  {
    std::lock_guard lock(mutex_);
    const Xapian::MSet mset = run(restricted, static_cast<Xapian::doccount>(ids.size()));
    for (auto it = mset.begin(); it != mset.end(); ++it)
      found[passage_of(*it)] = static_cast<float>(it.get_weight());
    if (live_.size() < shards_.size()) ++partial_searches_;
  }
  std::vector<float> out;
  out.reserve(ids.size());
  for (const PassageId id : ids) {
    const auto it = found.find(id);
    out.push_back(it == found.end() ? 0.0f : it->second);
  }
  return out;
}

}  // namespace ralm::xapian_shards
