// The limits the benchmark measures, with AVX-512 (this file only is built
// with those flags; llama_bench calls it only when the CPU has them).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12's intrinsic headers initialise "undefined" vectors from themselves
// (GCC bug 105593); -Wuninitialized reports every use.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>
#include <omp.h>

#include "bench_limits.hpp"

namespace ralm::bench {

namespace {

// 24 independent accumulators: more than latency × issue width (4 × 2), so
// the loop runs at the FMA units' throughput; nothing leaves the registers.
template <class Step>
double peak_loop(int threads, std::int64_t iterations, Step step, double flops_per_instruction) {
  const double start = omp_get_wtime();
  float sink = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  {
    __m512 acc[24];
    for (int i = 0; i < 24; ++i)
      acc[i] = _mm512_set1_ps(static_cast<float>(omp_get_thread_num() + i) * 1e-3f);
    const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-6f);
    for (std::int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 24
      for (int i = 0; i < 24; ++i)
        acc[i] = step(acc[i], a, b);
    }
    __m512 s = acc[0];
    for (int i = 1; i < 24; ++i)
      s = _mm512_add_ps(s, acc[i]);
    sink += _mm512_reduce_add_ps(s);
  }
  const double seconds = omp_get_wtime() - start;
  if (sink == 12345.0f) return 0;  // keeps the loop alive
  return static_cast<double>(threads) * static_cast<double>(iterations) * 24 * flops_per_instruction /
         seconds / 1e9;
}

}  // namespace

double fma_peak_gflops(int threads, std::int64_t iterations) {
  return peak_loop(
      threads, iterations, [](__m512 acc, __m512 a, __m512 b) { return _mm512_fmadd_ps(acc, a, b); }, 32);
}

// vdpbf16ps: 16 lanes × 2 multiply-adds.
double bf16_peak_gflops(int threads, std::int64_t iterations) {
  return peak_loop(
      threads, iterations,
      [](__m512 acc, __m512 a, __m512 b) {
        return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_castps_si512(a), (__m512bh)_mm512_castps_si512(b));
      },
      64);
}

double stream_read_gbps(const float* data, std::int64_t n, int threads) {
  const double start = omp_get_wtime();
  float sink = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  {
    const std::int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const std::int64_t chunk = n / nt / 128 * 128;
    const float* p = data + t * chunk;
    __m512 acc[8];
    for (auto& a : acc)
      a = _mm512_setzero_ps();
    for (std::int64_t i = 0; i < chunk; i += 128) {
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j)
        acc[j] = _mm512_add_ps(acc[j], _mm512_load_ps(p + i + 16 * j));
    }
    for (int j = 1; j < 8; ++j)
      acc[0] = _mm512_add_ps(acc[0], acc[j]);
    sink += _mm512_reduce_add_ps(acc[0]);
  }
  const double seconds = omp_get_wtime() - start;
  if (sink == 12345.0f) return 0;
  return static_cast<double>(n / threads / 128 * 128 * threads) * 4 / seconds / 1e9;
}

}  // namespace ralm::bench
