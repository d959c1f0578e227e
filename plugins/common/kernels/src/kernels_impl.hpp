// What the kernel sets implement, for kernels.cpp to dispatch. Internal to
// the library. Deliberately free of standard-library templates: the AVX-512
// translation unit includes it, and an inline function instantiated there
// would carry AVX-512 instructions that the linker might pick for everyone.
#pragma once

#include <cstdint>

namespace ralm::kernels::detail {

// One panel of outputs over a range of k steps, for every row.
struct PanelArgs {
  const void* x;     // f32: floats; bf16: uint32 pairs of bf16; at the range's first k step
  std::int64_t ldx;  // row stride of x, in its elements
  std::int64_t rows;
  const void* w;       // the panel at the range's first k step
  std::int64_t width;  // the panel's width: 16, 32, 48 or 64 outputs
  std::int64_t valid;  // outputs to store (the last panel may be padded)
  std::int64_t steps;  // k steps in the range
  bool first;          // accumulators start at zero rather than from y
  float* y;            // the panel's first output of row 0
  std::int64_t ldy;
};

struct AttendArgs {
  const float* q;  // token t's `heads` queries at q + t · ldq, head_dim apart
  std::int64_t ldq;
  std::int64_t tokens;
  std::int64_t heads;
  // Floats, or bf16 (uint16) when bf16_cache: widened exactly as loaded.
  const void* keys;
  const void* values;
  bool bf16_cache;
  std::int64_t stride;   // in elements
  std::int64_t visible;  // positions token 0 sees; token t sees visible + t
  std::int64_t head_dim;
  float scale;
  float* scores;  // max(heads, 4) × round_up(visible + tokens - 1, 16)
  float* out;     // token t's `heads` outputs at out + t · ldo, head_dim apart
  std::int64_t ldo;
};

void portable_panel_f32(const PanelArgs& a);
void portable_panel_bf16(const PanelArgs& a);
void portable_attend(const AttendArgs& a);
float portable_dot(const float* a, const float* b, std::int64_t n);
void portable_silu_mul(float* gate, const float* up, std::int64_t n);
// Rounds to bf16 (nearest even) and packs (x[2i], x[2i+1]) into pairs[i];
// an odd n gets a zero partner.
void portable_bf16_pairs(const float* x, std::int64_t n, std::uint32_t* pairs);

#if RALM_KERNELS_AVX512
void avx512_panel_f32(const PanelArgs& a);
void avx512_panel_bf16(const PanelArgs& a);
void avx512_attend(const AttendArgs& a);
float avx512_dot(const float* a, const float* b, std::int64_t n);
void avx512_silu_mul(float* gate, const float* up, std::int64_t n);
void avx512_bf16_pairs(const float* x, std::int64_t n, std::uint32_t* pairs);
#endif

}  // namespace ralm::kernels::detail
