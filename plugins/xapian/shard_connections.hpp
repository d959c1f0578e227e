// The xapian retriever's connections to its shards: a pool of Xapian
// databases, each over the same shards (local folders or `xapian-tcpsrv`
// servers), so that several threads can search at once (a Xapian::Database
// is not thread-safe, and Xapian's remote protocol answers one query per
// round trip on a connection). Which shards are in use is shared: a shard
// that fails is probed once, then named in one error, or (partial results)
// dropped from every connection.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <xapian.h>

#include "ralm/passage_store.hpp"
#include "shard_index.hpp"

namespace ralm::xapian_shards {

// One Xapian database over the shards in use, for one thread at a time.
struct ShardConnection {
  Xapian::Database db;
  std::vector<std::int64_t> live;  // the shards in db, in order
  std::uint64_t generation = 0;    // of the shards in use when it was opened
  bool open = false;
  std::chrono::steady_clock::time_point last_used;
};

// `xapian-tcpsrv` closes a connection idle for 60 s (its --idle-timeout's
// default); a pooled connection idle for half that is reopened before use,
// rather than failing and probing every shard (which still covers a server
// with a shorter timeout).
inline constexpr std::chrono::seconds kReopenAfterIdle{30};

// Thrown by ShardConnections::run() in a thread whose batch has already
// failed in another thread (which throws the batch's one error): the thread
// stops without probing the shards again.
struct BatchStopped : std::exception {
  const char* what() const noexcept override { return "xapian: the batch stopped on another query's error"; }
};

class ShardConnections {
 public:
  // Opens the first connection: a shard that cannot be opened, or is not
  // shard i of shards.size() of `store`, is an InputError naming it.
  ShardConnections(std::shared_ptr<const PassageStore> store, std::vector<ShardLocation> shards,
                   OpenOptions options, bool partial_results);
  ShardConnections(const ShardConnections&) = delete;
  ShardConnections& operator=(const ShardConnections&) = delete;

  // A connection for the calling thread until the lease ends: an idle one,
  // or a new one, opened on its first run().
  class Lease {
   public:
    Lease(ShardConnections& owner, std::unique_ptr<ShardConnection> connection)
        : owner_(&owner), connection_(std::move(connection)) {}
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ShardConnection& operator*() const { return *connection_; }

   private:
    ShardConnections* owner_;
    std::unique_ptr<ShardConnection> connection_;
  };
  Lease lease();

  // Runs `enquire`'s query (limited to `count` results) on `connection`,
  // (re)opening it over the shards in use. A failure probes every shard: one
  // that does not answer is named in an Error (or, with partial results,
  // dropped); when all answer, the query is retried once on a fresh
  // connection. `stop` is the batch's: set here before the batch's error is
  // thrown, and once set, a failure in another of its threads throws
  // BatchStopped instead of probing again.
  Xapian::MSet run(ShardConnection& connection, const Xapian::Query& query, const Xapian::Weight& weighting,
                   Xapian::doccount count, std::atomic<bool>& stop);

  // The passage that document `combined` of `connection` is.
  PassageId passage_of(const ShardConnection& connection, Xapian::docid combined) const;

  // The documents of all shards (the first connection's count).
  Xapian::doccount doccount() const { return doccount_; }
  std::int64_t shard_count() const { return static_cast<std::int64_t>(shards_.size()); }
  std::int64_t live_shards() const;
  const OpenOptions& options() const { return options_; }

 private:
  void open(ShardConnection& connection);
  // After a failed query on a connection opened at `seen`: whether it counts
  // as an attempt (false: another thread dropped a shard since; retry).
  bool recover(std::uint64_t seen, const std::string& failure, int attempt, std::atomic<bool>& stop);
  // Which shards do not answer now ("HOST:PORT, ..."); drops them when
  // partial results are allowed. Called with state_mutex_ held.
  std::string probe_shards();

  std::shared_ptr<const PassageStore> store_;
  std::vector<ShardLocation> shards_;
  OpenOptions options_;
  bool partial_results_;
  Xapian::doccount doccount_ = 0;

  mutable std::mutex state_mutex_;            // live_, generation_'s changes, the probes
  std::vector<std::int64_t> live_;            // the shards in use, in order
  std::atomic<std::uint64_t> generation_{0};  // bumped when live_ changes

  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<ShardConnection>> idle_;
};

}  // namespace ralm::xapian_shards
