#include "ralm/gguf/ggml_types.hpp"

#include <bit>
#include <cstring>

#include "ralm/error.hpp"

namespace ralm::gguf {
namespace {

constexpr TypeTraits kTraits[] = {
    {GgmlType::F32, "f32", 1, 4},
    {GgmlType::F16, "f16", 1, 2},
    {GgmlType::Q4_0, "q4_0", kQK4_0, sizeof(BlockQ4_0)},
    {GgmlType::Q8_0, "q8_0", kQK8_0, sizeof(BlockQ8_0)},
    {GgmlType::Q4_K, "q4_K", kQK_K, sizeof(BlockQ4_K)},
    {GgmlType::Q6_K, "q6_K", kQK_K, sizeof(BlockQ6_K)},
    {GgmlType::Q8_K, "q8_K", kQK_K, sizeof(BlockQ8_K)},
    {GgmlType::BF16, "bf16", 1, 2},
};

}  // namespace

std::optional<TypeTraits> type_traits(std::uint32_t id) {
  for (const auto& t : kTraits)
    if (static_cast<std::uint32_t>(t.type) == id) return t;
  return std::nullopt;
}

const TypeTraits& traits(GgmlType type) {
  for (const auto& t : kTraits)
    if (t.type == type) return t;
  throw Error("gguf: unknown type id " + std::to_string(static_cast<std::uint32_t>(type)));
}

std::size_t row_bytes(GgmlType type, std::int64_t n) {
  const auto& t = traits(type);
  if (n % t.block_size != 0)
    throw Error("gguf: a row of " + std::to_string(n) + " " + std::string(t.name) +
                " weights is not a whole number of blocks of " + std::to_string(t.block_size));
  return static_cast<std::size_t>(n / t.block_size) * t.block_bytes;
}

bool is_quantized(GgmlType type) {
  return traits(type).block_size > 1;
}

// ggml's fp16 conversions (ggml-impl.h, the portable branch): exact, with
// subnormals, infinities and NaN kept.
float half_to_float(Half h) {
  const std::uint32_t w = static_cast<std::uint32_t>(h) << 16;
  const std::uint32_t sign = w & UINT32_C(0x80000000);
  const std::uint32_t two_w = w + w;
  const std::uint32_t exp_offset = UINT32_C(0xE0) << 23;
  const float exp_scale = std::bit_cast<float>(UINT32_C(0x7800000));
  const float normalized = std::bit_cast<float>((two_w >> 4) + exp_offset) * exp_scale;
  const std::uint32_t magic_mask = UINT32_C(126) << 23;
  const float magic_bias = 0.5f;
  const float denormalized = std::bit_cast<float>((two_w >> 17) | magic_mask) - magic_bias;
  const std::uint32_t denormalized_cutoff = UINT32_C(1) << 27;
  const std::uint32_t result =
      sign | (two_w < denormalized_cutoff ? std::bit_cast<std::uint32_t>(denormalized)
                                          : std::bit_cast<std::uint32_t>(normalized));
  return std::bit_cast<float>(result);
}

Half float_to_half(float f) {
  const float scale_to_inf = std::bit_cast<float>(UINT32_C(0x77800000));
  const float scale_to_zero = std::bit_cast<float>(UINT32_C(0x08800000));
  float base = (f < 0 ? -f : f) * scale_to_inf * scale_to_zero;
  const std::uint32_t w = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t shl1_w = w + w;
  const std::uint32_t sign = w & UINT32_C(0x80000000);
  std::uint32_t bias = shl1_w & UINT32_C(0xFF000000);
  if (bias < UINT32_C(0x71000000)) bias = UINT32_C(0x71000000);
  base = std::bit_cast<float>((bias >> 1) + UINT32_C(0x07800000)) + base;
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(base);
  const std::uint32_t exp_bits = (bits >> 13) & UINT32_C(0x00007C00);
  const std::uint32_t mantissa_bits = bits & UINT32_C(0x00000FFF);
  const std::uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<Half>((sign >> 16) | (shl1_w > UINT32_C(0xFF000000) ? UINT32_C(0x7E00) : nonsign));
}

}  // namespace ralm::gguf
