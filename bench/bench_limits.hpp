// The limits llama_bench measures beside its figures (bench_avx512.cpp).
#pragma once

#include <cstdint>

namespace ralm::bench {

// Register-resident loops on `threads` threads: GFLOP/s of the f32 FMA and of
// vdpbf16ps (64 flops per instruction).
double fma_peak_gflops(int threads, std::int64_t iterations);
double bf16_peak_gflops(int threads, std::int64_t iterations);

// A streaming read of n floats (64-byte aligned) split over `threads`: GB/s.
double stream_read_gbps(const float* data, std::int64_t n, int threads);

}  // namespace ralm::bench
