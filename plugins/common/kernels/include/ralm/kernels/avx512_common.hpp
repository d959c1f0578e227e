// What the AVX-512 translation units (this library's kernels_avx512.cpp, the
// llama plugin's quant_kernels_avx512.cpp) share; included by them only,
// first, as they alone are built with AVX-512 flags. Internal linkage throughout, for the
// reason kernels_avx512.cpp gives.
#pragma once

// GCC 12's intrinsic headers build their "undefined" vectors by initialising
// them from themselves (GCC bug 105593), which -Wuninitialized reports at
// every inlined use; the intrinsics are correct.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

namespace ralm::kernels::detail {
namespace {

// Lanes l and l + 4, then l + 2 and l + 1.
inline float sum_lanes8(__m256 x) {
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}

// Lanes l and l + 8, then l + 4, l + 2 and l + 1: the portable sets' tree.
inline float sum_lanes(__m512 v) {
  return sum_lanes8(_mm256_add_ps(_mm512_castps512_ps256(v),
                                  _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}

}  // namespace
}  // namespace ralm::kernels::detail
