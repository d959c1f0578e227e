// The AVX-512 scan (avx512f + FMA). Only this file is built with those flags
// (see CMakeLists.txt) and scan_kernels.cpp calls it only after checking the
// CPU. Nothing here uses a standard-library template: an inline function
// instantiated in this file would carry AVX-512 instructions that the linker
// might pick for every caller.
//
// Register blocking: QB queries x VB rows of accumulators (8 x 3 up to 1 x 15,
// see rows_per_register_block), plus the VB row vectors and one query vector,
// within 32 registers. Each row chunk loaded from memory feeds up to 8
// multiply-adds, so a batch of 8 queries costs one pass over the vectors, as
// a batch of 1 does, plus its multiply-adds. The pairs' accumulators are
// folded 16 at a time (reduce16), the same additions as one at a time.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include "scan_kernels.hpp"

namespace ralm::dense::detail {

namespace {

// The fixed lane tree of scan_kernels.hpp: 8+8, 4+4, 2+2, 1+1.
inline float reduce(__m512 v) {
  const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v),
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  const __m128 d = _mm_add_ss(c, _mm_shuffle_ps(c, c, 1));
  return _mm_cvtss_f32(d);
}

// Reduces 16 pairs' accumulators at once by the same lane tree as reduce()
// (every lane sees the same additions in the same association, so the bits
// are the same), with 15 vector additions and 30 shuffles instead of 16 x 4
// of each and 16 scalar stores. The result's element 4c + e is the score of
// slot 4e + c (the two base-4 digits swapped): reduce16_slot(m) is the slot
// that puts pair m's score in element m.
inline __m512 reduce16(const __m512 (&a)[16]) {
  __m512 s[8], t[4], u[2];
  // 8 + 8: s[i] = [a[2i] folded to 8 lanes, a[2i+1] folded to 8 lanes].
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    const __m512 x = a[2 * i], y = a[2 * i + 1];
    s[i] = _mm512_add_ps(_mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 2, 3, 2)));
  }
  // 4 + 4: t[j]'s 128-bit chunk c = a[4j + c] folded to 4 lanes.
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const __m512 x = s[2 * j], y = s[2 * j + 1];
    t[j] = _mm512_add_ps(_mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 1, 3, 1)));
  }
  // 2 + 2: u[m]'s chunk c = [a[8m + c] folded to 2 lanes, a[8m + 4 + c] to 2].
#pragma GCC unroll 2
  for (int m = 0; m < 2; ++m) {
    const __m512 x = t[2 * m], y = t[2 * m + 1];
    u[m] = _mm512_add_ps(_mm512_shuffle_ps(x, y, _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(x, y, _MM_SHUFFLE(3, 2, 3, 2)));
  }
  // 1 + 1: chunk c = [a[c], a[4 + c], a[8 + c], a[12 + c]].
  return _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

constexpr int reduce16_slot(int m) {
  return (m % 4) * 4 + m / 4;
}

// -s, bit for bit (a sign flip, as the scalar path's unary minus).
inline __m512 negate(__m512 v) {
  return _mm512_castsi512_ps(
      _mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32(static_cast<int>(0x80000000u))));
}

template <bool L2>
inline __m512 step(__m512 acc, __m512 q, __m512 r) {
  if constexpr (L2) {
    const __m512 d = _mm512_sub_ps(q, r);
    return _mm512_fmadd_ps(d, d, acc);
  } else {
    return _mm512_fmadd_ps(q, r, acc);
  }
}

// Keeps a loaded chunk in a register: without this the compiler may fold the
// load into each multiply-add that uses it as a memory operand (QB or VB
// loads where one does), and loads, not multiply-adds, set the pace.
inline __m512 in_register(__m512 v) {
  asm("" : "+v"(v));
  return v;
}

// QB queries against VB rows starting at r0: QB x VB accumulators (one per
// pair), VB row chunks and one query chunk in the 32 registers, so each row
// chunk loaded feeds QB multiply-adds and each query chunk VB.
template <bool L2, int QB, int VB>
void block(const BlockArgs& a, std::int64_t q0, std::int64_t r0) {
  constexpr int P = QB * VB;
  static_assert(P + VB + 1 <= 32);
  __m512 acc[QB][VB];
#pragma GCC unroll 32
  for (int q = 0; q < QB; ++q) {
#pragma GCC unroll 32
    for (int v = 0; v < VB; ++v)
      acc[q][v] = _mm512_setzero_ps();
  }
  const float* qbase = a.queries + q0 * a.dim;
  const float* rbase = a.rows + r0 * a.ld;
  std::int64_t k = 0;
  for (; k + 16 <= a.dim; k += 16) {
    __m512 r[VB];
#pragma GCC unroll 32
    for (int v = 0; v < VB; ++v) {
      r[v] = in_register(_mm512_loadu_ps(rbase + v * a.ld + k));
      // The hardware prefetcher alone leaves these loads waiting on L3 or
      // memory: fetch the next register block's rows one block ahead.
      _mm_prefetch(reinterpret_cast<const char*>(rbase + (v + VB) * a.ld + k), _MM_HINT_T0);
    }
#pragma GCC unroll 32
    for (int q = 0; q < QB; ++q) {
      const __m512 qv = in_register(_mm512_loadu_ps(qbase + q * a.dim + k));
#pragma GCC unroll 32
      for (int v = 0; v < VB; ++v)
        acc[q][v] = step<L2>(acc[q][v], qv, r[v]);
    }
  }
  if (k < a.dim) {
    const __mmask16 m = static_cast<__mmask16>((1u << (a.dim - k)) - 1u);
    __m512 r[VB];
#pragma GCC unroll 32
    for (int v = 0; v < VB; ++v)
      r[v] = _mm512_maskz_loadu_ps(m, rbase + v * a.ld + k);
#pragma GCC unroll 32
    for (int q = 0; q < QB; ++q) {
      const __m512 qv = in_register(_mm512_maskz_loadu_ps(m, qbase + q * a.dim + k));
#pragma GCC unroll 32
      for (int v = 0; v < VB; ++v)
        acc[q][v] = step<L2>(acc[q][v], qv, r[v]);
    }
  }
  if constexpr (P >= 4) {
    // Pairs m = q * VB + v, 16 per reduce16: element m % 16 of fold m / 16.
    constexpr int folds = (P + 15) / 16;
    alignas(64) float scores[folds * 16];
#pragma GCC unroll 2
    for (int f = 0; f < folds; ++f) {
      __m512 slots[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        const int m = f * 16 + i;
        slots[reduce16_slot(i)] = m < P ? acc[m / VB][m % VB] : _mm512_setzero_ps();
      }
      const __m512 folded = reduce16(slots);
      // Masked stores are slow here (Zen): one full store, then each
      // query's VB scores copied out.
      _mm512_store_ps(scores + 16 * f, L2 ? negate(folded) : folded);
    }
#pragma GCC unroll 32
    for (int q = 0; q < QB; ++q) {
#pragma GCC unroll 32
      for (int v = 0; v < VB; ++v)
        a.out[(q0 + q) * a.ldo + r0 + v] = scores[q * VB + v];
    }
  } else {
#pragma GCC unroll 32
    for (int q = 0; q < QB; ++q) {
#pragma GCC unroll 32
      for (int v = 0; v < VB; ++v) {
        const float s = reduce(acc[q][v]);
        a.out[(q0 + q) * a.ldo + r0 + v] = L2 ? -s : s;
      }
    }
  }
}

// Rows per register block for QB queries, measured on the default corpus
// (lsa, 256 dimensions): with 4 or more queries the multiply-adds set the
// pace (QB x VB of them per VB + QB loads; 4x5, 6x4 and 8x3 reach about two
// per cycle), with fewer the loads do, and more rows in flight help.
constexpr int rows_per_register_block(int qb) {
  return qb >= 7 ? 3 : qb >= 5 ? 4 : qb >= 3 ? 5 : qb == 2 ? 8 : 15;
}
static_assert(kScanRowMultiple % 15 == 0 && kScanRowMultiple % 8 == 0 && kScanRowMultiple % 5 == 0 &&
              kScanRowMultiple % 4 == 0 && kScanRowMultiple % 3 == 0);

template <bool L2, int QB>
void rows_for(const BlockArgs& a, std::int64_t q0) {
  constexpr int VB = rows_per_register_block(QB);
  std::int64_t r = 0;
  for (; r + VB <= a.nrows; r += VB)
    block<L2, QB, VB>(a, q0, r);
  for (; r < a.nrows; ++r)
    block<L2, QB, 1>(a, q0, r);
}

// Queries per register block: 8, so that a batch of 8 loads each row chunk
// once (in groups of 4 it cost 0.43 against 0.31 ms, default corpus).
constexpr std::int64_t kMaxQueryGroup = 8;

template <bool L2>
void run(const BlockArgs& a) {
  // Rows in the outer loop would reload each query group's rows from L2 or
  // memory; callers pass blocks small enough to stay in L2 (exact_search.cpp),
  // so every query group after the first reads them from cache.
  for (std::int64_t q0 = 0; q0 < a.nq; q0 += kMaxQueryGroup) {
    switch (a.nq - q0 >= kMaxQueryGroup ? kMaxQueryGroup : a.nq - q0) {
      case 8:
        rows_for<L2, 8>(a, q0);
        break;
      case 7:
        rows_for<L2, 7>(a, q0);
        break;
      case 6:
        rows_for<L2, 6>(a, q0);
        break;
      case 5:
        rows_for<L2, 5>(a, q0);
        break;
      case 4:
        rows_for<L2, 4>(a, q0);
        break;
      case 3:
        rows_for<L2, 3>(a, q0);
        break;
      case 2:
        rows_for<L2, 2>(a, q0);
        break;
      default:
        rows_for<L2, 1>(a, q0);
        break;
    }
  }
}

}  // namespace

void avx512_score_block(const BlockArgs& a) {
  if (a.l2) {
    run<true>(a);
  } else {
    run<false>(a);
  }
}

std::int64_t avx512_next_above(const float* scores, std::int64_t from, std::int64_t n, float threshold) {
  const __m512 t = _mm512_set1_ps(threshold);
  for (; from + 16 <= n; from += 16) {
    // Ordered, non-signalling: a NaN score is never above, as in `s > t`.
    const __mmask16 above = _mm512_cmp_ps_mask(_mm512_loadu_ps(scores + from), t, _CMP_GT_OQ);
    if (above) return from + __builtin_ctz(above);
  }
  if (from < n) {
    const __mmask16 valid = static_cast<__mmask16>((1u << (n - from)) - 1u);
    const __mmask16 above =
        _mm512_mask_cmp_ps_mask(valid, _mm512_maskz_loadu_ps(valid, scores + from), t, _CMP_GT_OQ);
    if (above) return from + __builtin_ctz(above);
  }
  return n;
}

}  // namespace ralm::dense::detail
