// The AVX-512 scan (avx512f + FMA). Only this file is built with those flags
// (see CMakeLists.txt) and scan_kernels.cpp calls it only after checking the
// CPU. Nothing here uses a standard-library template: an inline function
// instantiated in this file would carry AVX-512 instructions that the linker
// might pick for every caller.
//
// Register blocking: QB queries x VB rows of accumulators (8 x 2 up to 1 x 8,
// see rows_per_register_block), plus the VB row vectors and one query vector,
// within 32 registers. Each row chunk loaded from memory feeds up to 8
// multiply-adds, so a batch of 8 queries costs about one pass over the
// vectors, like a batch of 1.
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

template <bool L2>
inline __m512 step(__m512 acc, __m512 q, __m512 r) {
  if constexpr (L2) {
    const __m512 d = _mm512_sub_ps(q, r);
    return _mm512_fmadd_ps(d, d, acc);
  } else {
    return _mm512_fmadd_ps(q, r, acc);
  }
}

// QB queries against VB rows starting at r0.
template <bool L2, int QB, int VB>
void block(const BlockArgs& a, std::int64_t q0, std::int64_t r0) {
  __m512 acc[QB][VB];
#pragma GCC unroll 8
  for (int q = 0; q < QB; ++q) {
#pragma GCC unroll 8
    for (int v = 0; v < VB; ++v)
      acc[q][v] = _mm512_setzero_ps();
  }
  const float* qbase = a.queries + q0 * a.dim;
  const float* rbase = a.rows + r0 * a.ld;
  std::int64_t k = 0;
  for (; k + 16 <= a.dim; k += 16) {
    __m512 r[VB];
#pragma GCC unroll 8
    for (int v = 0; v < VB; ++v) {
      r[v] = _mm512_loadu_ps(rbase + v * a.ld + k);
      // With many queries (few rows per register block) the hardware
      // prefetcher alone leaves these loads waiting on memory: fetch the
      // next block's rows one block ahead.
      if constexpr (QB >= 4) {
        _mm_prefetch(reinterpret_cast<const char*>(rbase + (v + VB) * a.ld + k), _MM_HINT_T0);
      }
    }
#pragma GCC unroll 8
    for (int q = 0; q < QB; ++q) {
      const __m512 qv = _mm512_loadu_ps(qbase + q * a.dim + k);
#pragma GCC unroll 8
      for (int v = 0; v < VB; ++v)
        acc[q][v] = step<L2>(acc[q][v], qv, r[v]);
    }
  }
  if (k < a.dim) {
    const __mmask16 m = static_cast<__mmask16>((1u << (a.dim - k)) - 1u);
    __m512 r[VB];
#pragma GCC unroll 8
    for (int v = 0; v < VB; ++v)
      r[v] = _mm512_maskz_loadu_ps(m, rbase + v * a.ld + k);
#pragma GCC unroll 8
    for (int q = 0; q < QB; ++q) {
      const __m512 qv = _mm512_maskz_loadu_ps(m, qbase + q * a.dim + k);
#pragma GCC unroll 8
      for (int v = 0; v < VB; ++v)
        acc[q][v] = step<L2>(acc[q][v], qv, r[v]);
    }
  }
#pragma GCC unroll 8
  for (int q = 0; q < QB; ++q) {
#pragma GCC unroll 8
    for (int v = 0; v < VB; ++v) {
      const float s = reduce(acc[q][v]);
      a.out[(q0 + q) * a.ldo + r0 + v] = L2 ? -s : s;
    }
  }
}

// Rows per register block for QB queries: as many as fit in 32 registers
// (QB x VB accumulators, VB rows, one query vector). Few queries need many
// rows, or the FMA chains' latency, not the loads, sets the pace.
constexpr int rows_per_register_block(int qb) {
  return qb >= 7 ? 2 : qb >= 5 ? 3 : qb >= 3 ? 4 : 8;
}

template <bool L2, int QB>
void rows_for(const BlockArgs& a, std::int64_t q0) {
  constexpr int VB = rows_per_register_block(QB);
  std::int64_t r = 0;
  for (; r + VB <= a.nrows; r += VB)
    block<L2, QB, VB>(a, q0, r);
  for (; r < a.nrows; ++r)
    block<L2, QB, 1>(a, q0, r);
}

// Queries per register block. Four rows per block for four queries beat two
// rows for eight: a batch of 8 as two groups of 4 over a block still in L2
// cost 0.3 + 0.3 ms where one group of 8 cost 1.1 ms (default corpus, lsa 256).
constexpr std::int64_t kMaxQueryGroup = 4;

template <bool L2>
void run(const BlockArgs& a) {
  // Rows in the outer loop would reload each query group's rows from L2 or
  // memory; callers pass blocks small enough to stay in L2 (dense_scan.cpp),
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

}  // namespace ralm::dense::detail
