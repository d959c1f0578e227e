// What the kernel sets implement for matmul_quant (quant_kernels.cpp
// dispatches), and the layouts they share. Internal to the plugin. Constants
// and declarations only, no inline functions and no standard-library
// templates: the AVX-512 translation unit includes it, and an inline
// function compiled there would carry AVX-512 instructions that the linker
// might pick for everyone.
//
// Lanes (quant_kernels.hpp). A weight group is unpacked into bytes in
// "lane order": byte i belongs to lane (i % 64) / 4, 64 bytes per step.
//   Q8_0, Q4_0: a group is a span of 64 values, one step.
//     Q8_0: span s is blocks 2s and 2s + 1: byte i is element i % 32 of
//       block 2s + i / 32, plus 128.
//     Q4_0: spans 2q and 2q + 1 are blocks 4q to 4q + 3, their low nibbles
//       (elements 0-15) and then their high ones (16-31): byte i is of
//       block 4q + i / 16, element i % 16 (+ 16 in span 2q + 1), as 0..15.
//       Both spans have the same lane scales; one pass over the 72 bytes
//       of 4 blocks unpacks both.
//     Blocks past the row's last (padding the last span) have zero values
//     and zero scales.
//   Q4_K, Q6_K: a group is a super-block of 256, four steps of 64.
//     Q6_K: element order, each value 0..63.
//     Q4_K: its sub-blocks of 32 in the order 0 2 1 3 4 6 5 7, each value
//       0..15: sub-blocks 2j and 2j + 1 are the low and high nibbles of the
//       same 32 bytes, so one 64-byte load of qs gives two steps (its low
//       nibbles, then its high ones).
// The prepared activations of a row put their 8-bit values in the same
// order, so lane l's integer sum is the same whichever set computes it.
#pragma once

#include <cstdint>

namespace ralm::llama::detail {

// GGML type ids (ralm/gguf/ggml_types.hpp) the kernels take.
inline constexpr std::uint32_t kTypeQ4_0 = 2, kTypeQ8_0 = 8, kTypeQ4_K = 12, kTypeQ6_K = 14;

// Prepared activations, one row after the other, each row `groups` groups
// of these bytes (64-byte aligned):
// Q8_0 and Q4_0 weights, per span of 64 values:
//   int8 xq[64]     the row's Q8_0 values, in lane order
//   int32 init[16]  -C · (lane l's 4 values summed), C = 128 for Q8_0 and 8
//                   for Q4_0: the offset that makes the weights unsigned
//   float dx[16]    lane l's block scale (fp16 widened), 0 for a missing block
inline constexpr std::int64_t kSpanActBytes = 192;
// Q4_K and Q6_K weights, per Q8_K super-block:
//   int8 xq[256]     in lane order
//   int16 bsums[16]  Q8_K's sums of each 16 values, in element order
//   float dx         at byte 288; the rest is padding
inline constexpr std::int64_t kSuperActBytes = 320;
inline constexpr std::int64_t kSuperBsumsOffset = 256, kSuperDxOffset = 288;

// One block of outputs and rows: y[r · ldy + o] for r < rows, o < outs.
struct QuantTileArgs {
  std::uint32_t type;
  const unsigned char* w;  // output 0's row of blocks
  std::int64_t w_stride;   // bytes from one output's row to the next
  std::int64_t outs;
  const unsigned char* a;  // row 0's prepared activations
  std::int64_t a_stride;   // bytes from one row's to the next
  std::int64_t rows;
  std::int64_t groups;  // spans or super-blocks per row
  std::int64_t blocks;  // 32-blocks (Q8_0, Q4_0) or super-blocks per row
  float* y;
  std::int64_t ldy;
  void* scratch;  // kQuantScratchBytesPerGroup · groups bytes, 64-byte aligned
};
inline constexpr std::int64_t kQuantScratchBytesPerGroup = 1152;

// Quantizes one row x[0, in) into prepared activations for weights of `type`.
void portable_quant_prepare(std::uint32_t type, const float* x, std::int64_t in, unsigned char* out);
void portable_quant_tile(const QuantTileArgs& a);

#if RALM_LLAMA_AVX512
void avx512_quant_prepare(std::uint32_t type, const float* x, std::int64_t in, unsigned char* out);
void avx512_quant_tile(const QuantTileArgs& a);
#endif

}  // namespace ralm::llama::detail
