// The llama plugin's benchmark (issue 11): kernels and whole-model prefill
// and decode, each beside the limit this binary measures in the same run.
//
//   decode  weight bytes per second over a 2-thread streaming read of 2 GiB,
//           probe and decode alternating (bandwidth here swings by 2x within
//           minutes), reported as the median of each decode over the mean of
//           the probes either side of it;
//   prefill GFLOP/s over the peak of a register-resident FMA loop (f32) or
//           vdpbf16ps loop (bf16) on the same threads, with OpenBLAS sgemm on
//           the same matrix shapes as a peer;
//   KV cache decode with an f32 and a bf16 cache, alternating, beside the
//           ratio of the bytes each token reads.
//
// Timings are ratios taken in one run; writes JSON (--json) and prints a
// table. Not a test: nothing here asserts on time.
#include <cblas.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "bench_limits.hpp"
#include "bench_timing.hpp"
#include "llama_model.hpp"
#include "model_shapes.hpp"
#include "ralm/kernels/kernels.hpp"
#include "ralm/llama_format/config.hpp"
#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/llama_format/weights.hpp"

namespace {

using namespace ralm::llama;
using nlohmann::json;
using ralm::bench::Clock;
using ralm::bench::fast_random_weights;
using ralm::bench::median;
using ralm::bench::ModelShape;
using ralm::bench::random_floats;
using ralm::bench::seconds_since;
using ralm::bench::shape_named;
using ralm::bench::time_median;

// This process's CPU time, all threads.
double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// OpenBLAS's threads spin a while after their work; on 2 cores they would
// steal time from the plugin's pool. (The limits' probes start and join
// their own threads, so they leave nothing spinning.)
void settle() {
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

struct Options {
  int threads = 2;
  std::string json_path = "llama_bench.json";
  // tiny: models/tiny, the shipped model's shape; small: hidden 512, 8
  // layers, the stand-in from before a model shipped.
  std::vector<std::string> shapes = {"tiny", "small", "tinyllama"};
  std::vector<int> chunks = {128, 512, 2048};
  std::vector<int> contexts = {128, 1024, 4096};
  int pairs = 7;  // decode measurements per context, each between two probes
  // The KV cache section: decode at these depths with an f32 and a bf16
  // cache, in bursts of kv_burst tokens, `pairs` pairs of bursts.
  std::vector<std::string> kv_shapes = {"tiny", "small"};
  std::vector<int> kv_contexts = {512, 4096};
  WeightType kv_weights = WeightType::f32;
  int kv_burst = 16;
  bool kernels = true;
  bool attention = true;
  bool model = true;
  bool kv = true;
  double probe_gib = 2.0;
};

class Probe {
 public:
  Probe(double gib, int threads)
      : n_(static_cast<std::int64_t>(gib * (1 << 30)) / 4),
        buffer_(static_cast<std::size_t>(n_) * 4),
        threads_(threads) {
    auto* p = static_cast<float*>(buffer_.data());
    for (std::int64_t i = 0; i < n_; ++i)
      p[i] = static_cast<float>(i & 1023);
  }
  double gbps() const {
    return ralm::bench::stream_read_gbps(static_cast<const float*>(buffer_.data()), n_, threads_);
  }

 private:
  std::int64_t n_;
  AlignedBuffer buffer_;
  int threads_;
};

// A peak is an upper bound, and noise only lowers a measurement: the run's
// peak is the highest of several, taken again before each model's prefill.
struct Peaks {
  double f32 = 0, bf16 = 0;
  void measure(int threads, int tries = 3) {
    for (int i = 0; i < tries; ++i) {
      f32 = std::max(f32, ralm::bench::fma_peak_gflops(threads, 20'000'000));
      bf16 = std::max(bf16, ralm::bench::bf16_peak_gflops(threads, 20'000'000));
    }
  }
};

// ---------------------------------------------------------------- kernels

json bench_kernels(const Options& o, Peaks& peaks, const Probe& probe) {
  json out = json::array();
  struct Shape {
    const char* name;
    std::int64_t in, out;
  };
  // TinyLlama's matrices as the model calls them (q, k, v stacked; gate, up
  // stacked), and two odd ones.
  const Shape shapes[] = {{"qkv", 2048, 2560},  {"o", 2048, 2048},   {"gate_up", 2048, 11264},
                          {"down", 5632, 2048}, {"odd", 1000, 1000}, {"lm_head", 2048, 32000}};
  const std::int64_t rows_list[] = {1, 128, 512};
  std::printf("\nKernels, %d threads (GFLOP/s; rows = 1 also as weight GB/s over the paired probe)\n",
              o.threads);
  std::printf("%-8s %6s %6s %5s | %9s %9s %9s %9s | %7s %7s\n", "shape", "in", "out", "rows", "f32", "bf16",
              "portable", "sgemm", "f32/pk", "bf16/pk");
  std::uint64_t state = 12345;
  for (const auto& s : shapes) {
    const auto wf = random_floats(s.in * s.out, state, 0.05f);
    // Matrix-vector products read their weights from memory only when the
    // weights do not fit in the caches: rows = 1 cycles through copies
    // totalling at least 512 MiB.
    const auto copies =
        static_cast<std::size_t>(std::max<std::int64_t>(1, (std::int64_t{512} << 20) / (s.in * s.out * 2)));
    std::vector<PackedMatrix> pfs, pbs;
    for (std::size_t i = 0; i < copies; ++i) {
      pfs.emplace_back(wf, s.out, s.in, WeightType::f32);
      pbs.emplace_back(wf, s.out, s.in, WeightType::bf16);
    }
    const PackedMatrix &pf = pfs[0], &pb = pbs[0];
    std::vector<std::vector<float>> raw(std::max<std::size_t>(1, copies / 2), wf);  // f32: twice the bytes
    for (const std::int64_t rows : rows_list) {
      if (std::string(s.name) == "lm_head" && rows > 1) continue;
      const auto x = random_floats(rows * s.in, state, 1.0f);
      std::vector<float> y(static_cast<std::size_t>(rows * s.out));
      const double flops = 2.0 * static_cast<double>(rows * s.in * s.out);
      json row = {{"shape", s.name}, {"in", s.in}, {"out", s.out}, {"rows", rows}};
      auto run = [&](KernelSet set, const std::vector<PackedMatrix>& ws) {
        std::size_t next = 0;
        return time_median([&] {
          matmul(set, x.data(), rows, ws[rows == 1 ? next++ % ws.size() : 0], y.data(), o.threads);
        });
      };
      double probe_before = 0;
      if (rows == 1) probe_before = probe.gbps();
      const double t_f32 = run(KernelSet::avx512, pfs);
      const double t_bf16 = run(KernelSet::avx512, pbs);
      const double t_port = rows <= 128 ? run(KernelSet::portable, pfs) : 0;
      double probe_after = 0;
      if (rows == 1) probe_after = probe.gbps();
      settle();
      openblas_set_num_threads(o.threads);
      std::size_t next_raw = 0;
      const double t_blas = time_median([&] {
        if (rows == 1) {
          const float* wr = raw[next_raw++ % raw.size()].data();
          cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(s.out), static_cast<int>(s.in), 1.0f, wr,
                      static_cast<int>(s.in), x.data(), 1, 0.0f, y.data(), 1);
        } else {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows),
                      static_cast<int>(s.out), static_cast<int>(s.in), 1.0f, x.data(), static_cast<int>(s.in),
                      wf.data(), static_cast<int>(s.in), 0.0f, y.data(), static_cast<int>(s.out));
        }
      });
      settle();
      row["gflops"] = {{"f32", flops / t_f32 / 1e9},
                       {"bf16", flops / t_bf16 / 1e9},
                       {"portable_f32", t_port > 0 ? flops / t_port / 1e9 : 0.0},
                       {"openblas_sgemm", flops / t_blas / 1e9}};
      std::printf("%-8s %6lld %6lld %5lld | %9.1f %9.1f %9.1f %9.1f | %6.0f%% %6.0f%%\n", s.name,
                  static_cast<long long>(s.in), static_cast<long long>(s.out), static_cast<long long>(rows),
                  flops / t_f32 / 1e9, flops / t_bf16 / 1e9, t_port > 0 ? flops / t_port / 1e9 : 0.0,
                  flops / t_blas / 1e9, 100 * flops / t_f32 / 1e9 / peaks.f32,
                  100 * flops / t_bf16 / 1e9 / peaks.bf16);
      if (rows == 1) {
        const double bw = (probe_before + probe_after) / 2;
        const double gb_f32 = static_cast<double>(pf.bytes()) / t_f32 / 1e9;
        const double gb_bf16 = static_cast<double>(pb.bytes()) / t_bf16 / 1e9;
        const double gb_blas = static_cast<double>(s.in * s.out * 4) / t_blas / 1e9;
        row["weight_gbps"] = {{"f32", gb_f32}, {"bf16", gb_bf16}, {"openblas_sgemv", gb_blas}, {"probe", bw}};
        std::printf(
            "%-8s %6s %6s %5s | %7.1fGB %7.1fGB %9s %7.1fGB | probe %.1f GB/s (f32 %.0f%%, bf16 %.0f%%)\n",
            "", "", "", "", gb_f32, gb_bf16, "", gb_blas, bw, 100 * gb_f32 / bw, 100 * gb_bf16 / bw);
      }
      out.push_back(row);
    }
  }
  return out;
}

// Attention as the model runs one task: 4 query heads sharing one KV head
// of 64 dimensions over `context` cached positions, on one thread (tasks
// run side by side on the others), against the one-thread FMA peak. Q·K and
// P·V are 4 · context · 64 multiply-adds each.
json bench_attention(const Options& o) {
  json out = json::array();
  double peak1 = 0;
  for (int i = 0; i < 3; ++i)
    peak1 = std::max(peak1, ralm::bench::fma_peak_gflops(1, 20'000'000));
  std::printf(
      "\nAttention, one task on one thread (4 heads over one KV head of 64; one-thread f32 peak %.1f "
      "GFLOP/s)\n",
      peak1);
  std::printf("  %8s %10s %10s %8s %12s | %13s %9s\n", "context", "us/task", "GFLOP/s", "of peak", "K+V KiB",
              "bf16 us/task", "f32/bf16");
  std::uint64_t state = 777;
  const std::int64_t hd = 64, heads = 4;
  for (const int context : o.contexts) {
    const auto keys = random_floats(context * hd, state, 1.0f),
               values = random_floats(context * hd, state, 1.0f), q = random_floats(heads * hd, state, 1.0f);
    std::vector<float> scores(static_cast<std::size_t>(heads * ((context + 15) / 16 * 16))),
        result(static_cast<std::size_t>(heads * hd));
    const double t = time_median([&] {
      attend(KernelSet::avx512, q.data(), heads, keys.data(), values.data(), hd, context, hd, 0.125f,
             scores.data(), result.data());
    });
    // The same task over a bf16 cache (the cache's values rounded).
    std::vector<std::uint16_t> keys16(keys.size()), values16(values.size());
    std::transform(keys.begin(), keys.end(), keys16.begin(), f32_to_bf16);
    std::transform(values.begin(), values.end(), values16.begin(), f32_to_bf16);
    const double t16 = time_median([&] {
      attend(KernelSet::avx512, q.data(), heads, keys16.data(), values16.data(), hd, context, hd, 0.125f,
             scores.data(), result.data());
    });
    const double gflops = 2.0 * 2 * heads * context * hd / t / 1e9;
    std::printf("  %8d %10.2f %10.1f %7.0f%% %12.0f | %13.2f %8.2fx\n", context, t * 1e6, gflops,
                100 * gflops / peak1, context * hd * 8 / 1024.0, t16 * 1e6, t / t16);
    out.push_back({{"context", context},
                   {"us_per_task", t * 1e6},
                   {"gflops", gflops},
                   {"peak_1thread", peak1},
                   {"bf16_cache_us_per_task", t16 * 1e6}});
  }
  return out;
}

// ---------------------------------------------------------------- model

// Makes `seq` hold `tokens` tokens without computing them, its cache zeros:
// the cache's contents do not change decode's time, and zeros keep any stale
// bit pattern of a reused buffer (a NaN, a denormal) out of attention. Zero
// bits are 0.0 in an f32 and in a bf16 cache alike.
void hold_zeros(LlamaSequence& seq, std::int32_t layers, int tokens) {
  seq.mutable_tokens().assign(static_cast<std::size_t>(tokens), 1);
  for (std::int32_t l = 0; l < layers; ++l) {
    std::memset(seq.keys(l), 0, seq.layer_bytes());
    std::memset(seq.values(l), 0, seq.layer_bytes());
  }
}

json bench_model(const Options& o, const ModelShape& shape, WeightType dtype, Peaks& peaks,
                 const Probe& probe) {
  const int max_context = *std::max_element(o.contexts.begin(), o.contexts.end());
  const int max_chunk = *std::max_element(o.chunks.begin(), o.chunks.end());
  const int context = std::max(max_context, max_chunk) + 1;
  const auto build_start = Clock::now();
  LlamaModel model(shape.config, fast_random_weights(shape.config),
                   make_ids_only_tokenizer(shape.config.vocab_size, 1, 2), o.threads, context, dtype);
  const double build_s = seconds_since(build_start);
  const double streamed = static_cast<double>(model.streamed_weight_bytes());
  // Prefill computes logits for its last token only: the output matrix
  // counts once per chunk, the layers' matrices once per token.
  const double output_flops = 2.0 * shape.config.vocab_size * shape.config.hidden_size;
  const double layer_flops_per_token = 2.0 * streamed / (dtype == WeightType::bf16 ? 2 : 4) - output_flops;
  const auto kv_per_token = model.info().kv_bytes_per_token;
  peaks.measure(o.threads, 2);
  const double peak = dtype == WeightType::bf16 ? peaks.bf16 : peaks.f32;
  std::printf(
      "\n%s, %s weights, %d threads, kernels %s: weights %.1f MiB (%.1f MiB read per token), KV cache %lld "
      "bytes/token (%.1f MiB at %d tokens); built in %.1f s\n",
      shape.name.c_str(), weight_type_name(dtype), o.threads, kernel_set_name(model.kernel_set()),
      static_cast<double>(model.weight_bytes()) / (1 << 20), streamed / (1 << 20),
      static_cast<long long>(kv_per_token), static_cast<double>(kv_per_token) * context / (1 << 20), context,
      build_s);
  json out = {{"shape", shape.name},
              {"dtype", weight_type_name(dtype)},
              {"threads", o.threads},
              {"weight_bytes", model.weight_bytes()},
              {"streamed_weight_bytes_per_token", streamed},
              {"kv_bytes_per_token", kv_per_token},
              {"prefill", json::array()},
              {"decode", json::array()}};

  std::printf("  prefill: %6s %10s %10s %8s %12s\n", "tokens", "tokens/s", "GFLOP/s", "of peak",
              "GFLOP/cpu-s");
  for (int chunk : o.chunks) {
    std::vector<ralm::TokenId> ids(static_cast<std::size_t>(chunk));
    for (int i = 0; i < chunk; ++i)
      ids[static_cast<std::size_t>(i)] = (i * 7919) % shape.config.vocab_size;
    auto seq = model.new_sequence();
    // One 512-token prefill of TinyLlama takes seconds, but a single sample
    // moved the bf16/f32 ratio from 1.45x to 1.72x between two idle runs:
    // the median of three up to 512 tokens, one at 2048.
    const int reps = chunk <= 512 ? 3 : 1;
    std::vector<double> t, cpu;
    for (int r = 0; r < reps; ++r) {
      seq->truncate(0);
      const auto s = Clock::now();
      const double c = cpu_seconds();
      model.eval(*seq, ids, {});
      t.push_back(seconds_since(s));
      cpu.push_back(cpu_seconds() - c);
    }
    const double sec = median(t), cpu_sec = median(cpu);
    // Matrix products only: attention's flops grow with the chunk and are
    // not part of the weights' GEMM figure.
    const double flops = layer_flops_per_token * chunk + output_flops, gflops = flops / sec / 1e9;
    // Per second of the process's CPU time: with --threads 1 the rate of an
    // idle machine even when other processes share the cores (they lengthen
    // the wall time, not the CPU time); with more threads it counts their
    // waiting too.
    std::printf("  prefill: %6d %10.1f %10.1f %7.0f%% %12.1f\n", chunk, chunk / sec, gflops,
                100 * gflops / peak, flops / cpu_sec / 1e9);
    out["prefill"].push_back({{"tokens", chunk},
                              {"seconds", sec},
                              {"cpu_seconds", cpu_sec},
                              {"tokens_per_s", chunk / sec},
                              {"matmul_gflops", gflops},
                              {"peak_gflops", peak}});
  }

  std::printf("  decode:  %7s %10s %11s %10s %8s %10s %10s\n", "context", "tokens/s", "weight GB/s",
              "probe GB/s", "ratio", "+KV ratio", "fixed ms");
  for (int ctx : o.contexts) {
    auto seq = model.new_sequence();
    // The cache's contents do not change the time: hold ctx - 1 tokens
    // without computing them, then decode the ctx-th again and again. The
    // buffers come uninitialised (or left by the previous context): zeros,
    // so that no stale bit pattern (a NaN, a denormal) reaches attention.
    auto& llama_seq = dynamic_cast<LlamaSequence&>(*seq);
    hold_zeros(llama_seq, shape.config.num_layers, ctx - 1);
    const ralm::TokenId one[] = {5};
    model.eval(*seq, one, {});  // warm-up
    seq->truncate(ctx - 1);
    std::vector<double> probes = {probe.gbps()}, times;
    for (int i = 0; i < o.pairs; ++i) {
      const auto s = Clock::now();
      model.eval(*seq, one, {});
      times.push_back(seconds_since(s));
      seq->truncate(ctx - 1);
      probes.push_back(probe.gbps());
    }
    // The ratio the issue names counts the weights; beside it, the weights
    // and the KV cache a token reads (context × kv_bytes_per_token), which
    // the fixed cost also counts.
    const double with_kv = streamed + static_cast<double>(kv_per_token) * ctx;
    std::vector<double> ratios, kv_ratios, fixed;
    for (std::size_t i = 0; i < times.size(); ++i) {
      const double bw = (probes[i] + probes[i + 1]) / 2 * 1e9;
      ratios.push_back(streamed / times[i] / bw);
      kv_ratios.push_back(with_kv / times[i] / bw);
      fixed.push_back(times[i] - with_kv / bw);
    }
    const double t = median(times);
    const double ratio = median(ratios), kv_ratio = median(kv_ratios), fixed_ms = median(fixed) * 1e3;
    const double probe_mean =
        std::accumulate(probes.begin(), probes.end(), 0.0) / static_cast<double>(probes.size());
    std::printf("  decode:  %7d %10.2f %11.1f %10.1f %7.0f%% %9.0f%% %10.3f\n", ctx, 1 / t,
                streamed / t / 1e9, probe_mean, 100 * ratio, 100 * kv_ratio, fixed_ms);
    out["decode"].push_back({{"context", ctx},
                             {"seconds", times},
                             {"probes_gbps", probes},
                             {"tokens_per_s", 1 / t},
                             {"weight_gbps", streamed / t / 1e9},
                             {"median_ratio_to_probe", ratio},
                             {"median_ratio_to_probe_with_kv", kv_ratio},
                             {"fixed_ms_per_token", fixed_ms}});
  }
  return out;
}

// ---------------------------------------------------------------- KV cache

// Decode at each of kv_contexts with an f32 and a bf16 KV cache, on one
// model: a sequence keeps the cache type it was made with, so both share
// the weights. A burst decodes kv_burst tokens, each at the same depth (the
// cache holds context - 1 tokens, not computed); bursts alternate f32, bf16,
// f32, bf16 for `pairs` pairs, so that a drift in bandwidth (twofold within
// minutes here) falls on both alike. Tokens/s is each type's median burst,
// the speed-up the median of the pairs' ratios. Beside it, the speed-up a
// purely bandwidth-bound decode would show: the bytes a token reads (the
// streamed weights and the cache) with f32 over those with bf16.
json bench_kv_cache(const Options& o, const ModelShape& shape) {
  const int max_context = *std::max_element(o.kv_contexts.begin(), o.kv_contexts.end());
  LlamaModel model(shape.config, fast_random_weights(shape.config),
                   make_ids_only_tokenizer(shape.config.vocab_size, 1, 2), o.threads, max_context + 1,
                   o.kv_weights);
  const double streamed = static_cast<double>(model.streamed_weight_bytes());
  const double f32_per_token = static_cast<double>(model.info().kv_bytes_per_token);
  model.set_kv_cache_type(KvCacheType::bf16);
  const double bf16_per_token = static_cast<double>(model.info().kv_bytes_per_token);
  std::printf(
      "\nKV cache, %s, %s weights (%.1f MiB read per token), %d threads, kernels %s: decode with an f32 "
      "and a bf16 cache (%.0f and %.0f bytes per cached token), bursts of %d tokens alternating, %d pairs\n",
      shape.name.c_str(), weight_type_name(o.kv_weights), streamed / (1 << 20), o.threads,
      kernel_set_name(model.kernel_set()), f32_per_token, bf16_per_token, o.kv_burst, o.pairs);
  std::printf("  %7s %12s %12s %10s %12s %12s\n", "context", "f32 tok/s", "bf16 tok/s", "bf16/f32",
              "bytes ratio", "f32 KV MiB");
  json out = {{"shape", shape.name},
              {"weights", weight_type_name(o.kv_weights)},
              {"threads", o.threads},
              {"kernels", kernel_set_name(model.kernel_set())},
              {"streamed_weight_bytes_per_token", streamed},
              {"kv_bytes_per_token", {{"f32", f32_per_token}, {"bf16", bf16_per_token}}},
              {"burst_tokens", o.kv_burst},
              {"decode", json::array()}};
  const ralm::TokenId one[] = {5};
  for (const int ctx : o.kv_contexts) {
    std::unique_ptr<ralm::Sequence> seqs[2];
    for (const KvCacheType type : {KvCacheType::f32, KvCacheType::bf16}) {
      model.set_kv_cache_type(type);
      auto& seq = seqs[type == KvCacheType::bf16 ? 1 : 0];
      seq = model.new_sequence();
      hold_zeros(dynamic_cast<LlamaSequence&>(*seq), shape.config.num_layers, ctx - 1);
    }
    auto burst = [&](ralm::Sequence& seq) {
      const auto start = Clock::now();
      for (int i = 0; i < o.kv_burst; ++i) {
        model.eval(seq, one, {});
        seq.truncate(ctx - 1);
      }
      return o.kv_burst / seconds_since(start);
    };
    burst(*seqs[0]);  // warm-up
    burst(*seqs[1]);
    std::vector<double> f32, bf16, ratios;
    for (int i = 0; i < o.pairs; ++i) {
      f32.push_back(burst(*seqs[0]));
      bf16.push_back(burst(*seqs[1]));
      ratios.push_back(bf16.back() / f32.back());
    }
    const double bytes_ratio = (streamed + f32_per_token * ctx) / (streamed + bf16_per_token * ctx);
    std::printf("  %7d %12.1f %12.1f %9.2fx %11.2fx %12.1f\n", ctx, median(f32), median(bf16), median(ratios),
                bytes_ratio, f32_per_token * ctx / (1 << 20));
    out["decode"].push_back({{"context", ctx},
                             {"f32_tokens_per_s", f32},
                             {"bf16_tokens_per_s", bf16},
                             {"median_f32_tokens_per_s", median(f32)},
                             {"median_bf16_tokens_per_s", median(bf16)},
                             {"median_speedup", median(ratios)},
                             {"bytes_ratio", bytes_ratio}});
  }
  return out;
}

// OpenBLAS sgemm on the model's matrix shapes for a prefill chunk: the peer
// figure beside our prefill.
json bench_sgemm_shapes(const Options& o, const ModelShape& shape) {
  const auto& c = shape.config;
  const std::int64_t h = c.hidden_size, q = std::int64_t{c.num_heads} * c.head_dim,
                     kv = std::int64_t{c.num_kv_heads} * c.head_dim, ff = c.intermediate_size;
  struct M {
    std::int64_t in, out;
    int count;
  };
  const M ms[] = {{h, q + 2 * kv, c.num_layers},
                  {q, h, c.num_layers},
                  {h, 2 * ff, c.num_layers},
                  {ff, h, c.num_layers},
                  {h, c.vocab_size, 1}};
  json out = json::array();
  std::uint64_t state = 777;
  settle();
  openblas_set_num_threads(o.threads);
  for (int chunk : o.chunks) {
    if (chunk > 512) continue;  // the peer figure at the sizes the targets name
    double total_s = 0, flops = 0;
    for (const auto& m : ms) {
      const auto w = random_floats(m.in * m.out, state, 0.05f);
      const auto x = random_floats(chunk * m.in, state, 1.0f);
      std::vector<float> y(static_cast<std::size_t>(chunk * m.out));
      const double t = time_median(
          [&] {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, chunk, static_cast<int>(m.out),
                        static_cast<int>(m.in), 1.0f, x.data(), static_cast<int>(m.in), w.data(),
                        static_cast<int>(m.in), 0.0f, y.data(), static_cast<int>(m.out));
          },
          0.1, 2);
      total_s += t * m.count;
      flops += 2.0 * static_cast<double>(chunk * m.in * m.out) * m.count;
    }
    std::printf("  OpenBLAS sgemm (OPENBLAS_CORETYPE=%s) on %s's matrices, %d rows: %.1f GFLOP/s\n",
                std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "unset",
                shape.name.c_str(), chunk, flops / total_s / 1e9);
    out.push_back({{"tokens", chunk}, {"gflops", flops / total_s / 1e9}});
  }
  settle();
  return out;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<int> split_ints(const std::string& s) {
  std::vector<int> out;
  for (const auto& p : split(s))
    out.push_back(std::stoi(p));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") {
      o.threads = std::stoi(value());
    } else if (a == "--json") {
      o.json_path = value();
    } else if (a == "--shapes") {
      o.shapes = split(value());
    } else if (a == "--chunks") {
      o.chunks = split_ints(value());
    } else if (a == "--contexts") {
      o.contexts = split_ints(value());
    } else if (a == "--kv-shapes") {
      o.kv_shapes = split(value());
    } else if (a == "--kv-contexts") {
      o.kv_contexts = split_ints(value());
    } else if (a == "--kv-weights") {
      const std::string w = value();
      if (w != "f32" && w != "bf16") {
        std::fprintf(stderr, "--kv-weights: give f32 or bf16, not %s\n", w.c_str());
        return 2;
      }
      o.kv_weights = w == "bf16" ? WeightType::bf16 : WeightType::f32;
    } else if (a == "--kv-burst") {
      o.kv_burst = std::stoi(value());
    } else if (a == "--pairs") {
      o.pairs = std::stoi(value());
    } else if (a == "--probe-gib") {
      o.probe_gib = std::stod(value());
    } else if (a == "--no-kernels") {
      o.kernels = false;
    } else if (a == "--no-model") {
      o.model = false;
    } else if (a == "--no-attention") {
      o.attention = false;
    } else if (a == "--no-kv") {
      o.kv = false;
    } else {
      std::fprintf(
          stderr,
          "usage: llama_bench [--threads N] [--json FILE] [--shapes tiny,small,tinyllama] [--chunks "
          "128,512,2048]\n"
          "                   [--contexts 128,1024,4096] [--pairs N] [--probe-gib G] [--no-kernels] "
          "[--no-attention] [--no-model]\n"
          "                   [--kv-shapes tiny,small] [--kv-contexts 512,4096] [--kv-weights f32|bf16] "
          "[--kv-burst N] [--no-kv]\n");
      return 2;
    }
  }
  if (!kernel_set_supported(KernelSet::avx512)) {
    std::fprintf(stderr, "llama_bench measures the AVX-512 kernels; this CPU or build has none\n");
    return 1;
  }
  json report = {{"threads", o.threads}};
  Peaks peaks;
  peaks.measure(o.threads, 5);
  const Probe probe(o.probe_gib, o.threads);
  const double first_probe = probe.gbps();
  std::printf(
      "Limits, %d threads: f32 FMA peak %.1f GFLOP/s, vdpbf16ps peak %.1f GFLOP/s, streaming read %.1f GB/s "
      "(%.1f GiB)\n",
      o.threads, peaks.f32, peaks.bf16, first_probe, o.probe_gib);
  report["peaks_gflops"] = {{"f32_fma", peaks.f32}, {"bf16_dot", peaks.bf16}};
  if (o.kernels) report["kernels"] = bench_kernels(o, peaks, probe);
  if (o.attention) report["attention"] = bench_attention(o);
  if (o.model) {
    report["models"] = json::array();
    for (const auto& name : o.shapes) {
      const ModelShape shape = shape_named(name);
      const json f32 = bench_model(o, shape, WeightType::f32, peaks, probe);
      const json bf16 = bench_model(o, shape, WeightType::bf16, peaks, probe);
      // The bf16 target is this ratio (at 512 tokens).
      std::printf("  prefill, bf16 weights over f32:");
      for (std::size_t i = 0; i < f32["prefill"].size(); ++i) {
        std::printf(" %d tokens %.2fx%s", f32["prefill"][i]["tokens"].get<int>(),
                    bf16["prefill"][i]["matmul_gflops"].get<double>() /
                        f32["prefill"][i]["matmul_gflops"].get<double>(),
                    i + 1 < f32["prefill"].size() ? "," : "\n");
      }
      report["models"].push_back(f32);
      report["models"].push_back(bf16);
      report["sgemm_" + name] = bench_sgemm_shapes(o, shape);
    }
  }
  if (o.kv) {
    report["kv_cache"] = json::array();
    for (const auto& name : o.kv_shapes)
      report["kv_cache"].push_back(bench_kv_cache(o, shape_named(name)));
  }
  std::ofstream(o.json_path) << report.dump(2) << "\n";
  std::printf("\nwrote %s\n", o.json_path.c_str());
  return 0;
}
