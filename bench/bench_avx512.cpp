// The limits the benchmark measures, with AVX-512 (this file only is built
// with those flags; llama_bench calls it only when the CPU has them).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12's intrinsic headers initialise "undefined" vectors from themselves
// (GCC bug 105593); -Wuninitialized reports every use.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>
#include <pthread.h>
#include <time.h>

#include "bench_limits.hpp"

namespace ralm::bench {

namespace {

// Threads are started per measurement and joined, never kept spinning: an
// OpenMP team here would spin for a while after each probe (libgomp's
// default, which only OMP_WAIT_POLICY at process start changes) and take a
// core from the decode timed right after it. POSIX threads, not std::thread:
// a standard-library template instantiated in this AVX-512 translation unit
// could be the copy the linker keeps for everyone.
double now_seconds() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

struct Job {
  float (*body)(const void* args, int thread, int threads);
  const void* args;
  int thread, threads;
  float result;
};

void* run_job(void* p) {
  auto* j = static_cast<Job*>(p);
  j->result = j->body(j->args, j->thread, j->threads);
  return nullptr;
}

// Runs body(args, t, threads) for t < threads (t = 0 on the calling thread),
// at most 64 threads; returns the sum of the results.
float run_threads(int threads, float (*body)(const void*, int, int), const void* args) {
  constexpr int kMax = 64;
  threads = threads < 1 ? 1 : threads > kMax ? kMax : threads;
  Job jobs[kMax];
  pthread_t ids[kMax];
  for (int t = 0; t < threads; ++t)
    jobs[t] = Job{body, args, t, threads, 0.0f};
  for (int t = 1; t < threads; ++t)
    pthread_create(&ids[t], nullptr, run_job, &jobs[t]);
  run_job(&jobs[0]);
  float sum = jobs[0].result;
  for (int t = 1; t < threads; ++t) {
    pthread_join(ids[t], nullptr);
    sum += jobs[t].result;
  }
  return sum;
}

// 24 independent accumulators: more than latency × issue width (4 × 2), so
// the loop runs at the FMA units' throughput; nothing leaves the registers.
struct PeakArgs {
  std::int64_t iterations;
};

template <class Step>
float peak_body(const void* p, int thread, int) {
  const auto* args = static_cast<const PeakArgs*>(p);
  const Step step;
  __m512 acc[24];
  for (int i = 0; i < 24; ++i)
    acc[i] = _mm512_set1_ps(static_cast<float>(thread + i) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-6f);
  for (std::int64_t it = 0; it < args->iterations; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i)
      acc[i] = step(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 24; ++i)
    s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

template <class Step>
double peak_loop(int threads, std::int64_t iterations, double flops_per_instruction) {
  const PeakArgs args{iterations};
  const double start = now_seconds();
  const float sink = run_threads(threads, peak_body<Step>, &args);
  const double seconds = now_seconds() - start;
  if (sink == 12345.0f) return 0;  // keeps the loop alive
  return static_cast<double>(threads) * static_cast<double>(iterations) * 24 * flops_per_instruction /
         seconds / 1e9;
}

struct FmaStep {
  __m512 operator()(__m512 acc, __m512 a, __m512 b) const { return _mm512_fmadd_ps(acc, a, b); }
};

// vdpbf16ps: 16 lanes × 2 multiply-adds.
struct Bf16Step {
  __m512 operator()(__m512 acc, __m512 a, __m512 b) const {
    return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_castps_si512(a), (__m512bh)_mm512_castps_si512(b));
  }
};

struct StreamArgs {
  const float* data;
  std::int64_t n;
};

float stream_body(const void* p, int t, int nt) {
  const auto* args = static_cast<const StreamArgs*>(p);
  const std::int64_t chunk = args->n / nt / 128 * 128;
  const float* d = args->data + t * chunk;
  __m512 acc[8];
  for (auto& a : acc)
    a = _mm512_setzero_ps();
  for (std::int64_t i = 0; i < chunk; i += 128) {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j)
      acc[j] = _mm512_add_ps(acc[j], _mm512_load_ps(d + i + 16 * j));
  }
  for (int j = 1; j < 8; ++j)
    acc[0] = _mm512_add_ps(acc[0], acc[j]);
  return _mm512_reduce_add_ps(acc[0]);
}

}  // namespace

double fma_peak_gflops(int threads, std::int64_t iterations) {
  return peak_loop<FmaStep>(threads, iterations, 32);
}

double bf16_peak_gflops(int threads, std::int64_t iterations) {
  return peak_loop<Bf16Step>(threads, iterations, 64);
}

double stream_read_gbps(const float* data, std::int64_t n, int threads) {
  const StreamArgs args{data, n};
  const double start = now_seconds();
  const float sink = run_threads(threads, stream_body, &args);
  const double seconds = now_seconds() - start;
  if (sink == 12345.0f) return 0;
  return static_cast<double>(n / threads / 128 * 128 * threads) * 4 / seconds / 1e9;
}

}  // namespace ralm::bench
