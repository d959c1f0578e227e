// matmul_quant's AVX-512 kernel set: avx512f/bw/vl with VNNI (vpdpbusd).
// Built with those flags in this file only and called only after
// kernel_set_supported() has checked the CPU (see kernels_avx512.cpp for why
// everything here but the entry points has internal linkage and no
// standard-library template is used).
//
// The integer sums are exact and the float steps are those of the portable
// set, in the same order (quant_kernels.hpp), so both sets give the same
// bits.
//
// Weights are read in place (GGUF's blocks) and unpacked to lane order in
// registers. With more rows than one register block, a block of outputs is
// unpacked once into a panel in cache and every block of rows then runs over
// it, so prefill pays the unpacking once per 64 rows rather than once per 4.
#include "ralm/kernels/avx512_common.hpp"

#include <cstring>

#include "quant_kernels_impl.hpp"

namespace ralm::llama::detail {

namespace {

using kernels::detail::sum_lanes;
using kernels::detail::sum_lanes8;

// Outputs per register block; rows per register block at most.
constexpr int kSpanCols = 4;
constexpr int kSuperCols = 2;
constexpr int kMaxRows = 4;
// How far ahead of the block of outputs being computed its successors'
// weights are fetched.
constexpr std::int64_t kPrefetchBytes = 8192;

// Decoded group sizes in a panel: span = wq[64] | dw[16 floats];
// super-block = wq[256] | sc[4][32 int16] | m or sc16 [16 int16] | d | dmin.
constexpr int kSpanDecBytes = 128;
constexpr int kSuperDecBytes = 576;
constexpr int kSuperScOffset = 256, kSuperExtraOffset = 512, kSuperDOffset = 544;

constexpr std::int64_t kQ4_0Bytes = 18, kQ8_0Bytes = 34, kQ4_KBytes = 144, kQ6_KBytes = 210;
static_assert(kSpanCols * kSpanDecBytes <= kQuantScratchBytesPerGroup &&
              kSuperCols * kSuperDecBytes <= kQuantScratchBytesPerGroup);

inline float half_to_float(std::uint16_t h) {
  return _mm512_cvtss_f32(_mm512_cvtph_ps(_mm256_castsi128_si256(_mm_cvtsi32_si128(h))));
}

inline std::uint16_t load_u16(const unsigned char* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// ---- Activations ----

// roundf: to nearest, halfway cases away from zero (ggml's quantize_row_q8_0_ref).
inline __m512 round_away(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
  const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 one = _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_castps_si512(_mm512_set1_ps(1.0f)),
      _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(static_cast<int>(0x80000000u)))));
  return _mm512_mask_add_ps(t, up, t, one);
}

// One Q8_0 block as quantize_row_q8_0_ref makes it: its two halves of 16
// values and its scale as stored (fp16), widened.
struct Q8Block {
  __m128i lo, hi;
  float d;
};

inline Q8Block quantize_q8_0(const float* x) {
  const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  const float d = amax / 127;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const __m512 vid = _mm512_set1_ps(id);
  Q8Block b;
  b.lo = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_away(_mm512_mul_ps(v0, vid))));
  b.hi = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_away(_mm512_mul_ps(v1, vid))));
  const __m256i h = _mm512_cvtps_ph(_mm512_set1_ps(d), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  b.d = _mm512_cvtss_f32(_mm512_cvtph_ps(h));
  return b;
}

inline void store_span(unsigned char* g, __m512i xq, __m512 dx, int offset_shift) {
  // init: -C · each lane's sum, C = 2^offset_shift.
  const __m512i sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), xq);
  _mm512_store_si512(g, xq);
  _mm512_store_si512(g + 64, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sums, offset_shift)));
  _mm512_store_ps(g + 128, dx);
}

inline __m512i join(__m128i a, __m128i b, __m128i c, __m128i d) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1)),
                            _mm256_inserti128_si256(_mm256_castsi128_si256(c), d, 1), 1);
}

template <std::uint32_t Type>
void prepare_spans(const float* x, std::int64_t in, unsigned char* out) {
  const std::int64_t blocks = in / 32;
  const Q8Block none{_mm_setzero_si128(), _mm_setzero_si128(), 0.0f};
  const auto block = [&](std::int64_t b) { return b < blocks ? quantize_q8_0(x + 32 * b) : none; };
  if constexpr (Type == kTypeQ8_0) {
    for (std::int64_t s = 0; 2 * s < blocks; ++s) {
      const Q8Block b0 = block(2 * s), b1 = block(2 * s + 1);
      store_span(out + s * kSpanActBytes, join(b0.lo, b0.hi, b1.lo, b1.hi),
                 _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(b0.d), _mm512_set1_ps(b1.d)), 7);
    }
  } else {
    for (std::int64_t q = 0; 4 * q < blocks; ++q) {
      const Q8Block b0 = block(4 * q), b1 = block(4 * q + 1), b2 = block(4 * q + 2), b3 = block(4 * q + 3);
      const __m512 dx = _mm512_setr_ps(b0.d, b0.d, b0.d, b0.d, b1.d, b1.d, b1.d, b1.d, b2.d, b2.d, b2.d, b2.d,
                                       b3.d, b3.d, b3.d, b3.d);
      store_span(out + 2 * q * kSpanActBytes, join(b0.lo, b1.lo, b2.lo, b3.lo), dx, 3);
      store_span(out + (2 * q + 1) * kSpanActBytes, join(b0.hi, b1.hi, b2.hi, b3.hi), dx, 3);
    }
  }
}

// Q4_K's sub-blocks of 32 in lane order (quant_kernels_impl.hpp).
constexpr int kQ4KChunkOrder[8] = {0, 2, 1, 3, 4, 6, 5, 7};

// quantize_row_q8_K_ref, written in lane order.
template <std::uint32_t Type>
void prepare_supers(const float* x, std::int64_t in, unsigned char* out) {
  const std::int64_t supers = in / 256;
  for (std::int64_t k = 0; k < supers; ++k, x += 256) {
    unsigned char* g = out + k * kSuperActBytes;
    __m512 v[16];
    __m512 amax_v = _mm512_setzero_ps();
    for (int i = 0; i < 16; ++i) {
      v[i] = _mm512_loadu_ps(x + 16 * i);
      amax_v = _mm512_max_ps(amax_v, _mm512_abs_ps(v[i]));
    }
    const float amax = _mm512_reduce_max_ps(amax_v);
    std::memset(g + 256, 0, kSuperActBytes - 256);
    if (amax == 0.0f) {
      std::memset(g, 0, 256);
      continue;
    }
    // The value of largest magnitude, its first occurrence: its sign decides
    // the scale's.
    float max = 0.0f;
    for (int i = 0; i < 16; ++i) {
      const __mmask16 m = _mm512_cmp_ps_mask(_mm512_abs_ps(v[i]), _mm512_set1_ps(amax), _CMP_EQ_OQ);
      if (m) {
        max = x[16 * i + __builtin_ctz(m)];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    std::int16_t bsums[16];
    for (int i = 0; i < 16; ++i) {
      // Round to nearest even, as ggml's nearest_int.
      const __m512i q = _mm512_min_epi32(
          _mm512_cvt_roundps_epi32(_mm512_mul_ps(v[i], vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
          _mm512_set1_epi32(127));
      bsums[i] = static_cast<std::int16_t>(_mm512_reduce_add_epi32(q));
      const int chunk = i / 2;
      int pos = chunk;
      if constexpr (Type == kTypeQ4_K) {
        for (int c = 0; c < 8; ++c)
          if (kQ4KChunkOrder[c] == chunk) pos = c;
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(g + 32 * pos + 16 * (i % 2)), _mm512_cvtepi32_epi8(q));
    }
    std::memcpy(g + kSuperBsumsOffset, bsums, sizeof bsums);
    const float d = 1 / iscale;
    std::memcpy(g + kSuperDxOffset, &d, sizeof d);
  }
}

// ---- Weights: one group unpacked to lane order ----

alignas(64) constexpr std::int16_t kQ8_0D[32] = {0, 0, 0, 0, 0, 0, 0, 0, 17, 17, 17, 17, 17, 17, 17, 17,
                                                 0, 0, 0, 0, 0, 0, 0, 0, 17, 17, 17, 17, 17, 17, 17, 17};

// Q8_0 span s: blocks 2s and 2s + 1 of a row (the second may be missing:
// masked loads read nothing past the row). The two fp16 scales are words 0
// and 17 of the pair, spread over the lanes they scale.
inline void unpack_q8_0(const unsigned char* row, std::int64_t s, std::int64_t blocks, __m512i& wq,
                        __m512& dw) {
  const bool second = 2 * s + 1 < blocks;
  const unsigned char* b0 = row + 2 * s * kQ8_0Bytes;
  const __m256i q0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + 2));
  const __m256i q1 = second ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + kQ8_0Bytes + 2))
                            : _mm256_set1_epi8(-128);
  // Plus 128 (the sign bit flipped): unsigned, as vpdpbusd takes them.
  wq = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1), _mm512_set1_epi8(-128));
  const __m512i head = _mm512_maskz_loadu_epi8(second ? (std::uint64_t{1} << 36) - 1 : 3, b0);
  dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(_mm512_load_si512(kQ8_0D), head)));
}

// Q4_0 spans 2q and 2q + 1: blocks 4q to 4q + 3, 72 bytes, in two
// overlapping loads (bytes 0-63 and 8-71; masked, so blocks past the row's
// last read as zeros). One word permute gathers the four blocks' quants
// (words 1-8, 10-17, 19-26 of the first load, 24-31 of the second, i.e.
// permute indices 56-63), another spreads their scales (words 0, 9, 18, 27)
// over the lanes they scale.
alignas(64) constexpr std::int16_t kQ4_0Qs[32] = {1,  2,  3,  4,  5,  6,  7,  8,  10, 11, 12,
                                                  13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24,
                                                  25, 26, 56, 57, 58, 59, 60, 61, 62, 63};
alignas(64) constexpr std::int16_t kQ4_0D[32] = {0, 0, 0, 0, 9, 9, 9, 9, 18, 18, 18, 18, 27, 27, 27, 27,
                                                 0, 0, 0, 0, 9, 9, 9, 9, 18, 18, 18, 18, 27, 27, 27, 27};

inline __mmask64 first_bytes(std::int64_t n) {
  return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
}

inline void unpack_q4_0(const unsigned char* row, std::int64_t q, std::int64_t blocks, __m512i& low,
                        __m512i& high, __m512& dw) {
  const std::int64_t present = blocks - 4 * q < 4 ? blocks - 4 * q : 4;
  const std::int64_t bytes = present * kQ4_0Bytes;
  const unsigned char* b = row + 4 * q * kQ4_0Bytes;
  const __m512i head = _mm512_maskz_loadu_epi8(first_bytes(bytes), b);
  const __m512i tail = _mm512_maskz_loadu_epi8(first_bytes(bytes - 8), b + 8);
  const __m512i qs = _mm512_permutex2var_epi16(head, _mm512_load_si512(kQ4_0Qs), tail);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  low = _mm512_and_si512(qs, low4);
  high = _mm512_and_si512(_mm512_srli_epi16(qs, 4), low4);
  dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(_mm512_load_si512(kQ4_0D), head)));
}

// A super-block of one output as loaded, what its four steps unpack from.
struct SuperRaw {
  __m512i q[2];    // Q4_K: qs bytes 0-63 and 64-127; Q6_K: ql bytes 0-63 and 64-127
  __m512i h[2];    // Q6_K, per half of 128 values: [qh's 32 bytes, the same >> 2]
  __m512i scales;  // int16: Q4_K's 8 scales then its 8 mins; Q6_K's 16 scales
  float d, dmin;
};

alignas(64) constexpr std::int16_t kQ6KScaleIndex[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                         2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
alignas(64) constexpr std::int16_t kQ4KMinIndex[32] = {8,  8,  9,  9,  10, 10, 11, 11, 12, 12, 13,
                                                       13, 14, 14, 15, 15, 8,  8,  9,  9,  10, 10,
                                                       11, 11, 12, 12, 13, 13, 14, 14, 15, 15};

inline void halves_to_floats(std::uint32_t two_halves, float& lo, float& hi) {
  const __m128 f = _mm512_castps512_ps128(
      _mm512_cvtph_ps(_mm256_castsi128_si256(_mm_cvtsi32_si128(static_cast<int>(two_halves)))));
  lo = _mm_cvtss_f32(f);
  hi = _mm_cvtss_f32(_mm_movehdup_ps(f));
}

template <std::uint32_t Type>
inline SuperRaw load_super(const unsigned char* row, std::int64_t k) {
  SuperRaw w;
  if constexpr (Type == kTypeQ4_K) {
    const unsigned char* b = row + k * kQ4_KBytes;
    w.q[0] = _mm512_loadu_si512(b + 16);
    w.q[1] = _mm512_loadu_si512(b + 80);
    // ggml's get_scale_min_k4 for all 8 sub-blocks at once, on 32-bit
    // words (as its AVX2 dot product does): the 6-bit scales into the bytes
    // of u0 and u1, the mins into u2 and u3.
    std::uint32_t u[3];
    std::memcpy(u, b + 4, sizeof u);
    constexpr std::uint32_t kLow6 = 0x3f3f3f3f, kLow4 = 0x0f0f0f0f, kLow2 = 0x03030303;
    const std::uint32_t m_hi = ((u[2] >> 4) & kLow4) | (((u[1] >> 6) & kLow2) << 4);
    const std::uint32_t m_lo = u[1] & kLow6;
    const std::uint32_t sc_hi = (u[2] & kLow4) | (((u[0] >> 6) & kLow2) << 4);
    const std::uint32_t sc_lo = u[0] & kLow6;
    w.scales = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_setr_epi32(
        static_cast<int>(sc_lo), static_cast<int>(sc_hi), static_cast<int>(m_lo), static_cast<int>(m_hi))));
    std::uint32_t dd;
    std::memcpy(&dd, b, 4);
    halves_to_floats(dd, w.d, w.dmin);
  } else {
    const unsigned char* b = row + k * kQ6_KBytes;
    w.q[0] = _mm512_loadu_si512(b);
    w.q[1] = _mm512_loadu_si512(b + 64);
    const __m512i qh = _mm512_loadu_si512(b + 128);
    const __m256i h0 = _mm512_castsi512_si256(qh), h1 = _mm512_extracti64x4_epi64(qh, 1);
    w.h[0] = _mm512_inserti64x4(_mm512_castsi256_si512(h0), _mm256_srli_epi16(h0, 2), 1);
    w.h[1] = _mm512_inserti64x4(_mm512_castsi256_si512(h1), _mm256_srli_epi16(h1, 2), 1);
    w.scales = _mm512_castsi256_si512(
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192))));
    w.d = half_to_float(load_u16(b + 208));
    w.dmin = 0.0f;
  }
  return w;
}

// Step s's 64 values, unsigned, in lane order.
template <std::uint32_t Type>
inline __m512i step_values(const SuperRaw& w, int s) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i v = w.q[s / 2];
  if constexpr (Type == kTypeQ4_K) {
    return _mm512_and_si512(s % 2 == 0 ? v : _mm512_srli_epi16(v, 4), low4);
  } else {
    // Low 4 bits from ql, high 2 from qh: bits 0-1 for the half's first 32
    // values, 2-3 for the next 32, then 4-5 and 6-7.
    const __m512i low2 = _mm512_set1_epi8(0x03);
    const __m512i h = w.h[s / 2];
    if (s % 2 == 0)
      return _mm512_or_si512(_mm512_and_si512(v, low4), _mm512_slli_epi16(_mm512_and_si512(h, low2), 4));
    return _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), low4),
                           _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 4), low2), 4));
  }
}

// The int16 scale of each of step s's 32 value pairs.
template <std::uint32_t Type>
inline __m512i step_scales(const SuperRaw& w, int s) {
  if constexpr (Type == kTypeQ4_K) {
    // Lanes 0-7 are sub-block kQ4KChunkOrder[2s], lanes 8-15 the next in that order.
    return _mm512_permutexvar_epi16(
        _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(static_cast<short>(kQ4KChunkOrder[2 * s])),
                                _mm512_set1_epi16(static_cast<short>(kQ4KChunkOrder[2 * s + 1]))),
        w.scales);
  } else {
    // Pair i covers values 64s + 2i and 64s + 2i + 1, of sub-block 4s + i / 8.
    return _mm512_permutexvar_epi16(
        _mm512_add_epi16(_mm512_set1_epi16(static_cast<short>(4 * s)), _mm512_load_si512(kQ6KScaleIndex)),
        w.scales);
  }
}

// What multiplies the activations' 16 bsums: Q4_K's min of each (m_j for
// bsums 2j and 2j + 1), Q6_K's scale of each.
template <std::uint32_t Type>
inline __m256i bsum_weights(const SuperRaw& w) {
  if constexpr (Type == kTypeQ4_K)
    return _mm512_castsi512_si256(_mm512_permutexvar_epi16(_mm512_load_si512(kQ4KMinIndex), w.scales));
  else
    return _mm512_castsi512_si256(w.scales);
}

// A super-block unpacked into a panel: values[4][64] | scales[4][32 int16]
// | bsum weights[16 int16] | d | dmin.
template <std::uint32_t Type>
inline void store_super(const SuperRaw& w, unsigned char* dst) {
  for (int s = 0; s < 4; ++s) {
    _mm512_store_si512(dst + 64 * s, step_values<Type>(w, s));
    _mm512_store_si512(dst + kSuperScOffset + 64 * s, step_scales<Type>(w, s));
  }
  _mm256_store_si256(reinterpret_cast<__m256i*>(dst + kSuperExtraOffset), bsum_weights<Type>(w));
  const float d[2] = {w.d, w.dmin};
  std::memcpy(dst + kSuperDOffset, d, sizeof d);
}

// ---- Register blocks ----

struct Tile {
  const QuantTileArgs* a;
  const unsigned char* rows[kSpanCols];  // the block's outputs' weight rows
  int cols;                              // outputs to store
  float* y;                              // the block's first output of row 0
  const unsigned char* panel;            // the block's groups unpacked (panel blocks only)
  // A later block's weights (rows follow each other), fetched a slice per
  // group while this block computes: each output row is a short stream
  // (1-6 KiB), too short for the hardware prefetchers to get ahead of. Null
  // near the end.
  const unsigned char* ahead;
  std::int64_t ahead_lines;  // cache lines per group
};

inline void fetch_ahead(const Tile& t, std::int64_t g) {
  if (!t.ahead) return;
  const char* p = reinterpret_cast<const char*>(t.ahead) + g * t.ahead_lines * 64;
  for (std::int64_t i = 0; i < t.ahead_lines; ++i)
    _mm_prefetch(p + 64 * i, _MM_HINT_T1);
}

// R rows from r0 against the tile's kSpanCols outputs, unpacking the spans
// as it goes or (Panel) reading them unpacked from the panel.
template <std::uint32_t Type, int R, bool Panel>
void span_block(const Tile& t, std::int64_t r0) {
  constexpr int C = kSpanCols;
  const QuantTileArgs& a = *t.a;
  __m512 acc[R][C];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c)
      acc[r][c] = _mm512_setzero_ps();
  const unsigned char* act = a.a + r0 * a.a_stride;
  // Span s's contribution to every (row, output) of the block.
  const auto accumulate = [&](std::int64_t s, const __m512i(&wq)[C], const __m512(&dw)[C]) {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const unsigned char* g = act + r * a.a_stride + s * kSpanActBytes;
      const __m512i xq = _mm512_load_si512(g);
      const __m512i init = _mm512_load_si512(g + 64);
      const __m512 dx = _mm512_load_ps(g + 128);
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(init, wq[c], xq)), dx);
        acc[r][c] = _mm512_fmadd_ps(f, dw[c], acc[r][c]);
      }
    }
  };
  if constexpr (Panel) {
    for (std::int64_t s = 0; s < a.groups; ++s) {
      __m512i wq[C];
      __m512 dw[C];
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        const unsigned char* d = t.panel + (s * C + c) * kSpanDecBytes;
        wq[c] = _mm512_load_si512(d);
        dw[c] = _mm512_load_ps(d + 64);
      }
      accumulate(s, wq, dw);
    }
  } else if constexpr (Type == kTypeQ4_0) {
    for (std::int64_t q = 0; 2 * q < a.groups; ++q) {
      fetch_ahead(t, 2 * q);
      fetch_ahead(t, 2 * q + 1);
      __m512i low[C], high[C];
      __m512 dw[C];
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c)
        unpack_q4_0(t.rows[c], q, a.blocks, low[c], high[c], dw[c]);
      accumulate(2 * q, low, dw);
      accumulate(2 * q + 1, high, dw);
    }
  } else {
    for (std::int64_t s = 0; s < a.groups; ++s) {
      fetch_ahead(t, s);
      __m512i wq[C];
      __m512 dw[C];
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c)
        unpack_q8_0(t.rows[c], s, a.blocks, wq[c], dw[c]);
      accumulate(s, wq, dw);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < t.cols; ++c)
      t.y[(r0 + r) * a.ldy + c] = sum_lanes(acc[r][c]);
}

// Q4_K's mins of one super-block into their 8 lanes: t = float(m_j ·
// (bsum_2j + bsum_2j+1)) · dx, accm_j = fma(t, dmin, accm_j).
inline __m256 add_mins(__m256 accm, __m256i bsums, __m256i mins, __m512 dx, float dmin) {
  const __m256 m = _mm256_cvtepi32_ps(_mm256_madd_epi16(bsums, mins));
  return _mm256_fmadd_ps(_mm256_mul_ps(m, _mm512_castps512_ps256(dx)), _mm256_set1_ps(dmin), accm);
}

template <std::uint32_t Type, int R, bool Panel>
void super_block(const Tile& t, std::int64_t r0) {
  constexpr int C = kSuperCols;
  constexpr bool kMins = Type == kTypeQ4_K;
  const QuantTileArgs& a = *t.a;
  __m512 acc[R][C];
  __m256 accm[R][C];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) {
      acc[r][c] = _mm512_setzero_ps();
      accm[r][c] = _mm256_setzero_ps();
    }
  const unsigned char* act = a.a + r0 * a.a_stride;
  for (std::int64_t k = 0; k < a.groups; ++k) {
    SuperRaw raw[C];
    const unsigned char* dec = Panel ? t.panel + k * C * kSuperDecBytes : nullptr;
    if constexpr (!Panel) {
      fetch_ahead(t, k);
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c)
        raw[c] = load_super<Type>(t.rows[c], k);
    }
    __m512i s[R][C];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c)
        s[r][c] = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int step = 0; step < 4; ++step) {
      __m512i wq[C], sc[C];
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        if constexpr (Panel) {
          wq[c] = _mm512_load_si512(dec + c * kSuperDecBytes + 64 * step);
          sc[c] = _mm512_load_si512(dec + c * kSuperDecBytes + kSuperScOffset + 64 * step);
        } else {
          wq[c] = step_values<Type>(raw[c], step);
          sc[c] = step_scales<Type>(raw[c], step);
        }
      }
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m512i xq = _mm512_load_si512(act + r * a.a_stride + k * kSuperActBytes + 64 * step);
#pragma GCC unroll 4
        for (int c = 0; c < C; ++c)
          s[r][c] = _mm512_add_epi32(s[r][c], _mm512_madd_epi16(_mm512_maddubs_epi16(wq[c], xq), sc[c]));
      }
    }
    __m256i bw[C];
    float d[C], dmin[C];
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) {
      if constexpr (Panel) {
        bw[c] =
            _mm256_load_si256(reinterpret_cast<const __m256i*>(dec + c * kSuperDecBytes + kSuperExtraOffset));
        std::memcpy(&d[c], dec + c * kSuperDecBytes + kSuperDOffset, 4);
        std::memcpy(&dmin[c], dec + c * kSuperDecBytes + kSuperDOffset + 4, 4);
      } else {
        bw[c] = bsum_weights<Type>(raw[c]);
        d[c] = raw[c].d;
        dmin[c] = raw[c].dmin;
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const unsigned char* g = act + r * a.a_stride + k * kSuperActBytes;
      const __m256i bsums = _mm256_load_si256(reinterpret_cast<const __m256i*>(g + kSuperBsumsOffset));
      float dxs;
      std::memcpy(&dxs, g + kSuperDxOffset, 4);
      const __m512 dx = _mm512_set1_ps(dxs);
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        __m512i sum = s[r][c];
        if constexpr (!kMins) {
          // The values are stored as q + 32: take 32 · Σ sc · bsum off.
          const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums, bw[c]), 5);
          sum = _mm512_sub_epi32(sum, _mm512_zextsi256_si512(offset));
        }
        acc[r][c] =
            _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), dx), _mm512_set1_ps(d[c]), acc[r][c]);
        if constexpr (kMins && !Panel) accm[r][c] = add_mins(accm[r][c], bsums, bw[c], dx, dmin[c]);
      }
    }
  }
  if constexpr (kMins && Panel) {
    // The mins after the values, in a pass of their own: alongside them
    // their accumulators would crowd the registers. Each accumulator still
    // takes the super-blocks in order.
    for (std::int64_t k = 0; k < a.groups; ++k) {
      const unsigned char* dec = t.panel + k * C * kSuperDecBytes;
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const unsigned char* g = act + r * a.a_stride + k * kSuperActBytes;
        const __m256i bsums = _mm256_load_si256(reinterpret_cast<const __m256i*>(g + kSuperBsumsOffset));
        float dxs;
        std::memcpy(&dxs, g + kSuperDxOffset, 4);
#pragma GCC unroll 4
        for (int c = 0; c < C; ++c) {
          const unsigned char* w = dec + c * kSuperDecBytes;
          float dmin;
          std::memcpy(&dmin, w + kSuperDOffset + 4, 4);
          accm[r][c] = add_mins(accm[r][c], bsums,
                                _mm256_load_si256(reinterpret_cast<const __m256i*>(w + kSuperExtraOffset)),
                                _mm512_set1_ps(dxs), dmin);
        }
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < t.cols; ++c) {
      const float sum = sum_lanes(acc[r][c]);
      t.y[(r0 + r) * a.ldy + c] = kMins ? sum - sum_lanes8(accm[r][c]) : sum;
    }
}

template <std::uint32_t Type>
constexpr bool kSpanType = Type == kTypeQ4_0 || Type == kTypeQ8_0;

// Every row of the tile: blocks of kMaxRows, then one block of the rest.
template <std::uint32_t Type, bool Panel>
void tile_rows(const Tile& t, std::int64_t rows) {
  const auto block = [&]<int R>(std::int64_t r0) {
    if constexpr (kSpanType<Type>)
      span_block<Type, R, Panel>(t, r0);
    else
      super_block<Type, R, Panel>(t, r0);
  };
  std::int64_t r = 0;
  for (; r + kMaxRows <= rows; r += kMaxRows)
    block.template operator()<kMaxRows>(r);
  switch (rows - r) {
    case 3:
      block.template operator()<3>(r);
      break;
    case 2:
      block.template operator()<2>(r);
      break;
    case 1:
      block.template operator()<1>(r);
      break;
    default:
      break;
  }
}

// Blocks of C outputs; a short last block repeats its last output (computed,
// not stored). With more rows than one register block, each block of
// outputs is unpacked into the panel first.
template <std::uint32_t Type>
void tile(const QuantTileArgs& a) {
  constexpr int C = kSpanType<Type> ? kSpanCols : kSuperCols;
  constexpr std::int64_t kGroupBytes = kSpanType<Type> ? kSpanDecBytes : kSuperDecBytes;
  for (std::int64_t o0 = 0; o0 < a.outs; o0 += C) {
    Tile t{};
    t.a = &a;
    t.cols = static_cast<int>(a.outs - o0 < C ? a.outs - o0 : C);
    for (int c = 0; c < C; ++c)
      t.rows[c] = a.w + (o0 + (c < t.cols ? c : t.cols - 1)) * a.w_stride;
    t.y = a.y + o0;
    // Fetch `lead` blocks ahead, kPrefetchBytes or more: the time it takes
    // to compute that much must cover a miss to memory. The first block
    // fetches the ones before that at once.
    const std::int64_t block_bytes = C * a.w_stride;
    const std::int64_t lead = (kPrefetchBytes + block_bytes - 1) / block_bytes;
    if (o0 == 0) {
      const std::int64_t end = (lead * C < a.outs ? lead * C : a.outs) * a.w_stride;
      for (std::int64_t b = block_bytes; b < end; b += 64)
        _mm_prefetch(reinterpret_cast<const char*>(a.w) + b, _MM_HINT_T1);
    }
    t.ahead = o0 + lead * C < a.outs ? a.w + (o0 + lead * C) * a.w_stride : nullptr;
    t.ahead_lines = (block_bytes + a.groups * 64 - 1) / (a.groups * 64);
    if (a.rows <= kMaxRows) {
      tile_rows<Type, false>(t, a.rows);
      continue;
    }
    auto* panel = static_cast<unsigned char*>(a.scratch);
    const auto dst = [&](std::int64_t g, int c) { return panel + (g * C + c) * kGroupBytes; };
    if constexpr (Type == kTypeQ4_0) {
      for (std::int64_t q = 0; 2 * q < a.groups; ++q) {
        fetch_ahead(t, 2 * q);
        fetch_ahead(t, 2 * q + 1);
        for (int c = 0; c < C; ++c) {
          __m512i low, high;
          __m512 dw;
          unpack_q4_0(t.rows[c], q, a.blocks, low, high, dw);
          _mm512_store_si512(dst(2 * q, c), low);
          _mm512_store_ps(dst(2 * q, c) + 64, dw);
          _mm512_store_si512(dst(2 * q + 1, c), high);
          _mm512_store_ps(dst(2 * q + 1, c) + 64, dw);
        }
      }
    } else {
      for (std::int64_t g = 0; g < a.groups; ++g) {
        fetch_ahead(t, g);
        for (int c = 0; c < C; ++c) {
          if constexpr (Type == kTypeQ8_0) {
            __m512i wq;
            __m512 dw;
            unpack_q8_0(t.rows[c], g, a.blocks, wq, dw);
            _mm512_store_si512(dst(g, c), wq);
            _mm512_store_ps(dst(g, c) + 64, dw);
          } else {
            store_super<Type>(load_super<Type>(t.rows[c], g), dst(g, c));
          }
        }
      }
    }
    t.panel = panel;
    tile_rows<Type, true>(t, a.rows);
  }
}

}  // namespace

void avx512_quant_prepare(std::uint32_t type, const float* x, std::int64_t in, unsigned char* out) {
  switch (type) {
    case kTypeQ4_0:
      return prepare_spans<kTypeQ4_0>(x, in, out);
    case kTypeQ8_0:
      return prepare_spans<kTypeQ8_0>(x, in, out);
    case kTypeQ4_K:
      return prepare_supers<kTypeQ4_K>(x, in, out);
    default:
      return prepare_supers<kTypeQ6_K>(x, in, out);
  }
}

void avx512_quant_tile(const QuantTileArgs& a) {
  switch (a.type) {
    case kTypeQ4_0:
      return tile<kTypeQ4_0>(a);
    case kTypeQ8_0:
      return tile<kTypeQ8_0>(a);
    case kTypeQ4_K:
      return tile<kTypeQ4_K>(a);
    default:
      return tile<kTypeQ6_K>(a);
  }
}

}  // namespace ralm::llama::detail
