// GGML's reference (de)quantisation, bit for bit: a row quantized here has
// the bytes llama-quantize writes for it (without an importance matrix), and
// a row dequantized here has the floats llama.cpp computes from those bytes.
// Files written by either side therefore mean the same weights to both.
//
// These are the slow, exact versions: the llama plugin's kernels do the hot
// work on the blocks directly.
#pragma once

#include <cstdint>

#include "ralm/gguf/ggml_types.hpp"

namespace ralm::gguf {

// src holds row_bytes(type, n) bytes; dst gets n floats. Types: F32, F16,
// BF16, Q4_0, Q8_0, Q4_K, Q6_K, Q8_K; n a multiple of the block size.
void dequantize_row(GgmlType type, const void* src, float* dst, std::int64_t n);

// ggml's quantize_row_*_ref (what llama-quantize runs without an importance
// matrix) for Q4_0, Q8_0, Q4_K, Q6_K and Q8_K; F16 and BF16 round to nearest
// even (NaN stays NaN, ggml's way for each); F32 is copied. dst gets
// row_bytes(type, n) bytes.
void quantize_row(GgmlType type, const float* src, void* dst, std::int64_t n);

// bfloat16, the top half of a float32, as ggml converts it: round to nearest
// even, and a NaN made quiet (never rounded into an infinity).
std::uint16_t float_to_bf16(float f);
float bf16_to_float(std::uint16_t h);

}  // namespace ralm::gguf
