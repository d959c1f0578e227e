// The llama plugin's numeric kernels, portable C++ for now.
//
// Each output element is computed by one fixed sequence of operations that
// does not depend on the number of rows in the call or on the thread count,
// so a batched evaluation gives the same bits as one row at a time, and any
// thread count gives the same bits (speculation's identical outputs rest on
// this). The AVX-512 versions (issue: the `llama` model plugin) must keep that
// property.
#pragma once

#include <cstdint>

namespace ralm::llama {

// a·b with 16 independent partial sums combined pairwise: a fixed order, and
// one the compiler vectorises without -ffast-math.
float dot(const float* a, const float* b, std::int64_t n);

// y[r][o] = x[r] · w[o] for r < rows, o < out: x is rows × in, w is out × in
// (a Hugging Face Linear weight), y is rows × out. Parallel over o.
void matmul_transposed(const float* x, std::int64_t rows, std::int64_t in, const float* w, std::int64_t out,
                       float* y, int threads);

// out = x / sqrt(mean(x²) + eps) * weight, mean accumulated in double.
void rms_norm(const float* x, const float* weight, std::int64_t n, double eps, float* out);

// SiLU(gate) * up, in place into gate.
void silu_mul(float* gate, const float* up, std::int64_t n);

}  // namespace ralm::llama
