// BM25 query latency on a passage store (issue 4's benchmark, first part):
// p50 and p99 per query at batch 1 and batch 8, with queries of 32 words
// taken from passages of the store itself (the shape of In-Context RALM's
// 32-token queries), and the index build time and size.
//
//   build/bin/bm25_bench data/corpus [queries=400] [threads=2]
// Prints a table and writes bm25_bench.json in the current folder.
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "bm25_index.hpp"
#include "bm25_retriever.hpp"
#include "passage_queries.hpp"
#include "ralm/error.hpp"

using ralm::bench::percentile;

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

std::uintmax_t folder_bytes(const fs::path& dir) {
  std::uintmax_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    n += e.file_size();
  return n;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::cerr << "usage: bm25_bench STORE_DIR [queries=400] [threads=2]\n";
    return 2;
  }
  const fs::path store_dir = argv[1];
  const int n_queries = argc > 2 ? std::stoi(argv[2]) : 400;
  const int threads = argc > 3 ? std::stoi(argv[3]) : 2;
  const auto store = ralm::PassageStore::open(store_dir);

  const fs::path index_dir = fs::temp_directory_path() / ("bm25-bench-" + std::to_string(::getpid()));
  const auto t0 = Clock::now();
  ralm::bm25::build_index(*store, index_dir, true);
  const double build_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto index_bytes = folder_bytes(index_dir);
  ralm::bm25::Bm25Retriever retriever(
      store, std::make_unique<ralm::bm25::Bm25Index>(index_dir, *store, 0.9f, 0.4f), threads);

  const std::vector<std::string> queries = ralm::bench::passage_queries(*store, n_queries);

  nlohmann::json out = {{"store", store_dir.string()}, {"passages", store->size()},
                        {"index_build_s", build_s},    {"index_bytes", index_bytes},
                        {"threads", threads},          {"queries", n_queries}};
  std::printf("%-8s %10s %10s %12s\n", "BATCH", "p50 ms", "p99 ms", "per query ms");
  for (const int batch : {1, 8}) {
    std::vector<double> per_call;
    for (int i = 0; i + batch <= n_queries; i += batch) {
      const auto s = Clock::now();
      const auto hits = retriever.search(std::span(queries).subspan(static_cast<std::size_t>(i), batch), 1);
      per_call.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
      if (hits.size() != static_cast<std::size_t>(batch)) return 1;
    }
    const double p50 = percentile(per_call, 0.5), p99 = percentile(per_call, 0.99);
    std::printf("%-8d %10.3f %10.3f %12.3f\n", batch, p50, p99, p50 / batch);
    out["batch_" + std::to_string(batch)] = {{"p50_ms", p50}, {"p99_ms", p99}};
  }
  std::printf("passages %lld, index built in %.2f s, %.1f MB\n", static_cast<long long>(store->size()),
              build_s, static_cast<double>(index_bytes) / 1e6);
  std::ofstream("bm25_bench.json") << out.dump(2) << "\n";
  fs::remove_all(index_dir);
  return 0;
} catch (const ralm::Error& e) {
  std::cerr << "bm25_bench: " << e.what() << "\n";
  return 2;
}
