// Dense search with the rows (passage vectors, kNN-LM keys) split over the
// ranks of an MPI job (`mpirun -np K+1 ralm run|compare|serve ...`, Open
// MPI): rank 0 runs the engine, rank s (1..K) holds shard s - 1 of the rows
// (its own file set, shard_files.hpp) and searches only those, exactly
// (Flat) or through the shard's approximate index. A batch of queries is one
// message to every shard rank; each answers its local top k with exact
// scores, and rank 0 merges them by ranks_before(), which gives exactly the
// unsharded top k (scores are the same kernel's on the same rows, and the
// order is total; an IVF shard probes the lists the unsharded index would).
// Rank 0 maps the whole rows file and scores the speculative cache's rows
// itself, with the same kernels (checked when it connects), so a cached
// score equals the search's bit for bit without a round trip.
//
// Open MPI's components are plugins that expect libmpi's symbols global;
// this plugin is opened RTLD_LOCAL, so join_job() re-opens libmpi with
// RTLD_GLOBAL before MPI_Init.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "ralm/types.hpp"

namespace ralm::dense::mpi_shards {

struct Job {
  int rank = 0;
  int size = 1;
};

// Joins the MPI job this process was started in (MPI initialised once, and
// finalised at exit); an InputError when the process was not started by
// mpirun.
Job join_job();

// Rank 0: tells shard ranks 1..shards to stop when this process ends,
// however it ends (an error while it builds the pipeline too), so that they
// finalise MPI with it instead of waiting for work that never comes. The
// shard ranks serve until then (`ralm compare` opens one pipeline after
// another over the same ranks).
void stop_shard_ranks_at_exit(std::int64_t shards);

// Ends this process without a word (MPI finalised): a shard rank leaving a
// job whose rank 0 reports why.
[[noreturn]] void leave_job(int status);

// A shard rank's search over its own rows: the best k (at most) of them for
// each of nq queries (nq x dim), ranked by ranks_before(), ids local (row i
// of the shard is i).
using LocalSearch =
    std::function<std::vector<std::vector<Hit>>(const float* queries, std::int64_t nq, std::int64_t k)>;

// What a shard rank serves, once open.
struct ServedShard {
  std::int64_t dim = 0;
  std::int64_t first_row = 0;  // the shard's row i is global row first_row + i
  LocalSearch search;
  // Which rows these are (index, corpus, encoder, the rows' checksum):
  // rank 0 checks its pipeline's against it.
  std::string fingerprint;
};

// A shard rank's life: at rank 0's first greeting (once rank 0 has built
// what was missing) opens its shard with `open`, then answers rank 0's
// searches until rank 0 says stop or ends, then finalises MPI and ends the
// process. An InputError from `open` is answered to rank 0, which reports it
// as its one error line.
[[noreturn]] void serve_shard(const std::function<ServedShard()>& open);

// Rank 0's side: sends each request to the shard ranks and waits at most
// `timeout_ms` for their answers; a rank that does not answer is an Error
// naming it. Requests from several threads are serialised.
class ShardClient {
 public:
  // Greets the shard ranks, which open their shards then, and checks that
  // they hold the rows `fingerprint` names; a rank that could not open its
  // shard is an InputError naming the rank and its reason.
  ShardClient(std::int64_t shards, std::int64_t dim, unsigned timeout_ms, const std::string& fingerprint);
  ShardClient(const ShardClient&) = delete;
  ShardClient& operator=(const ShardClient&) = delete;

  std::vector<std::vector<Hit>> search(const float* queries, std::int64_t nq, std::int64_t k);

  // Where the time of the requests so far went: each request waits for its
  // slowest shard rank's work (search) and for the messages (the rest:
  // network, and rank 0's own merging).
  struct Times {
    std::int64_t exchanges = 0;
    double wall_s = 0;
    double slowest_shard_s = 0;
    double network_s() const { return wall_s - slowest_shard_s; }
  };
  Times times() const {
    std::lock_guard lock(mutex_);
    return times_;
  }

 private:
  // Sends `request` to every shard rank (one buffer, not a copy per rank)
  // and returns each one's answer, waiting at most `timeout_ms`: a rank that
  // does not answer is an Error naming it and `awaited` (what it did not
  // answer, and within what).
  std::vector<std::vector<char>> exchange(const std::vector<char>& request, unsigned timeout_ms,
                                          const std::string& awaited);

  std::int64_t shards_, dim_;
  unsigned timeout_ms_;
  mutable std::mutex mutex_;
  Times times_;
};

}  // namespace ralm::dense::mpi_shards
