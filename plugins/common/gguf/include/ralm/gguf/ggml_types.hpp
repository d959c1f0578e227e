// GGML's tensor types as GGUF files store them: the type ids, and the block
// layouts of the quantized ones, byte for byte as llama.cpp's ggml-common.h
// defines them (a file written by either side is read by the other).
//
// A quantized row of `n` weights is n / block_size blocks one after the
// other; a matrix is its rows one after the other, row-major (out × in, the
// first dimension of a GGUF tensor being `in`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ralm::gguf {

// The ids GGUF stores (ggml.h's enum ggml_type). Only the types this
// project reads and writes are named; others are rejected by id.
enum class GgmlType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  Q4_K = 12,
  Q6_K = 14,
  Q8_K = 15,  // activations only, never stored in a file
  BF16 = 30,
};

// IEEE half precision as stored (ggml_half).
using Half = std::uint16_t;

inline constexpr std::int64_t kQK4_0 = 32;
inline constexpr std::int64_t kQK8_0 = 32;
// Super-block size of the k-quants.
inline constexpr std::int64_t kQK_K = 256;
inline constexpr std::int64_t kKScaleSize = 12;

// 32 weights: x = (q - 8) · d, q the 4-bit value; weight j < 16 is the low
// nibble of qs[j], weight j + 16 its high nibble.
struct BlockQ4_0 {
  Half d;
  std::uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// 32 weights: x = q · d.
struct BlockQ8_0 {
  Half d;
  std::int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// 256 weights in 8 sub-blocks of 32: x = d · sc · q - dmin · m, with 6-bit
// scales sc and mins m packed in `scales` (get_scale_min_k4 in ggml), q
// 4-bit: sub-blocks 2j and 2j+1 share qs[32j .. 32j+32), low then high
// nibbles.
struct BlockQ4_K {
  Half d;
  Half dmin;
  std::uint8_t scales[kKScaleSize];
  std::uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// 256 weights in 16 sub-blocks of 16: x = d · scales[i] · (q - 32), q 6-bit:
// its low 4 bits in ql, its high 2 bits in qh.
struct BlockQ6_K {
  std::uint8_t ql[kQK_K / 2];
  std::uint8_t qh[kQK_K / 4];
  std::int8_t scales[kQK_K / 16];
  Half d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// The 8-bit activations k-quant dot products take: x = q · d, with the sums
// of each 16 q's (bsums) kept for the mins.
struct BlockQ8_K {
  float d;
  std::int8_t qs[kQK_K];
  std::int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

struct TypeTraits {
  GgmlType type;
  std::string_view name;    // as llama.cpp prints it: "f32", "q4_K", ...
  std::int64_t block_size;  // weights per block (1 for float types)
  std::size_t block_bytes;  // bytes per block
};

// The traits of a type id a file names; nullopt for ids this project does
// not read.
std::optional<TypeTraits> type_traits(std::uint32_t id);
const TypeTraits& traits(GgmlType type);
inline std::string_view type_name(GgmlType type) {
  return traits(type).name;
}
// Bytes of a row of n weights; n must be a multiple of the block size.
std::size_t row_bytes(GgmlType type, std::int64_t n);
// Whether the type is one of the quantized block formats.
bool is_quantized(GgmlType type);

// IEEE half <-> float, exactly as ggml converts (round to nearest even).
float half_to_float(Half h);
Half float_to_half(float f);

}  // namespace ralm::gguf
