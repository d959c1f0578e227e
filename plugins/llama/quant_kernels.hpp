// Matrix products over quantized weights (QuantMatrix: Q8_0, Q4_0, Q4_K,
// Q6_K), the way llama.cpp computes them: each activation row is quantized
// to 8 bits first (to Q8_0 blocks for Q8_0 and Q4_0 weights, to Q8_K
// super-blocks for Q4_K and Q6_K: llama.cpp's vec_dot_type), with ggml's
// reference quantizer, then every block product is an exact integer dot
// product, scaled by the two blocks' scales.
//
// The float steps follow one fixed sequence per output element, the same in
// both kernel sets (kernels.hpp's invariant, and more: portable and avx512
// give identical bits). Each (row, output) pair has 16 float lanes. A group
// of weights (a pair of 32-blocks, or a 256-super-block) contributes to each
// lane l an exact integer s_l, the sum of the products of a fixed set of its
// weights (4 per 32-block, 16 per super-block); the lane then takes
// t = float(s_l) · dx and acc_l = fma(t, dw, acc_l), dx and dw being the
// activation's and the weight's block scales. Once all groups are in, the
// lanes are added in a fixed tree (l + 8, then + 4, + 2, + 1). Q4_K's mins
// (x = d · sc · q - dmin · m) take 8 more lanes of their own, subtracted at
// the end. Which weights feed which lane is each set's natural register
// layout (quant_kernels_impl.hpp); the activation rows are rearranged to
// match when they are quantized.
//
// A row's quantization and its sums depend on that row alone, so neither
// the number of rows in a call nor the thread count changes a bit.
#pragma once

#include <cstdint>

#include "quant_matrix.hpp"
#include "shared_kernels.hpp"

namespace ralm::llama {

// y[r][o] = x[r] · W[o] for r < rows, o < W.out(): x is rows × in with row
// stride ldx, y rows × out with row stride ldy. Parallel over blocks of
// outputs (and of rows, for many rows) on up to `threads` threads.
void matmul_quant(KernelSet set, const float* x, std::int64_t rows, std::int64_t ldx, const QuantMatrix& w,
                  float* y, std::int64_t ldy, int threads);
inline void matmul_quant(KernelSet set, const float* x, std::int64_t rows, const QuantMatrix& w, float* y,
                         int threads) {
  matmul_quant(set, x, rows, w.in(), w, y, w.out(), threads);
}

}  // namespace ralm::llama
