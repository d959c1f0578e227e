// Exact dense search with the passage vectors split over the ranks of an MPI
// job (`mpirun -np K+1 ralm run|compare|serve ...`, Open MPI): rank 0 runs
// the engine, rank s (1..K) holds rows shard_rows(n, K, s - 1) of the
// vectors and scans only those. A batch of queries is one message to every
// shard rank; each answers its local top k with exact scores, and rank 0
// merges them by ranks_before(), which gives exactly the unsharded top k
// (scores are the same kernel's on the same rows, and the order is total).
// Rank 0 maps the same index and scores the speculative cache's rows itself,
// with the same kernels (checked when it connects), so a cached score equals
// the search's bit for bit without a round trip.
//
// Open MPI's components are plugins that expect libmpi's symbols global;
// this plugin is opened RTLD_LOCAL, so join_job() re-opens libmpi with
// RTLD_GLOBAL before MPI_Init.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "exact_search.hpp"
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

// Ends this process without a word (MPI finalised): a shard rank leaving a
// job whose rank 0 reports why.
[[noreturn]] void leave_job(int status);

// Rows [first, first + count) of n held by shard `shard` of `shards`.
std::pair<std::int64_t, std::int64_t> shard_rows(std::int64_t n, std::int64_t shards, std::int64_t shard);

// A shard rank's life: answers rank 0's searches and scores with `shard`
// (whose row i is passage first_row + i) until rank 0 says stop or ends,
// then finalises MPI and ends the process.
// `fingerprint` says which index the rows are of: rank 0 checks its
// pipeline's against it.
[[noreturn]] void serve_shard(const ExactSearch& shard, std::int64_t first_row,
                              const std::string& fingerprint);

// Rank 0's side: sends each request to the shard ranks and waits at most
// `timeout_ms` for their answers; a rank that does not answer is an Error
// naming it. Requests from several threads are serialised.
class ShardClient {
 public:
  // Checks that the shard ranks hold the index `fingerprint` names.
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
  // and returns each one's answer.
  std::vector<std::vector<char>> exchange(const std::vector<char>& request);

  std::int64_t shards_, dim_;
  unsigned timeout_ms_;
  mutable std::mutex mutex_;
  Times times_;
};

}  // namespace ralm::dense::mpi_shards
