// Dense retrieval benchmarks (issue 4).
//
//   build/bin/dense_bench corpus STORE_DIR [queries=400] [threads=2]
//     On a passage store: the lsa encoder's build time, then for Flat (our
//     exact scan) and each approximate FAISS index: build time, index size,
//     p50 and p99 latency of search(k=10) at batch 1 and 8 (query encoding
//     included), and recall@10 against Flat. Queries are 32 consecutive words
//     of random passages, as bm25_bench's. Writes dense_bench_corpus.json.
//
//   build/bin/dense_bench flat STORE_DIR [queries=400] [threads=2]
//     Where an exact search's time goes, batch 1 to 8: p50 of encoding the
//     queries, of the scan and top-k on encoded queries, and of the whole
//     search(). Uses STORE_DIR/dense-lsa256 when it is there (else builds one
//     in a temporary folder).
//
//   build/bin/dense_bench scale [n=2000000] [dim=768] [threads=2] [index=IVF1024,Flat] [nprobe=16]
//     The retrieval-dominated regime: n x dim filler vectors (clustered
//     Gaussians, fixed seed; 6 GB at the defaults, so run it once, under
//     nice). The exact scan at batch 1 and 8 beside a streaming read of the
//     same memory on the same threads (the floor), then a FAISS IVF index
//     over the same vectors: build time, latency, recall@10 against exact
//     (index `none`: the exact scan only). Writes dense_bench_scale.json.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "dense_index_files.hpp"
#include "dense_retriever.hpp"
#include "exact_search.hpp"
#include "faiss_index.hpp"
#include "passage_queries.hpp"
#include "ralm/error.hpp"

using ralm::bench::percentile;

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using namespace ralm::dense;
using ralm::Hit;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::uintmax_t folder_bytes(const fs::path& dir, bool recursive) {
  std::uintmax_t n = 0;
  if (recursive) {
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file()) n += e.file_size();
  } else {
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) n += e.file_size();
  }
  return n;
}

double recall(const std::vector<std::vector<Hit>>& got, const std::vector<std::vector<Hit>>& want) {
  double found = 0, total = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    std::set<ralm::PassageId> truth;
    for (const Hit& h : want[i])
      truth.insert(h.id);
    for (const Hit& h : got[i])
      found += static_cast<double>(truth.count(h.id));
    total += static_cast<double>(want[i].size());
  }
  return found / total;
}

// p50 and p99 of `call(first, batch)` over consecutive batches.
template <class Call>
std::pair<double, double> latency(std::int64_t n_queries, std::int64_t batch, Call call) {
  std::vector<double> ms;
  for (std::int64_t i = 0; i + batch <= n_queries; i += batch) {
    const auto t = Clock::now();
    call(i, batch);
    ms.push_back(seconds_since(t) * 1e3);
  }
  return {percentile(ms, 0.5), percentile(ms, 0.99)};
}

int run_corpus(int argc, char** argv) {
  const fs::path store_dir = argv[2];
  const int n_queries = argc > 3 ? std::stoi(argv[3]) : 400;
  const int threads = argc > 4 ? std::stoi(argv[4]) : 2;
  const auto store = ralm::PassageStore::open(store_dir);
  const std::vector<std::string> queries = ralm::bench::passage_queries(*store, n_queries);
  const fs::path dir = fs::temp_directory_path() / ("dense-bench-" + std::to_string(::getpid()));
  nlohmann::json out = {{"store", store_dir.string()},
                        {"passages", store->size()},
                        {"threads", threads},
                        {"queries", n_queries},
                        {"k", 10},
                        {"kernels", scan_kernels_name(default_scan_kernels())}};
  struct Case {
    std::string index;
    std::int64_t nprobe, ef, k_factor;
  };
  // "IDMap,Flat" is FAISS's own exact search (IndexFlat under an id map):
  // the same-run peer of our scan. IVF256,Flat at nprobe 16 (the ralmspec
  // ivf pipelines' speed point), 32 and 64 (the retriever's default, and
  // quickstart-dense-ivf's); every approximate index ranks the retriever's
  // default candidates exactly (64, or 256 for the PQ indexes). Two PQ
  // codes of 32 bytes: 64 x 4 bits and 32 x 8 bits; "np" skips FAISS's
  // polysemous training of 8-bit codes (minutes here: Debian's FAISS counts
  // bits without the popcnt instruction), which only a search with a Hamming
  // threshold would use.
  const std::vector<Case> cases = {{"Flat", 0, 0, 1},           {"IDMap,Flat", 0, 0, 1},
                                   {"IVF256,Flat", 16, 0, 1},   {"IVF256,Flat", 32, 0, 1},
                                   {"IVF256,Flat", 64, 0, 1},   {"HNSW32", 0, 128, 1},
                                   {"IVF256,PQ64x4", 64, 0, 1}, {"IVF256,PQ32x8np", 64, 0, 1}};
  std::vector<std::vector<Hit>> exact;
  std::printf("%-20s %8s %9s %5s %9s %9s %9s %9s %10s\n", "INDEX", "build s", "size MB", "cand", "b1 p50",
              "b1 p99", "b8 p50", "b8 p99", "recall@10");
  for (const Case& c : cases) {
    DenseIndexSpec spec;
    spec.index = c.index;
    spec.threads = threads;
    spec.dir = dir;
    const auto t = Clock::now();
    build_dense_index(*store, spec, false);
    const double build_s = seconds_since(t);
    const auto bytes = c.index == "Flat" ? folder_bytes(dir, false) + folder_bytes(dir / "encoder", true)
                                         : folder_bytes(spec.faiss_dir(), true);
    auto files = open_dense_index(*store, spec);
    if (files.faiss) files.faiss->set_search_parameters(c.nprobe, c.ef);
    DenseRetriever r(store, std::move(files), spec.metric, c.k_factor, threads);
    const auto all = r.search(queries, 10);
    if (c.index == "Flat") exact = all;
    const double rec = recall(all, exact);
    const std::int64_t candidates =
        spec.exact() ? 0 : std::max<std::int64_t>(10 * c.k_factor, r.min_candidates());
    nlohmann::json row = {{"index", c.index},       {"build_s", build_s},      {"bytes", bytes},
                          {"recall_at_10", rec},    {"nprobe", c.nprobe},      {"efSearch", c.ef},
                          {"k_factor", c.k_factor}, {"candidates", candidates}};
    const std::string label = c.nprobe > 0 ? c.index + " np" + std::to_string(c.nprobe) : c.index;
    std::printf("%-20s %8.2f %9.1f %5s", label.c_str(), build_s, static_cast<double>(bytes) / 1e6,
                candidates > 0 ? std::to_string(candidates).c_str() : "-");
    for (const std::int64_t batch : {1, 8}) {
      const auto [p50, p99] = latency(n_queries, batch, [&](std::int64_t i, std::int64_t b) {
        r.search(std::span(queries).subspan(static_cast<std::size_t>(i), static_cast<std::size_t>(b)), 10);
      });
      std::printf(" %9.3f %9.3f", p50, p99);
      row["batch_" + std::to_string(batch)] = {{"p50_ms", p50}, {"p99_ms", p99}};
    }
    std::printf(" %10.3f\n", rec);
    out["indexes"].push_back(row);
  }
  std::printf(
      "(build s: Flat includes training the lsa encoder and encoding the passages; cand: FAISS "
      "candidates per query, ranked exactly; latencies in ms per call, k=10, %d threads)\n",
      threads);
  std::ofstream("dense_bench_corpus.json") << out.dump(2) << "\n";
  fs::remove_all(dir);
  return 0;
}

int run_flat(int argc, char** argv) {
  const fs::path store_dir = argv[2];
  const int n_queries = argc > 3 ? std::stoi(argv[3]) : 400;
  const int threads = argc > 4 ? std::stoi(argv[4]) : 2;
  const auto store = ralm::PassageStore::open(store_dir);
  const std::vector<std::string> queries = ralm::bench::passage_queries(*store, n_queries);
  DenseIndexSpec spec;
  spec.threads = threads;
  spec.dir = store_dir / spec.default_folder_name();
  fs::path temp;
  if (!dense_index_exists(spec)) {
    temp = fs::temp_directory_path() / ("dense-bench-" + std::to_string(::getpid()));
    spec.dir = temp;
    build_dense_index(*store, spec, false);
  }
  DenseRetriever r(store, open_dense_index(*store, spec), spec.metric, 1, threads);
  const std::vector<float> encoded = r.encode(queries);
  const std::int64_t dim = r.dim();
  std::printf("%-6s %10s %10s %10s %10s %12s\n", "BATCH", "encode", "scan+topk", "search", "p99",
              "vs batch 1");
  nlohmann::json out = {{"store", store_dir.string()},
                        {"threads", threads},
                        {"kernels", scan_kernels_name(default_scan_kernels())}};
  double b1 = 0;
  for (std::int64_t batch = 1; batch <= 8; ++batch) {
    const auto span_of = [&](std::int64_t i, std::int64_t b) {
      return std::span(queries).subspan(static_cast<std::size_t>(i), static_cast<std::size_t>(b));
    };
    const double enc =
        latency(n_queries, batch, [&](std::int64_t i, std::int64_t b) { r.encode(span_of(i, b)); }).first;
    const double scan = latency(n_queries, batch, [&](std::int64_t i, std::int64_t b) {
                          r.exact().search(encoded.data() + i * dim, b, 10);
                        }).first;
    const auto [p50, p99] =
        latency(n_queries, batch, [&](std::int64_t i, std::int64_t b) { r.search(span_of(i, b), 10); });
    if (batch == 1) b1 = p50;
    std::printf("%-6lld %10.3f %10.3f %10.3f %10.3f %11.2fx\n", static_cast<long long>(batch), enc, scan, p50,
                p99, p50 / b1);
    out["batches"].push_back(
        {{"batch", batch}, {"encode_p50_ms", enc}, {"scan_p50_ms", scan}, {"p50_ms", p50}, {"p99_ms", p99}});
  }
  std::printf("(p50 ms per call, k=10, %d threads, %s kernels)\n", threads,
              scan_kernels_name(default_scan_kernels()));
  std::ofstream("dense_bench_flat.json") << out.dump(2) << "\n";
  if (!temp.empty()) fs::remove_all(temp);
  return 0;
}

// Clustered filler: 4096 Gaussian centres, each vector a centre plus noise,
// so an IVF index has structure to find (uniform noise has none).
std::vector<float> filler(std::int64_t n, std::int64_t dim, int threads) {
  const std::int64_t centres = 4096;
  std::vector<float> c(static_cast<std::size_t>(centres * dim));
  std::mt19937_64 rng(7);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (float& x : c)
    x = g(rng);
  std::vector<float> v(static_cast<std::size_t>(n * dim));
#pragma omp parallel num_threads(threads)
  {
    std::mt19937_64 local(static_cast<std::uint64_t>(1000 + omp_get_thread_num()));
    std::normal_distribution<float> noise(0.0f, 0.7f);
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      const float* centre = c.data() + static_cast<std::int64_t>(local() % centres) * dim;
      float* row = v.data() + i * dim;
      for (std::int64_t d = 0; d < dim; ++d)
        row[d] = centre[d] + noise(local);
      normalize(row, dim);
    }
  }
  return v;
}

double stream_read_gbps(const std::vector<float>& v, int threads) {
  const auto t = Clock::now();
  double total = 0;
#pragma omp parallel for num_threads(threads) reduction(+ : total) schedule(static)
  for (std::int64_t b = 0; b < static_cast<std::int64_t>(v.size()) / 4096; ++b) {
    float s[16] = {};
    const float* p = v.data() + b * 4096;
    for (int i = 0; i < 4096; i += 16)
      for (int l = 0; l < 16; ++l)
        s[l] += p[i + l];
    for (float x : s)
      total += x;
  }
  const double sec = seconds_since(t);
  if (total == 12345.678) std::printf(" ");  // keeps the sum alive
  return static_cast<double>(v.size() * sizeof(float)) / sec / 1e9;
}

int run_scale(int argc, char** argv) {
  const std::int64_t n = argc > 2 ? std::stoll(argv[2]) : 2000000;
  const std::int64_t dim = argc > 3 ? std::stoll(argv[3]) : 768;
  const int threads = argc > 4 ? std::stoi(argv[4]) : 2;
  const std::string index = argc > 5 ? argv[5] : "IVF1024,Flat";
  const std::int64_t nprobe = argc > 6 ? std::stoll(argv[6]) : 16;
  const std::int64_t n_queries = 64, k = 10;
  auto t = Clock::now();
  const auto v = filler(n, dim, threads);
  std::printf("filler: %lld x %lld vectors (%.1f GB) in %.1f s\n", static_cast<long long>(n),
              static_cast<long long>(dim), static_cast<double>(v.size() * 4) / 1e9, seconds_since(t));
  // Queries: stored vectors with fresh noise, so each has near neighbours.
  std::vector<float> q(static_cast<std::size_t>(n_queries * dim));
  std::mt19937_64 rng(99);
  std::normal_distribution<float> noise(0.0f, 0.02f);
  for (std::int64_t i = 0; i < n_queries; ++i) {
    const std::int64_t src = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n));
    for (std::int64_t d = 0; d < dim; ++d)
      q[static_cast<std::size_t>(i * dim + d)] = v[static_cast<std::size_t>(src * dim + d)] + noise(rng);
    normalize(q.data() + i * dim, dim);
  }
  nlohmann::json out = {{"n", n},
                        {"dim", dim},
                        {"threads", threads},
                        {"k", k},
                        {"kernels", scan_kernels_name(default_scan_kernels())}};
  const ExactSearch exact(v.data(), n, dim, Metric::inner_product, default_scan_kernels(), threads);
  std::printf("%-22s %10s %10s %12s\n", "SEARCH", "p50 ms", "p99 ms", "vs batch 1");
  double b1 = 0;
  for (const std::int64_t batch : {1, 8}) {
    const double gbps = stream_read_gbps(v, threads);
    const auto [p50, p99] = latency(
        n_queries, batch, [&](std::int64_t i, std::int64_t b) { exact.search(q.data() + i * dim, b, k); });
    if (batch == 1) b1 = p50;
    const double floor_ms = static_cast<double>(v.size() * 4) / (gbps * 1e9) * 1e3;
    std::printf("%-22s %10.1f %10.1f %11.2fx   (stream read %.1f GB/s: floor %.1f ms)\n",
                ("exact scan, batch " + std::to_string(batch)).c_str(), p50, p99, p50 / b1, gbps, floor_ms);
    out["exact_batch_" + std::to_string(batch)] = {
        {"p50_ms", p50}, {"p99_ms", p99}, {"stream_gbps", gbps}, {"floor_ms", floor_ms}};
  }
  if (index == "none") {  // the exact scan alone: no 4-minute index build, no second copy of the vectors
    std::ofstream("dense_bench_scale.json") << out.dump(2) << "\n";
    return 0;
  }
  const auto want = exact.search(q.data(), n_queries, k);

  t = Clock::now();
  const std::int64_t nlist = 1024;
  auto ivf = FaissIndex::build({}, index, Metric::inner_product, v.data(), n, dim, threads, 64 * nlist);
  const double build_s = seconds_since(t);
  const std::string set = ivf->set_search_parameters(nprobe, 0);
  std::printf("%s built in %.1f s (trained on %lld vectors); %s\n", index.c_str(), build_s,
              static_cast<long long>(64 * nlist), set.c_str());
  std::vector<std::vector<Hit>> got;
  for (const std::int64_t batch : {1, 8}) {
    const auto [p50, p99] = latency(n_queries, batch, [&](std::int64_t i, std::int64_t b) {
      const auto cand = ivf->search(q.data() + i * dim, b, k, threads);
      auto hits = exact.rerank(q.data() + i * dim, b, cand, k, k);
      if (batch == 1) got.push_back(std::move(hits[0]));
    });
    std::printf("%-22s %10.1f %10.1f\n", (index + ", batch " + std::to_string(batch)).c_str(), p50, p99);
    out["approx_batch_" + std::to_string(batch)] = {{"p50_ms", p50}, {"p99_ms", p99}};
  }
  const double rec = recall(got, want);
  std::printf("%s recall@10 against exact: %.3f\n", index.c_str(), rec);
  out["approx"] = {{"index", index}, {"build_s", build_s}, {"nprobe", nprobe}, {"recall_at_10", rec}};
  std::ofstream("dense_bench_scale.json") << out.dump(2) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "corpus" && argc > 2) return run_corpus(argc, argv);
  if (mode == "flat" && argc > 2) return run_flat(argc, argv);
  if (mode == "scale") return run_scale(argc, argv);
  std::cerr
      << "usage: dense_bench corpus STORE_DIR [queries=400] [threads=2]\n"
         "       dense_bench flat STORE_DIR [queries=400] [threads=2]\n"
         "       dense_bench scale [n=2000000] [dim=768] [threads=2] [index=IVF1024,Flat] [nprobe=16]\n";
  return 2;
} catch (const ralm::Error& e) {
  std::cerr << "dense_bench: " << e.what() << "\n";
  return 2;
}
