// Ported from ggml's ggml-quants.c (llama.cpp b4747): the same operations on
// the same types in the same order, so every float rounds as it does there.
// That is why expressions below keep ggml's shape even where a rewrite would
// read better (x * w * l is (x * w) * l, an int meets a float where ggml lets
// it), and why this file is built with -ffp-contract=off: a multiply and add
// fused here but not in ggml would change the bits.
#include "ralm/gguf/quants.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>

#include "ralm/error.hpp"

namespace ralm::gguf {
namespace {

// Below this largest magnitude a group is all zeros (ggml's GROUP_MAX_EPS).
constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest, ties to even, by adding 1.5 · 2^23 and reading the
// mantissa, as ggml does: exact for |x| <= 2^22 (ggml asserts that in debug
// builds; beyond it both give the same wrong value).
int nearest_int(float x) {
  const float biased = x + 12582912.f;
  const auto bits = std::bit_cast<std::int32_t>(biased);
  return (bits & 0x007fffff) - 0x00400000;
}

// The first of x's values of largest magnitude (0 if all are zero): its
// sign decides the sign of the scale in q4_0, q6_K and q8_K.
float largest_magnitude(const float* x, int n) {
  float max = 0.0f, amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  return max;
}

// Blocks in a row of n values; throws when n is not a whole number of them.
std::int64_t blocks_in(GgmlType type, std::int64_t n) {
  return static_cast<std::int64_t>(row_bytes(type, n) / traits(type).block_bytes);
}

// ---- Q4_0: x = (q - 8) · d ----

void quantize_q4_0(const float* x, BlockQ4_0* y, std::int64_t n) {
  const std::int64_t nb = blocks_in(GgmlType::Q4_0, n);
  for (std::int64_t i = 0; i < nb; ++i) {
    // The signed value of largest magnitude maps to -8, the one end of the
    // 4-bit range that has no positive twin.
    const float max = largest_magnitude(x + i * kQK4_0, kQK4_0);
    const float d = max / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = float_to_half(d);
    for (std::int64_t j = 0; j < kQK4_0 / 2; ++j) {
      const float x0 = x[i * kQK4_0 + j] * id;
      const float x1 = x[i * kQK4_0 + kQK4_0 / 2 + j] * id;
      // ggml converts through int8_t, truncating toward zero.
      const auto q0 =
          static_cast<std::uint8_t>(std::min(15, static_cast<int>(static_cast<std::int8_t>(x0 + 8.5f))));
      const auto q1 =
          static_cast<std::uint8_t>(std::min(15, static_cast<int>(static_cast<std::int8_t>(x1 + 8.5f))));
      y[i].qs[j] = static_cast<std::uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_q4_0(const BlockQ4_0* x, float* y, std::int64_t n) {
  const std::int64_t nb = blocks_in(GgmlType::Q4_0, n);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = half_to_float(x[i].d);
    for (std::int64_t j = 0; j < kQK4_0 / 2; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F) - 8;
      const int x1 = (x[i].qs[j] >> 4) - 8;
      y[i * kQK4_0 + j] = static_cast<float>(x0) * d;
      y[i * kQK4_0 + j + kQK4_0 / 2] = static_cast<float>(x1) * d;
    }
  }
}

// ---- Q8_0: x = q · d ----

void quantize_q8_0(const float* x, BlockQ8_0* y, std::int64_t n) {
  const std::int64_t nb = blocks_in(GgmlType::Q8_0, n);
  for (std::int64_t i = 0; i < nb; ++i) {
    float amax = 0.0f;
    for (std::int64_t j = 0; j < kQK8_0; ++j)
      amax = std::max(amax, std::fabs(x[i * kQK8_0 + j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = float_to_half(d);
    for (std::int64_t j = 0; j < kQK8_0; ++j)
      y[i].qs[j] = static_cast<std::int8_t>(std::round(x[i * kQK8_0 + j] * id));  // ties away from zero
  }
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, std::int64_t n) {
  const std::int64_t nb = blocks_in(GgmlType::Q8_0, n);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = half_to_float(x[i].d);
    for (std::int64_t j = 0; j < kQK8_0; ++j)
      y[i * kQK8_0 + j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

// ---- Q4_K ----

// ggml's make_qkx2_quants with use_mad = false: levels L in [0, nmax] and a
// scale and a min for x ≈ scale · L - the_min, searching nstep + 1 scales
// around nmax / (max - min) for the least weighted squared error.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, float* the_min,
                       std::uint8_t* Laux, float rmin, float rdelta, int nstep) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i)
      L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_mad = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<std::uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * static_cast<float>(L[i]) + min - x[i];
    diff = diff * diff;
    const float w = weights[i];
    best_mad += w * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<std::uint8_t>(l);
      const float w = weights[i];
      const auto lf = static_cast<float>(l);
      sum_l += w * lf;
      sum_l2 += w * lf * lf;
      sum_xl += w * lf * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float mad = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * static_cast<float>(Laux[i]) + this_min - x[i];
        diff = diff * diff;
        const float w = weights[i];
        mad += w * diff;
      }
      if (mad < best_mad) {
        for (int i = 0; i < n; ++i)
          L[i] = Laux[i];
        best_mad = mad;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Sub-block j's 6-bit scale and min from the 12 packed bytes: j < 4 in the
// low 6 bits of bytes j and j + 4; j >= 4 split between a nibble of byte
// j + 4 and the top 2 bits of bytes j - 4 and j.
void get_scale_min_k4(int j, const std::uint8_t* q, std::uint8_t* d, std::uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<std::uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<std::uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

void quantize_q4_K(const float* x, BlockQ4_K* y, std::int64_t n) {
  const std::int64_t nb = blocks_in(GgmlType::Q4_K, n);
  std::uint8_t L[kQK_K];
  std::uint8_t Laux[32];
  float weights[32];
  float mins[kQK_K / 32];
  float scales[kQK_K / 32];
  for (std::int64_t i = 0; i < nb; ++i) {
    float max_scale = 0;  // scales are positive: the min is taken out first
    float max_min = 0;
    for (int j = 0; j < kQK_K / 32; ++j) {
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l)
        sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l)
        weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20);
      const float scale = scales[j];
      if (scale > max_scale) max_scale = scale;
      const float min = mins[j];
      if (min > max_min) max_min = min;
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < kQK_K / 32; ++j) {
      auto ls = static_cast<std::uint8_t>(nearest_int(inv_scale * scales[j]));
      auto lm = static_cast<std::uint8_t>(nearest_int(inv_min * mins[j]));
      ls = std::min<std::uint8_t>(63, ls);
      lm = std::min<std::uint8_t>(63, lm);
      if (j < 4) {
        y[i].scales[j] = ls;
        y[i].scales[j + 4] = lm;
      } else {
        y[i].scales[j + 4] = static_cast<std::uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
        y[i].scales[j - 4] |= static_cast<std::uint8_t>((ls >> 4) << 6);
        y[i].scales[j - 0] |= static_cast<std::uint8_t>((lm >> 4) << 6);
      }
    }
    y[i].d = float_to_half(max_scale / 63.f);
    y[i].dmin = float_to_half(max_min / 63.f);
    // Requantize against the 6-bit scales as stored; a sub-block whose scale
    // rounded to zero keeps make_qkx2_quants' levels, as in ggml.
    std::uint8_t sc, m;
    for (int j = 0; j < kQK_K / 32; ++j) {
      get_scale_min_k4(j, y[i].scales, &sc, &m);
      const float d = half_to_float(y[i].d) * static_cast<float>(sc);
      if (d == 0.0f) continue;
      const float dm = half_to_float(y[i].dmin) * static_cast<float>(m);
      for (int ii = 0; ii < 32; ++ii) {
        const int l = nearest_int((x[32 * j + ii] + dm) / d);
        L[32 * j + ii] = static_cast<std::uint8_t>(std::max(0, std::min(15, l)));
      }
    }
    std::uint8_t* q = y[i].qs;
    for (int j = 0; j < kQK_K; j += 64) {
      for (int l = 0; l < 32; ++l)
        q[l] = static_cast<std::uint8_t>(L[j + l] | (L[j + l + 32] << 4));
      q += 32;
    }
    x += kQK_K;
  }
}

void dequantize_q4_K(const BlockQ4_K* x, float* y, std::int64_t n) {
  const std::int64_t nb = blocks_in(GgmlType::Q4_K, n);
  for (std::int64_t i = 0; i < nb; ++i) {
    const std::uint8_t* q = x[i].qs;
    const float d = half_to_float(x[i].d);
    const float min = half_to_float(x[i].dmin);
    int is = 0;
    std::uint8_t sc, m;
    for (int j = 0; j < kQK_K; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = min * static_cast<float>(m);
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * static_cast<float>(sc);
      const float m2 = min * static_cast<float>(m);
      for (int l = 0; l < 32; ++l)
        *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l)
        *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

// ---- Q6_K ----

// ggml's make_qx_quants with rmse_type = 1 and no importance weights (each
// value weighted by its square), as quantize_row_q6_K_ref calls it: levels L
// in [0, 2 · nmax) for x ≈ scale · (L - nmax), trying 19 scales around
// nmax / max for the best weighted fit.
float make_qx_quants(int n, int nmax, const float* x, std::int8_t* L) {
  const float max = largest_magnitude(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    for (int i = 0; i < n; ++i)
      L[i] = 0;
    return 0.f;
  }
  float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<std::int8_t>(l + nmax);
    const float w = x[i] * x[i];
    const auto lf = static_cast<float>(l);
    sumlx += w * x[i] * lf;
    suml2 += w * lf * lf;
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = x[i] * x[i];
      const auto lf = static_cast<float>(l);
      sumlx += w * x[i] * lf;
      suml2 += w * lf * lf;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<std::int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

void quantize_q6_K(const float* x, BlockQ6_K* y, std::int64_t n) {
  const std::int64_t nb = blocks_in(GgmlType::Q6_K, n);
  std::int8_t L[kQK_K];
  float scales[kQK_K / 16];
  for (std::int64_t i = 0; i < nb; ++i) {
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
      scales[ib] = scale;
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[i], 0, sizeof(BlockQ6_K));
      y[i].d = float_to_half(0.f);
      x += kQK_K;
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = float_to_half(1 / iscale);
    for (int ib = 0; ib < kQK_K / 16; ++ib)
      y[i].scales[ib] = static_cast<std::int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    // Requantize against the 8-bit scales as stored; a sub-block whose
    // scale is zero keeps make_qx_quants' levels, as in ggml.
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = half_to_float(y[i].d) * static_cast<float>(y[i].scales[j]);
      if (d == 0.0f) continue;
      for (int ii = 0; ii < 16; ++ii) {
        int l = nearest_int(x[16 * j + ii] / d);
        l = std::max(-32, std::min(31, l));
        L[16 * j + ii] = static_cast<std::int8_t>(l + 32);
      }
    }
    std::uint8_t* ql = y[i].ql;
    std::uint8_t* qh = y[i].qh;
    for (int j = 0; j < kQK_K; j += 128) {
      for (int l = 0; l < 32; ++l) {
        const auto level = [&](int k) { return static_cast<std::uint8_t>(L[j + l + k]); };
        const std::uint8_t q1 = level(0) & 0xF;
        const std::uint8_t q2 = level(32) & 0xF;
        const std::uint8_t q3 = level(64) & 0xF;
        const std::uint8_t q4 = level(96) & 0xF;
        ql[l + 0] = static_cast<std::uint8_t>(q1 | (q3 << 4));
        ql[l + 32] = static_cast<std::uint8_t>(q2 | (q4 << 4));
        qh[l] = static_cast<std::uint8_t>((level(0) >> 4) | ((level(32) >> 4) << 2) |
                                          ((level(64) >> 4) << 4) | ((level(96) >> 4) << 6));
      }
      ql += 64;
      qh += 32;
    }
    x += kQK_K;
  }
}

void dequantize_q6_K(const BlockQ6_K* x, float* y, std::int64_t n) {
  const std::int64_t nb = blocks_in(GgmlType::Q6_K, n);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = half_to_float(x[i].d);
    const std::uint8_t* ql = x[i].ql;
    const std::uint8_t* qh = x[i].qh;
    const std::int8_t* sc = x[i].scales;
    for (int n128 = 0; n128 < kQK_K; n128 += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

// ---- Q8_K: x = q · d, d a float ----

void quantize_q8_K(const float* x, BlockQ8_K* y, std::int64_t n) {
  const std::int64_t nb = blocks_in(GgmlType::Q8_K, n);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float max = largest_magnitude(x, kQK_K);
    if (max == 0.0f) {
      // ggml leaves bsums as they were; zero is what they sum to.
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      x += kQK_K;
      continue;
    }
    // -127, not -128: ggml keeps the range symmetric for its SIMD code.
    const float iscale = -127.f / max;
    for (int j = 0; j < kQK_K; ++j) {
      const int v = nearest_int(iscale * x[j]);
      y[i].qs[j] = static_cast<std::int8_t>(std::min(127, v));
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      int sum = 0;
      for (int ii = 0; ii < 16; ++ii)
        sum += y[i].qs[j * 16 + ii];
      y[i].bsums[j] = static_cast<std::int16_t>(sum);
    }
    y[i].d = 1 / iscale;
    x += kQK_K;
  }
}

void dequantize_q8_K(const BlockQ8_K* x, float* y, std::int64_t n) {
  const std::int64_t nb = blocks_in(GgmlType::Q8_K, n);
  for (std::int64_t i = 0; i < nb; ++i) {
    for (int j = 0; j < kQK_K; ++j)
      *y++ = x[i].d * static_cast<float>(x[i].qs[j]);
  }
}

[[noreturn]] void unsupported(GgmlType type, const char* what) {
  throw Error(std::string("gguf: ") + what + " of type id " +
              std::to_string(static_cast<std::uint32_t>(type)) + " is not implemented");
}

}  // namespace

std::uint16_t float_to_bf16(float f) {
  const auto bits = std::bit_cast<std::uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 64u);
  return static_cast<std::uint16_t>((bits + (0x7fffu + ((bits >> 16) & 1u))) >> 16);
}

float bf16_to_float(std::uint16_t h) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

void dequantize_row(GgmlType type, const void* src, float* dst, std::int64_t n) {
  switch (type) {
    case GgmlType::F32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
      return;
    case GgmlType::F16:
      for (std::int64_t i = 0; i < n; ++i)
        dst[i] = half_to_float(static_cast<const Half*>(src)[i]);
      return;
    case GgmlType::BF16:
      for (std::int64_t i = 0; i < n; ++i)
        dst[i] = bf16_to_float(static_cast<const std::uint16_t*>(src)[i]);
      return;
    case GgmlType::Q4_0:
      return dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, n);
    case GgmlType::Q8_0:
      return dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, n);
    case GgmlType::Q4_K:
      return dequantize_q4_K(static_cast<const BlockQ4_K*>(src), dst, n);
    case GgmlType::Q6_K:
      return dequantize_q6_K(static_cast<const BlockQ6_K*>(src), dst, n);
    case GgmlType::Q8_K:
      return dequantize_q8_K(static_cast<const BlockQ8_K*>(src), dst, n);
  }
  unsupported(type, "dequantisation");
}

void quantize_row(GgmlType type, const float* src, void* dst, std::int64_t n) {
  switch (type) {
    case GgmlType::F32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
      return;
    case GgmlType::F16:
      for (std::int64_t i = 0; i < n; ++i)
        static_cast<Half*>(dst)[i] = float_to_half(src[i]);
      return;
    case GgmlType::BF16:
      for (std::int64_t i = 0; i < n; ++i)
        static_cast<std::uint16_t*>(dst)[i] = float_to_bf16(src[i]);
      return;
    case GgmlType::Q4_0:
      return quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), n);
    case GgmlType::Q8_0:
      return quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), n);
    case GgmlType::Q4_K:
      return quantize_q4_K(src, static_cast<BlockQ4_K*>(dst), n);
    case GgmlType::Q6_K:
      return quantize_q6_K(src, static_cast<BlockQ6_K*>(dst), n);
    case GgmlType::Q8_K:
      return quantize_q8_K(src, static_cast<BlockQ8_K*>(dst), n);
  }
  unsupported(type, "quantisation");
}

}  // namespace ralm::gguf
