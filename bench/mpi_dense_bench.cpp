// Exact dense search over the ranks of an Open MPI job against the same
// search in one process, in the same run (issue 21's benchmark, its dense
// part). Run as `mpirun -np K+1 build/bin/mpi_dense_bench [n] [dim] [queries]
// [rounds]`: rank 0 holds all n x dim vectors (a seeded random matrix) and
// searches them itself ("local") and through ranks 1..K, each holding n / K
// rows ("K shards"), rounds of the two interleaved so that the machine's
// drift hits both alike; the answers are checked equal, bit for bit.
// bench/mpi_dense_bench.sh runs K = 1..4 and gathers the figures.
//
// Prints one JSON line: p50 and p99 of a batch of 1 and of 8 queries (k 10),
// for local and sharded.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "exact_search.hpp"
#include "mpi_shards.hpp"
#include "passage_queries.hpp"
#include "ralm/error.hpp"
#include "shard_files.hpp"

using ralm::bench::percentile;

namespace {

using Clock = std::chrono::steady_clock;
namespace mpi = ralm::dense::mpi_shards;
using ralm::dense::ExactSearch;

// Row r of the matrix depends on r alone, so a shard rank makes its rows
// without the others.
void fill_rows(float* out, std::int64_t first, std::int64_t rows, std::int64_t dim) {
  for (std::int64_t r = 0; r < rows; ++r) {
    std::mt19937 rng(static_cast<std::uint32_t>(first + r) * 2654435761u + 1);
    std::normal_distribution<float> g;
    float norm = 0;
    float* row = out + r * dim;
    for (std::int64_t d = 0; d < dim; ++d) {
      row[d] = g(rng);
      norm += row[d] * row[d];
    }
    for (std::int64_t d = 0; d < dim; ++d)
      row[d] /= std::sqrt(norm);
  }
}

}  // namespace

int main(int argc, char** argv) try {
  const std::int64_t n = argc > 1 ? std::stoll(argv[1]) : 2000000;
  const std::int64_t dim = argc > 2 ? std::stoll(argv[2]) : 768;
  const int n_queries = argc > 3 ? std::stoi(argv[3]) : 64;
  const int rounds = argc > 4 ? std::stoi(argv[4]) : 3;
  const int threads = 1;  // each rank one thread: ranks are the parallelism
  const mpi::Job job = mpi::join_job();
  const std::int64_t shards = job.size - 1;
  if (shards < 1) throw ralm::InputError("mpi_dense_bench: run under mpirun -np K+1 (K >= 1)");
  const auto kernels = ralm::dense::default_scan_kernels();
  if (job.rank > 0) {
    const auto [first, rows] = ralm::dense::shard_rows(n, shards, job.rank - 1);
    std::vector<float> mine(static_cast<std::size_t>(rows * dim));
    fill_rows(mine.data(), first, rows, dim);
    const ExactSearch exact(mine.data(), rows, dim, ralm::dense::Metric::inner_product, kernels, threads);
    mpi::serve_shard([&] {
      mpi::ServedShard served;
      served.dim = dim;
      served.first_row = first;
      served.search = [&exact](const float* q, std::int64_t nq, std::int64_t k) {
        return exact.search(q, nq, std::min(k, exact.size()));
      };
      served.fingerprint = "bench";
      return served;
    });
  }
  std::vector<float> all(static_cast<std::size_t>(n * dim));
  fill_rows(all.data(), 0, n, dim);
  const ExactSearch local(all.data(), n, dim, ralm::dense::Metric::inner_product, kernels, threads);
  mpi::ShardClient sharded(shards, dim, 600000, "bench");
  std::vector<float> queries(static_cast<std::size_t>(n_queries * dim));
  fill_rows(queries.data(), n, n_queries, dim);  // rows past the matrix: new vectors

  std::vector<double> local1, local8, sharded1, sharded8;
  for (int r = 0; r < rounds; ++r) {
    for (int q = 0; q < n_queries; ++q) {
      const float* v = queries.data() + static_cast<std::int64_t>(q) * dim;
      auto t = Clock::now();
      const auto a = local.search(v, 1, 10);
      local1.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
      t = Clock::now();
      const auto b = sharded.search(v, 1, 10);
      sharded1.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
      for (std::size_t i = 0; i < a[0].size(); ++i) {
        if (a[0][i].id != b[0][i].id || a[0][i].score != b[0][i].score)
          throw ralm::Error("sharded and local answers differ");
      }
    }
    for (int q = 0; q + 8 <= n_queries; q += 8) {
      const float* v = queries.data() + static_cast<std::int64_t>(q) * dim;
      auto t = Clock::now();
      (void)local.search(v, 8, 10);
      local8.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
      t = Clock::now();
      (void)sharded.search(v, 8, 10);
      sharded8.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    }
  }
  const mpi::ShardClient::Times t = sharded.times();
  const nlohmann::json out = {
      {"sharded_time_split",
       {{"exchanges", t.exchanges},
        {"wall_ms_per_exchange", 1e3 * t.wall_s / static_cast<double>(t.exchanges)},
        {"slowest_shard_ms_per_exchange", 1e3 * t.slowest_shard_s / static_cast<double>(t.exchanges)},
        {"network_ms_per_exchange", 1e3 * t.network_s() / static_cast<double>(t.exchanges)}}},
      {"n", n},
      {"dim", dim},
      {"shards", shards},
      {"scan_kernels", ralm::dense::scan_kernels_name(kernels)},
      {"local",
       {{"batch1_p50_ms", percentile(local1, 0.5)},
        {"batch1_p99_ms", percentile(local1, 0.99)},
        {"batch8_p50_ms", percentile(local8, 0.5)},
        {"batch8_p99_ms", percentile(local8, 0.99)}}},
      {"sharded",
       {{"batch1_p50_ms", percentile(sharded1, 0.5)},
        {"batch1_p99_ms", percentile(sharded1, 0.99)},
        {"batch8_p50_ms", percentile(sharded8, 0.5)},
        {"batch8_p99_ms", percentile(sharded8, 0.99)}}}};
  std::cout << out.dump() << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::cerr << "mpi_dense_bench: " << e.what() << "\n";
  return 2;
}
