// BM25 through Xapian over 1 to 4 shards served by `xapian-tcpsrv` on
// loopback, against the unsharded local database in the same run (issue 21's
// benchmark, its BM25 part): p50 and p99 of a query (batch 1) and the
// throughput of a batch of 8 (parallel_queries at its default); then the time
// of a batch of 1, 4 and 16 queries run one after another (parallel_queries
// 1) and at once (8), straight to the servers and through a proxy that
// delays each way by DELAY_US (a network's round trip, which loopback does
// not have). Rounds of every configuration are interleaved so that the
// machine's drift hits all alike. Queries are 32 consecutive words of random
// passages (In-Context RALM's query shape).
//
//   build/bin/xapian_bench data/corpus [queries=200] [rounds=3] [delay_us=1000]
// Prints two tables and writes xapian_bench.json in the current folder.
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
#include <tuple>

#include "delay_proxy.hpp"
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

// A batch configuration: `shards` remote shards, straight or delayed, batches
// of `batch` queries, `parallel` of them at once.
struct BatchConfig {
  std::int64_t shards;
  bool delayed;
  std::int64_t batch;
  std::int64_t parallel;
  std::vector<double> batch_ms;  // one figure per round: the mean time of a batch
};

xs::RetrieverSettings parallel_queries(std::int64_t n) {
  xs::RetrieverSettings settings;
  settings.parallel_queries = n;
  return settings;
}

void check_same(const std::vector<std::vector<ralm::Hit>>& a, const std::vector<std::vector<ralm::Hit>>& b) {
  bool same = a.size() == b.size();
  for (std::size_t q = 0; same && q < a.size(); ++q) {
    same = a[q].size() == b[q].size();
    for (std::size_t i = 0; same && i < a[q].size(); ++i)
      same = a[q][i].id == b[q][i].id && a[q][i].score == b[q][i].score;
  }
  if (!same) throw ralm::Error("the parallel batch ranked otherwise than one query after another");
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::cerr << "usage: xapian_bench STORE_DIR [queries=200] [rounds=3] [delay_us=1000]\n";
    return 2;
  }
  const fs::path store_dir = argv[1];
  const int n_queries = argc > 2 ? std::stoi(argv[2]) : 200;
  const int rounds = argc > 3 ? std::stoi(argv[3]) : 3;
  const std::chrono::microseconds delay(argc > 4 ? std::stoi(argv[4]) : 1000);
  const auto store = ralm::PassageStore::open(store_dir);
  const fs::path work = fs::temp_directory_path() / ("xapian-bench-" + std::to_string(::getpid()));

  const std::vector<std::string> queries = ralm::bench::passage_queries(*store, n_queries);

  // The configurations: "local" (one database, in process) and "remote N".
  std::vector<std::string> names = {"local"};
  std::map<std::string, std::unique_ptr<xs::XapianRetriever>> retrievers;
  std::vector<std::unique_ptr<ralm::test::ShardServer>> servers;
  std::vector<std::unique_ptr<ralm::bench::DelayProxy>> proxies;
  std::map<std::pair<std::int64_t, bool>, std::vector<xs::ShardLocation>> shard_lists;  // (n, delayed)
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
      proxies.push_back(std::make_unique<ralm::bench::DelayProxy>(servers.back()->port(), delay));
      shard_lists[{n, true}].push_back({.path = {}, .host = "127.0.0.1", .port = proxies.back()->port()});
    }
    shard_lists[{n, false}] = where;
    const std::string name = "remote " + std::to_string(n);
    names.push_back(name);
    retrievers[name] = std::make_unique<xs::XapianRetriever>(store, where, xs::RetrieverSettings{});
  }

  // The batch configurations, each retriever checked against its
  // one-after-another twin on every query.
  std::vector<BatchConfig> batch_configs;
  std::map<std::tuple<std::int64_t, bool, std::int64_t>, std::unique_ptr<xs::XapianRetriever>>
      batch_retrievers;
  for (const auto& [key, where] : shard_lists) {
    for (const std::int64_t parallel : {1, 8})
      batch_retrievers[{key.first, key.second, parallel}] =
          std::make_unique<xs::XapianRetriever>(store, where, parallel_queries(parallel));
    check_same(batch_retrievers[{key.first, key.second, 8}]->search(queries, 10),
               batch_retrievers[{key.first, key.second, 1}]->search(queries, 10));
    for (const std::int64_t batch : {1, 4, 16})
      for (const std::int64_t parallel : {1, 8})
        batch_configs.push_back({key.first, key.second, batch, parallel, {}});
  }

  // Every retriever opens its pool of connections before the clock runs.
  for (const auto& [name, retriever] : retrievers)
    (void)retriever->search(std::span(queries).first(std::min<std::size_t>(8, queries.size())), 10);

  std::map<std::string, Figures> figures;
  for (int r = 0; r < rounds; ++r) {
    for (const std::string& name : names) {
      auto& retriever = *retrievers[name];
      Figures& f = figures[name];
      // Untimed: connections idle since the last round are reopened here.
      (void)retriever.search(std::span(queries).first(std::min<std::size_t>(8, queries.size())), 10);
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
    // Each batch is searched one after another and at once back to back
    // (which first alternates), so that the pair sees the same moment of a
    // shared machine.
    for (std::size_t c = 0; c + 1 < batch_configs.size(); c += 2) {
      BatchConfig* pair[2] = {&batch_configs[c], &batch_configs[c + 1]};
      const std::int64_t size = pair[0]->batch, batches = n_queries / size;
      double total_ms[2] = {0, 0};
      for (BatchConfig* config : pair) {
        // Untimed, the same size: reopens the connections the timed batches
        // take (the pool lends the last returned first).
        (void)batch_retrievers[{config->shards, config->delayed, config->parallel}]->search(
            std::span(queries).first(static_cast<std::size_t>(size)), 10);
      }
      for (std::int64_t i = 0; i < batches; ++i) {
        const auto batch =
            std::span(queries).subspan(static_cast<std::size_t>(i * size), static_cast<std::size_t>(size));
        for (int turn = 0; turn < 2; ++turn) {
          const int which = (turn + static_cast<int>(i)) % 2;
          const BatchConfig& config = *pair[which];
          auto& retriever = *batch_retrievers[{config.shards, config.delayed, config.parallel}];
          const auto s = Clock::now();
          (void)retriever.search(batch, 10);
          total_ms[which] += std::chrono::duration<double, std::milli>(Clock::now() - s).count();
        }
      }
      for (int which = 0; which < 2; ++which)
        pair[which]->batch_ms.push_back(total_ms[which] / static_cast<double>(batches));
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

  std::printf("\n%-7s %9s %6s %22s %20s %9s\n", "SHARDS", "DELAY us", "BATCH", "one after another ms",
              "parallel (8) ms", "ratio");
  for (std::size_t i = 0; i + 1 < batch_configs.size(); i += 2) {
    const BatchConfig &one = batch_configs[i], &par = batch_configs[i + 1];
    const double one_ms = percentile(one.batch_ms, 0.5), par_ms = percentile(par.batch_ms, 0.5);
    const long long delay_us = one.delayed ? static_cast<long long>(delay.count()) : 0;
    std::printf("%-7lld %9lld %6lld %22.2f %20.2f %8.2fx\n", static_cast<long long>(one.shards), delay_us,
                static_cast<long long>(one.batch), one_ms, par_ms, one_ms / par_ms);
    out["batches"].push_back({{"shards", one.shards},
                              {"delay_us", delay_us},
                              {"batch", one.batch},
                              {"sequential_ms", one_ms},
                              {"parallel8_ms", par_ms}});
  }
  std::printf("ms per batch, the median of %d rounds; each delayed byte waits %lld us each way\n", rounds,
              static_cast<long long>(delay.count()));
  std::ofstream("xapian_bench.json") << out.dump(2) << "\n";
  retrievers.clear();
  batch_retrievers.clear();
  proxies.clear();
  servers.clear();
  fs::remove_all(work);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "xapian_bench: " << e.what() << "\n";
  return 2;
}
