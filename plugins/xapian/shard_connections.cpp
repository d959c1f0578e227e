#include "shard_connections.hpp"

#include "ralm/error.hpp"
#include "ralm/log.hpp"

namespace ralm::xapian_shards {

ShardConnections::ShardConnections(std::shared_ptr<const PassageStore> store,
                                   std::vector<ShardLocation> shards, OpenOptions options,
                                   bool partial_results)
    : store_(std::move(store)),
      shards_(std::move(shards)),
      options_(options),
      partial_results_(partial_results) {
  if (shards_.empty()) throw InputError("xapian: no shards to search");
  for (std::int64_t s = 0; s < shard_count(); ++s)
    live_.push_back(s);
  auto first = std::make_unique<ShardConnection>();
  open(*first);
  doccount_ = first->db.get_doccount();
  idle_.push_back(std::move(first));
}

ShardConnections::Lease::~Lease() {
  std::lock_guard lock(owner_->pool_mutex_);
  owner_->idle_.push_back(std::move(connection_));
}

ShardConnections::Lease ShardConnections::lease() {
  std::unique_ptr<ShardConnection> connection;
  {
    std::lock_guard lock(pool_mutex_);
    if (!idle_.empty()) {
      connection = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!connection) connection = std::make_unique<ShardConnection>();
  return Lease(*this, std::move(connection));
}

std::int64_t ShardConnections::live_shards() const {
  std::lock_guard lock(state_mutex_);
  return static_cast<std::int64_t>(live_.size());
}

void ShardConnections::open(ShardConnection& connection) {
  connection.open = false;
  {
    std::lock_guard lock(state_mutex_);
    connection.live = live_;
    connection.generation = generation_;
  }
  Xapian::Database combined;
  for (const std::int64_t s : connection.live)
    combined.add_database(
        open_shard(shards_[static_cast<std::size_t>(s)], s, shard_count(), *store_, options_));
  connection.db = combined;
  connection.open = true;
  connection.last_used = std::chrono::steady_clock::now();
}

std::string ShardConnections::probe_shards() {
  std::string failed;
  std::vector<std::int64_t> answering;
  for (const std::int64_t s : live_) {
    const ShardLocation& where = shards_[static_cast<std::size_t>(s)];
    try {
      (void)open_shard(where, s, shard_count(), *store_, options_).get_doccount();
      answering.push_back(s);
    } catch (const Error&) {
      failed += (failed.empty() ? "" : ", ") + where.name();
    }
  }
  if (partial_results_ && answering.size() < live_.size()) {
    live_ = answering;
    ++generation_;
  }
  return failed;
}

// With every shard live, combined document c is passage c - 1 (see
// shard_index.hpp); with some dropped, Xapian interleaves the live ones.
PassageId ShardConnections::passage_of(const ShardConnection& connection, Xapian::docid combined) const {
  const auto m = static_cast<std::int64_t>(connection.live.size());
  const std::int64_t c = static_cast<std::int64_t>(combined) - 1;
  return (c / m) * shard_count() + connection.live[static_cast<std::size_t>(c % m)];
}

Xapian::MSet ShardConnections::run(ShardConnection& connection, const Xapian::Query& query,
                                   const Xapian::Weight& weighting, Xapian::doccount count,
                                   std::atomic<bool>& stop) {
  // Each round of recovery drops a shard or ends (a second failure with
  // every shard answering is an error), and a retry that another thread's
  // drop caused is bounded by the shards there are to drop, so this ends.
  for (int attempt = 0;;) {
    std::string failure;
    try {
      const auto now = std::chrono::steady_clock::now();
      if (!connection.open || connection.generation != generation_ ||
          now - connection.last_used > kReopenAfterIdle)
        open(connection);
      Xapian::Enquire enquire(connection.db);
      enquire.set_query(query);
      enquire.set_weighting_scheme(weighting);
      // Every matching document is weighed (check_at_least: all of them):
      // Xapian 1.4.22's pruning of a database of several shards dropped
      // documents that belong in the top k (xapian_test's rankings caught
      // it), and exact rankings are what RaLMSpec's verification compares.
      Xapian::MSet mset = enquire.get_mset(0, count, connection.db.get_doccount());
      connection.last_used = std::chrono::steady_clock::now();
      return mset;
    } catch (const Xapian::Error& e) {
      failure = e.get_description();
    } catch (const Error& e) {  // opening a shard for a new connection
      failure = e.what();
    }
    connection.open = false;
    if (recover(connection.generation, failure, attempt, stop)) ++attempt;
  }
}

bool ShardConnections::recover(std::uint64_t seen, const std::string& failure, int attempt,
                               std::atomic<bool>& stop) {
  std::lock_guard lock(state_mutex_);
  if (stop) throw BatchStopped();
  if (seen != generation_) return false;
  const std::string failed = probe_shards();
  if (!failed.empty()) {
    if (!partial_results_) {
      stop = true;
      throw Error("xapian: shard " + failed + " did not answer (timeout_ms " +
                  std::to_string(options_.timeout_ms) + "): " + failure +
                  "; start it again, or set on_shard_failure: partial to search the others");
    }
    if (live_.empty()) {
      stop = true;
      throw Error("xapian: no shard answers: " + failure);
    }
    log_warn("xapian: searching without shard " + failed + " (" + std::to_string(live_.size()) + " of " +
             std::to_string(shards_.size()) + " left): " + failure);
  } else if (attempt > 0) {
    stop = true;
    throw Error("xapian: search failed: " + failure);
  }
  return true;
}

}  // namespace ralm::xapian_shards
