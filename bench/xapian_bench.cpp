// BM25 through Xapian over 1 to 4 shards served by `xapian-tcpsrv` on
// loopback, against the unsharded local database in the same run (issue 21's
// benchmark, its BM25 part): p50 and p99 of a query (batch 1) and the
// throughput of a batch of 8, rounds of every configuration interleaved so
// that the machine's drift hits all alike. Queries are 32 consecutive words
// of random passages (In-Context RALM's query shape).
//
//   build/bin/xapian_bench data/corpus [queries=200] [rounds=3]
// Prints a table and writes xapian_bench.json in the current folder.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "passage_queries.hpp"
#include "ralm/error.hpp"
#include "shard_index.hpp"
#include "xapian_retriever.hpp"
#include "xapian_tcpsrv.hpp"

using ralm::bench::percentile;

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
namespace xs = ralm::xapian_shards;

struct Figures {
  std::vector<double> query_ms;    // batch 1, every round
  std::vector<double> batch8_qps;  // one figure per round
};

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::cerr << "usage: xapian_bench STORE_DIR [queries=200] [rounds=3]\n";
    return 2;
  }
  const fs::path store_dir = argv[1];
  const int n_queries = argc > 2 ? std::stoi(argv[2]) : 200;
  const int rounds = argc > 3 ? std::stoi(argv[3]) : 3;
  const auto store = ralm::PassageStore::open(store_dir);
  const fs::path work = fs::temp_directory_path() / ("xapian-bench-" + std::to_string(::getpid()));

  const std::vector<std::string> queries = ralm::bench::passage_queries(*store, n_queries);

  // The configurations: "local" (one database, in process) and "remote N".
  std::vector<std::string> names = {"local"};
  std::map<std::string, std::unique_ptr<xs::XapianRetriever>> retrievers;
  std::vector<std::unique_ptr<ralm::test::ShardServer>> servers;
  nlohmann::json out = {{"store", store_dir.string()}, {"passages", store->size()}, {"queries", n_queries}};
  for (std::int64_t n = 1; n <= 4; ++n) {
    const fs::path dir = work / std::to_string(n);
    const auto t0 = Clock::now();
    xs::build_shards(*store, dir, n, false);
    out["build_s"][std::to_string(n)] = std::chrono::duration<double>(Clock::now() - t0).count();
    if (n == 1) {
      retrievers["local"] = std::make_unique<xs::XapianRetriever>(
          store, std::vector<xs::ShardLocation>{{.path = xs::shard_path(dir, 0), .host = "", .port = 0}},
          xs::RetrieverSettings{});
    }
    std::vector<xs::ShardLocation> where;
    for (std::int64_t s = 0; s < n; ++s) {
      servers.push_back(std::make_unique<ralm::test::ShardServer>(xs::shard_path(dir, s)));
      where.push_back({.path = {}, .host = "127.0.0.1", .port = servers.back()->port()});
    }
    const std::string name = "remote " + std::to_string(n);
    names.push_back(name);
    retrievers[name] = std::make_unique<xs::XapianRetriever>(store, where, xs::RetrieverSettings{});
  }

  std::map<std::string, Figures> figures;
  for (int r = 0; r < rounds; ++r) {
    for (const std::string& name : names) {
      auto& retriever = *retrievers[name];
      Figures& f = figures[name];
      for (const std::string& q : queries) {
        const auto s = Clock::now();
        if (retriever.search({&q, 1}, 10)[0].empty()) throw ralm::Error("a query found nothing: " + q);
        f.query_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
      }
      const auto s = Clock::now();
      for (int i = 0; i + 8 <= n_queries; i += 8)
        (void)retriever.search(std::span(queries).subspan(static_cast<std::size_t>(i), 8), 10);
      f.batch8_qps.push_back((n_queries / 8 * 8) / std::chrono::duration<double>(Clock::now() - s).count());
    }
  }

  const double local_p50 = percentile(figures["local"].query_ms, 0.5);
  std::printf("%-10s %9s %9s %14s %16s\n", "SHARDS", "p50 ms", "p99 ms", "p50 vs local", "batch 8 q/s");
  for (const std::string& name : names) {
    const Figures& f = figures[name];
    const double p50 = percentile(f.query_ms, 0.5), p99 = percentile(f.query_ms, 0.99);
    const double qps = percentile(f.batch8_qps, 0.5);
    std::printf("%-10s %9.3f %9.3f %13.2fx %16.1f\n", name.c_str(), p50, p99, p50 / local_p50, qps);
    out["configs"][name] = {{"p50_ms", p50}, {"p99_ms", p99}, {"batch8_qps", qps}};
  }
  std::printf("passages %lld, %d queries x %d rounds, k = 10\n", static_cast<long long>(store->size()),
              n_queries, rounds);
  std::ofstream("xapian_bench.json") << out.dump(2) << "\n";
  retrievers.clear();
  servers.clear();
  fs::remove_all(work);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "xapian_bench: " << e.what() << "\n";
  return 2;
}
