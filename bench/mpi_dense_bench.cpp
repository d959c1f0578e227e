// Dense search over the ranks of an Open MPI job against the same search in
// one process, in the same run (issue 21's benchmark, its dense part). Run
// as `mpirun -np K+1 build/bin/mpi_dense_bench [n] [dim] [queries] [rounds]
// [index] [nprobe]`: rank 0 holds all n x dim vectors (a seeded random
// matrix) and searches them itself ("local") and through ranks 1..K, each
// holding n / K rows ("K shards"), rounds of the two interleaved so that the
// machine's drift hits both alike; the answers are checked equal, bit for
// bit. `index` Flat (the default) scans exactly; an IVF…,Flat factory string
// trains one index on every rank alike (the same sample, FAISS's seeded
// k-means, one thread) and gives each shard that training with its rows
// only, as `ralm index build` does for shard file sets, searched at
// `nprobe` (default 16). bench/mpi_dense_bench.sh runs K = 1..4 and gathers
// the figures.
//
// Prints one JSON line: p50 and p99 of a batch of 1 and of 8 queries (k 10),
// for local and sharded.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <vector>

#include "exact_search.hpp"
#include "faiss_index.hpp"
#include "ivf_flat_scan.hpp"
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

// A search over `count` rows: exact, or an IVF…,Flat index trained on a
// sample of all n rows (the same on every rank) holding only these rows.
class RowSearch {
 public:
  RowSearch(const float* rows, std::int64_t count, std::int64_t n, std::int64_t dim, const std::string& index,
            std::int64_t nprobe) {
    const auto metric = ralm::dense::Metric::inner_product;
    const auto kernels = ralm::dense::default_scan_kernels();
    rows_ = count;
    if (index == "Flat") {
      exact_.emplace(rows, count, dim, metric, kernels, 1);
      return;
    }
    const std::int64_t samples = std::min<std::int64_t>(n, 65536);
    std::vector<float> sample(static_cast<std::size_t>(samples * dim));
    for (std::int64_t i = 0; i < samples; ++i)
      fill_rows(sample.data() + i * dim, i * n / samples, 1, dim);
    const auto trained = ralm::dense::FaissIndex::build("", index, metric, sample.data(), samples, dim, 1);
    const auto file =
        std::filesystem::temp_directory_path() / ("mpi_dense_bench-" + std::to_string(getpid()) + ".faiss");
    trained->write_sharing_training(file, rows, count, 1);
    faiss_ = std::make_unique<ralm::dense::FaissIndex>(file);
    std::filesystem::remove(file);
    faiss_->set_search_parameters(nprobe, 0);
    ivf_ = ralm::dense::IvfFlatScan::of(*faiss_, metric, kernels);
    if (!ivf_) throw ralm::InputError("mpi_dense_bench: " + index + " is not an IVF…,Flat index");
  }
  std::vector<std::vector<ralm::Hit>> search(const float* q, std::int64_t nq, std::int64_t k) const {
    k = std::min(k, rows_);
    return exact_ ? exact_->search(q, nq, k) : ivf_->search(q, nq, k);
  }

 private:
  std::int64_t rows_ = 0;
  std::optional<ExactSearch> exact_;
  std::unique_ptr<ralm::dense::FaissIndex> faiss_;
  std::optional<ralm::dense::IvfFlatScan> ivf_;
};

}  // namespace

int main(int argc, char** argv) try {
  const std::int64_t n = argc > 1 ? std::stoll(argv[1]) : 2000000;
  const std::int64_t dim = argc > 2 ? std::stoll(argv[2]) : 768;
  const int n_queries = argc > 3 ? std::stoi(argv[3]) : 64;
  const int rounds = argc > 4 ? std::stoi(argv[4]) : 3;
  const std::string index = argc > 5 ? argv[5] : "Flat";
  const std::int64_t nprobe = argc > 6 ? std::stoll(argv[6]) : 16;
  const mpi::Job job = mpi::join_job();
  const std::int64_t shards = job.size - 1;
  if (shards < 1) throw ralm::InputError("mpi_dense_bench: run under mpirun -np K+1 (K >= 1)");
  const auto kernels = ralm::dense::default_scan_kernels();
  if (job.rank > 0) {
    const auto [first, rows] = ralm::dense::shard_rows(n, shards, job.rank - 1);
    std::vector<float> mine(static_cast<std::size_t>(rows * dim));
    fill_rows(mine.data(), first, rows, dim);
    const RowSearch search(mine.data(), rows, n, dim, index, nprobe);
    mpi::serve_shard([&] {
      mpi::ServedShard served;
      served.dim = dim;
      served.first_row = first;
      served.search = [&search](const float* q, std::int64_t nq, std::int64_t k) {
        return search.search(q, nq, k);
      };
      served.fingerprint = "bench";
      return served;
    });
  }
  std::vector<float> all(static_cast<std::size_t>(n * dim));
  fill_rows(all.data(), 0, n, dim);
  const RowSearch local(all.data(), n, n, dim, index, nprobe);
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
      {"index", index},
      {"nprobe", index == "Flat" ? 0 : nprobe},
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
