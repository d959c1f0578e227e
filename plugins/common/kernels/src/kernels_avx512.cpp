// The AVX-512 kernel set: avx512f/bw/vl, avx512_bf16 (vdpbf16ps) and FMA.
// Only this file is compiled with those flags (see CMakeLists.txt), and
// kernels.cpp calls it only after kernel_set_supported() has checked the CPU,
// so the rest of the build runs anywhere. Everything here but the entry
// points has internal linkage, and no standard-library template is used: an
// inline function instantiated here would carry AVX-512 instructions, and the
// linker could pick that copy for callers on any CPU.
//
// Matrix products: each (row, output) pair has one accumulator that takes
// one fused multiply-add (f32) or one vdpbf16ps (bf16) per k step, in order
// (see kernels.hpp); the blocks below only choose how many accumulators live
// in registers at once.
#include "ralm/kernels/avx512_common.hpp"

#include "kernels_impl.hpp"

namespace ralm::kernels::detail {

namespace {

// Calls f.template operator()<N>() with N = n clamped to [1, Max]: a count
// known at run time as the template argument of a kernel unrolled for it.
template <int Max, int N = 1, class F>
void with_count(std::int64_t n, F&& f) {
  if constexpr (N < Max) {
    if (n > N) return with_count<Max, N + 1>(n, f);
  }
  f.template operator()<N>();
}

// Rows per register block: 6 rows × 4 vectors of outputs are 24 accumulators,
// plus 4 weight vectors, within the 32 registers; each weight vector loaded
// from L1 feeds 6 multiply-adds and each broadcast row value feeds 4.
constexpr int kRows = 6;

inline __mmask16 first_lanes(std::int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1u);
}

inline __m512bh as_bf16(__m512i v) {
  return (__m512bh)v;
}

// 16 elements of the KV cache (or of a query) as floats, the masked-off
// lanes zero: floats as they are, bf16 widened exactly (moved into the top
// half of a float32), so attention over a bf16 cache runs the f32 path's
// operations on the values the bf16 stand for.
inline __m512 load16(const float* p) {
  return _mm512_loadu_ps(p);
}
inline __m512 load16(const std::uint16_t* p) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
}
inline __m512 load16(__mmask16 m, const float* p) {
  return _mm512_maskz_loadu_ps(m, p);
}
inline __m512 load16(__mmask16 m, const std::uint16_t* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

template <int MR, int NV>
void f32_block(const PanelArgs& a, std::int64_t r0) {
  const float* x = static_cast<const float*>(a.x) + r0 * a.ldx;
  const float* w = static_cast<const float*>(a.w);
  float* y = a.y + r0 * a.ldy;
  const __mmask16 tail = first_lanes(a.valid - (NV - 1) * 16);
  __m512 acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      acc[r][v] = a.first ? _mm512_setzero_ps()
                          : _mm512_maskz_loadu_ps(v == NV - 1 ? tail : 0xffff, y + r * a.ldy + v * 16);
    }
  }
  for (std::int64_t k = 0; k < a.steps; ++k) {
    const float* wk = w + k * (NV * 16);
    __m512 wv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      wv[v] = _mm512_loadu_ps(wk + v * 16);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 xb = _mm512_set1_ps(x[r * a.ldx + k]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        acc[r][v] = _mm512_fmadd_ps(xb, wv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(y + r * a.ldy + v * 16, v == NV - 1 ? tail : 0xffff, acc[r][v]);
  }
}

// A k step is a pair (k, k+1): the weights hold the pair per output, the
// activations one 32-bit pair per row, broadcast to every output.
template <int MR, int NV>
void bf16_block(const PanelArgs& a, std::int64_t r0) {
  const std::uint32_t* x = static_cast<const std::uint32_t*>(a.x) + r0 * a.ldx;
  const std::uint16_t* w = static_cast<const std::uint16_t*>(a.w);
  float* y = a.y + r0 * a.ldy;
  const __mmask16 tail = first_lanes(a.valid - (NV - 1) * 16);
  __m512 acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      acc[r][v] = a.first ? _mm512_setzero_ps()
                          : _mm512_maskz_loadu_ps(v == NV - 1 ? tail : 0xffff, y + r * a.ldy + v * 16);
    }
  }
  for (std::int64_t k = 0; k < a.steps; ++k) {
    const std::uint16_t* wk = w + k * (NV * 32);
    __m512bh wv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      wv[v] = as_bf16(_mm512_loadu_si512(wk + v * 32));
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512bh xb = as_bf16(_mm512_set1_epi32(static_cast<int>(x[r * a.ldx + k])));
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        acc[r][v] = _mm512_dpbf16_ps(acc[r][v], xb, wv[v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(y + r * a.ldy + v * 16, v == NV - 1 ? tail : 0xffff, acc[r][v]);
  }
}

using Block = void (*)(const PanelArgs&, std::int64_t);

template <int MR, int NV>
struct F32 {
  static void run(const PanelArgs& a, std::int64_t r0) { f32_block<MR, NV>(a, r0); }
};
template <int MR, int NV>
struct Bf16 {
  static void run(const PanelArgs& a, std::int64_t r0) { bf16_block<MR, NV>(a, r0); }
};

// All rows of one panel: full blocks of kRows, then one block of the rest.
template <template <int, int> class K, int NV>
void panel_rows(const PanelArgs& a) {
  static constexpr Block kTail[kRows] = {nullptr,       K<1, NV>::run, K<2, NV>::run,
                                         K<3, NV>::run, K<4, NV>::run, K<5, NV>::run};
  std::int64_t r = 0;
  for (; r + kRows <= a.rows; r += kRows)
    K<kRows, NV>::run(a, r);
  if (r < a.rows) kTail[a.rows - r](a, r);
}

template <template <int, int> class K>
void panel(const PanelArgs& a) {
  with_count<4>(a.width / 16, [&]<int NV>() { panel_rows<K, NV>(a); });
}

template <class T>
inline float dot16(const float* a, const T* b, std::int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), load16(b + i), acc);
  if (i < n) {
    const __mmask16 m = first_lanes(n - i);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), load16(m, b + i), acc);
  }
  return sum_lanes(acc);
}

// sum_lanes of 16 vectors at once: lane i of the result is sum_lanes(v[i]),
// bit for bit (each addition pairs the same two values as sum_lanes does),
// in 15 additions and 30 shuffles instead of 16 × 4 additions and shuffles.
inline __m512 sum_lanes16(const __m512 (&v)[16]) {
  __m512 t[8], u[4], w[2];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i)  // lanes l and l + 8
    t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)  // l and l + 4
    u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i)  // l and l + 2
    w[i] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  // l and l + 1; vector p lands in lane 4 (p mod 4) + p / 4.
  const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_permutexvar_ps(_mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0), r);
}

// dot16(q, key) for 16 consecutive keys: each key's 16 partial sums are
// built as dot16 builds them, then reduced together.
template <class T>
inline __m512 dot16_x16(const float* q, const T* keys, std::int64_t stride, std::int64_t n) {
  __m512 acc[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i)
    acc[i] = _mm512_setzero_ps();
  std::int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 qj = _mm512_loadu_ps(q + j);
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i)
      acc[i] = _mm512_fmadd_ps(qj, load16(keys + i * stride + j), acc[i]);
  }
  if (j < n) {
    const __mmask16 m = first_lanes(n - j);
    const __m512 qj = _mm512_maskz_loadu_ps(m, q + j);
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i)
      acc[i] = _mm512_fmadd_ps(qj, load16(m, keys + i * stride + j), acc[i]);
  }
  return sum_lanes16(acc);
}

// Queries taken together per pass over the cache: 4 queries × 4 vectors
// are 16 accumulators.
constexpr int kQueriesPerPass = 4;

// Up to kQueriesPerPass queries that share keys and values (heads of one KV
// head, of one token or of consecutive tokens); query i sees the first
// visible[i] positions.
struct Pass {
  const float* q[kQueriesPerPass];
  float* out[kQueriesPerPass];
  std::int64_t visible[kQueriesPerPass];
  int count;
  std::int64_t min_visible, max_visible;
};

// dot16(q[i], key_j) for Q queries and K consecutive keys, Q · K = 16: lane
// i · K + j of the result. Each accumulator takes the FMAs dot16 gives it, in
// its order, and sum_lanes16 reduces each as sum_lanes does, so the scores
// are dot16's bits; each key vector loaded feeds Q multiply-adds, not one.
template <int Q, int K, class T>
inline __m512 dot16_block(const float* const* q, const T* keys, std::int64_t stride, std::int64_t n) {
  static_assert(Q * K == 16);
  __m512 acc[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i)
    acc[i] = _mm512_setzero_ps();
  std::int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    __m512 qj[Q];
#pragma GCC unroll 4
    for (int i = 0; i < Q; ++i)
      qj[i] = _mm512_loadu_ps(q[i] + j);
#pragma GCC unroll 8
    for (int k = 0; k < K; ++k) {
      const __m512 kv = load16(keys + k * stride + j);
#pragma GCC unroll 4
      for (int i = 0; i < Q; ++i)
        acc[i * K + k] = _mm512_fmadd_ps(qj[i], kv, acc[i * K + k]);
    }
  }
  if (j < n) {
    const __mmask16 m = first_lanes(n - j);
    __m512 qj[Q];
#pragma GCC unroll 4
    for (int i = 0; i < Q; ++i)
      qj[i] = _mm512_maskz_loadu_ps(m, q[i] + j);
#pragma GCC unroll 8
    for (int k = 0; k < K; ++k) {
      const __m512 kv = load16(m, keys + k * stride + j);
#pragma GCC unroll 4
      for (int i = 0; i < Q; ++i)
        acc[i * K + k] = _mm512_fmadd_ps(qj[i], kv, acc[i * K + k]);
    }
  }
  return sum_lanes16(acc);
}

// Scores of a pass of Q = 2 or 4 queries over keys [0, max_visible),
// scaled, into rows of `scores` ld apart: K = 16 / Q keys per block, then one
// key at a time. A query's scores past its own visible are computed and
// never read.
template <int Q, class T>
void scores_shared(const AttendArgs& a, const Pass& pass, float* scores, std::int64_t ld) {
  constexpr int K = 16 / Q;
  const T* keys = static_cast<const T*>(a.keys);
  const __m512 scale = _mm512_set1_ps(a.scale);
  std::int64_t key = 0;
  for (; key + K <= pass.max_visible; key += K) {
    const __m512 s =
        _mm512_mul_ps(dot16_block<Q, K>(pass.q, keys + key * a.stride, a.stride, a.head_dim), scale);
    if constexpr (Q == 2) {
      _mm256_storeu_ps(scores + key, _mm512_castps512_ps256(s));
      _mm256_storeu_ps(scores + ld + key, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    } else {
      _mm_storeu_ps(scores + key, _mm512_castps512_ps128(s));
      _mm_storeu_ps(scores + ld + key, _mm512_extractf32x4_ps(s, 1));
      _mm_storeu_ps(scores + 2 * ld + key, _mm512_extractf32x4_ps(s, 2));
      _mm_storeu_ps(scores + 3 * ld + key, _mm512_extractf32x4_ps(s, 3));
    }
  }
  for (; key < pass.max_visible; ++key) {
    const T* kp = keys + key * a.stride;
    for (int i = 0; i < Q; ++i)
      scores[i * ld + key] = dot16(pass.q[i], kp, a.head_dim) * a.scale;
  }
}

// Scores of one query over keys [0, visible): blocks of 16 keys, then one
// at a time (the same bits either way).
template <class T>
void scores_alone(const AttendArgs& a, const float* q, std::int64_t visible, float* scores) {
  const __m512 scale = _mm512_set1_ps(a.scale);
  const T* keys = static_cast<const T*>(a.keys);
  std::int64_t key = 0;
  for (; key + 16 <= visible; key += 16)
    _mm512_storeu_ps(scores + key,
                     _mm512_mul_ps(dot16_x16(q, keys + key * a.stride, a.stride, a.head_dim), scale));
  for (; key < visible; ++key)
    scores[key] = dot16(q, keys + key * a.stride, a.head_dim) * a.scale;
}

// e^x as Cephes' expf computes it: x = n·ln 2 + r with |r| <= ln 2 / 2, e^r
// by its polynomial, 2^n by vscalefps; within about 1 ulp of the correctly
// rounded value. Below ln(FLT_MIN) it gives 0 (softmax loses nothing).
inline __m512 exp16(__m512 x) {
  const __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33654f), _CMP_LT_OQ);
  x = _mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~under), _mm512_scalef_ps(p, n));
}

// For the pass's H queries: out_i[d0, d0 + 16·NV) = Σ_p weight_ip · v_p over
// p < visible[i], one accumulator per output element running over p in
// order; each value row is loaded once for all H queries. Past the shortest
// visible, each query takes only its own positions, so every output gets
// exactly the multiply-adds it would get alone.
template <class T, int H, int NV>
void weighted_values(const AttendArgs& a, const Pass& pass, const float* scores, std::int64_t ld,
                     std::int64_t d0) {
  const T* values = static_cast<const T*>(a.values);
  const __mmask16 tail = first_lanes(a.head_dim - d0 - (NV - 1) * 16);
  __m512 acc[H][NV];
#pragma GCC unroll 4
  for (int h = 0; h < H; ++h)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      acc[h][v] = _mm512_setzero_ps();
  std::int64_t p = 0;
  for (; p < pass.min_visible; ++p) {
    const T* vp = values + p * a.stride + d0;
    __m512 row[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      row[v] = load16(v == NV - 1 ? tail : 0xffff, vp + v * 16);
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h) {
      const __m512 weight = _mm512_set1_ps(scores[h * ld + p]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v)
        acc[h][v] = _mm512_fmadd_ps(weight, row[v], acc[h][v]);
    }
  }
  for (; p < pass.max_visible; ++p) {
    const T* vp = values + p * a.stride + d0;
    __m512 row[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      row[v] = load16(v == NV - 1 ? tail : 0xffff, vp + v * 16);
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h) {
      if (p >= pass.visible[h]) continue;
      const __m512 weight = _mm512_set1_ps(scores[h * ld + p]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v)
        acc[h][v] = _mm512_fmadd_ps(weight, row[v], acc[h][v]);
    }
  }
#pragma GCC unroll 4
  for (int h = 0; h < H; ++h)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(pass.out[h] + d0 + v * 16, v == NV - 1 ? tail : 0xffff, acc[h][v]);
}

template <class T, int H>
void weighted_values_pass(const AttendArgs& a, const Pass& pass, const float* scores, std::int64_t ld,
                          std::int64_t vectors) {
  with_count<4>(vectors, [&]<int NV>() { weighted_values<T, H, NV>(a, pass, scores, ld, 0); });
}

// One query at a time, up to 128 dimensions per pass: wide heads.
template <class T>
void weighted_values_wide(const AttendArgs& a, const Pass& pass, const float* scores, std::int64_t ld) {
  for (int i = 0; i < pass.count; ++i) {
    const Pass one{{pass.q[i]}, {pass.out[i]}, {pass.visible[i]}, 1, pass.visible[i], pass.visible[i]};
    const float* row = scores + i * ld;
    for (std::int64_t d0 = 0; d0 < a.head_dim; d0 += 128) {
      with_count<8>((a.head_dim - d0 + 15) / 16,
                    [&]<int NV>() { weighted_values<T, 1, NV>(a, one, row, ld, d0); });
    }
  }
}

// Softmax of one query's scores over [0, visible), in place.
void softmax(float* scores, std::int64_t visible) {
  // The maximum (exact in any order).
  __m512 mx = _mm512_set1_ps(-__builtin_inff());
  for (std::int64_t p = 0; p < visible; p += 16) {
    const __mmask16 m = first_lanes(visible - p);
    mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, scores + p));
  }
  const __m512 shift = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  __m512 sums = _mm512_setzero_ps();
  for (std::int64_t p = 0; p < visible; p += 16) {
    const __mmask16 m = first_lanes(visible - p);
    const __m512 e =
        _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, scores + p), shift)));
    _mm512_mask_storeu_ps(scores + p, m, e);
    sums = _mm512_add_ps(sums, e);
  }
  const __m512 sum = _mm512_set1_ps(sum_lanes(sums));
  for (std::int64_t p = 0; p < visible; p += 16) {
    const __mmask16 m = first_lanes(visible - p);
    _mm512_mask_storeu_ps(scores + p, m, _mm512_div_ps(_mm512_maskz_loadu_ps(m, scores + p), sum));
  }
}

template <class T>
void attend_pass(const AttendArgs& a, const Pass& pass, float* scores, std::int64_t ld) {
  if (pass.count == 4) {
    scores_shared<4, T>(a, pass, scores, ld);
  } else if (pass.count == 2) {
    scores_shared<2, T>(a, pass, scores, ld);
  } else {
    for (int i = 0; i < pass.count; ++i)
      scores_alone<T>(a, pass.q[i], pass.visible[i], scores + i * ld);
  }
  for (int i = 0; i < pass.count; ++i)
    softmax(scores + i * ld, pass.visible[i]);
  const std::int64_t vectors = (a.head_dim + 15) / 16;
  if (vectors > 4) {
    weighted_values_wide<T>(a, pass, scores, ld);
    return;
  }
  with_count<4>(pass.count, [&]<int H>() { weighted_values_pass<T, H>(a, pass, scores, ld, vectors); });
}

}  // namespace

void avx512_panel_f32(const PanelArgs& a) {
  panel<F32>(a);
}

void avx512_panel_bf16(const PanelArgs& a) {
  panel<Bf16>(a);
}

float avx512_dot(const float* a, const float* b, std::int64_t n) {
  return dot16(a, b, n);
}

void avx512_silu_mul(float* gate, const float* up, std::int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = first_lanes(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
    _mm512_mask_storeu_ps(
        gate + i, m,
        _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_maskz_loadu_ps(m, up + i)));
  }
}

// The portable rounding (f32_to_bf16), 16 values at a time: the same bits.
void avx512_bf16_pairs(const float* x, std::int64_t n, std::uint32_t* pairs) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  const __m512i half = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(0x40);
  for (std::int64_t i = 0; i < n; i += 32) {
    __m512i h[2];
    for (int j = 0; j < 2; ++j) {
      const __mmask16 m = first_lanes(n - i - 16 * j > 0 ? n - i - 16 * j : 0);
      const __m512i bits = _mm512_maskz_loadu_epi32(m, x + i + 16 * j);
      const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, abs_mask), inf);
      const __m512i rounded = _mm512_srli_epi32(
          _mm512_add_epi32(bits, _mm512_add_epi32(half, _mm512_and_si512(_mm512_srli_epi32(bits, 16), one))),
          16);
      h[j] = _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(_mm512_srli_epi32(bits, 16), quiet));
    }
    // 32 bf16 values in order, as 16 pairs: the low halves of h[0] then h[1].
    const __m512i packed = _mm512_permutex2var_epi16(
        h[0],
        _mm512_set_epi16(62, 60, 58, 56, 54, 52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32, 30, 28, 26, 24, 22,
                         20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0),
        h[1]);
    const std::int64_t count = n - i >= 32 ? 16 : (n - i + 1) / 2;
    _mm512_mask_storeu_epi32(pairs + i / 2, first_lanes(count), packed);
  }
}

// Queries in order token by token, head by head, kQueriesPerPass per pass:
// the heads of one token, or, with fewer heads than that, of several tokens.
void avx512_attend(const AttendArgs& a) {
  const std::int64_t ld = (a.visible + a.tokens - 1 + 15) / 16 * 16;
  const std::int64_t queries = a.tokens * a.heads;
  for (std::int64_t i0 = 0; i0 < queries; i0 += kQueriesPerPass) {
    Pass pass{};
    pass.count = static_cast<int>(queries - i0 < kQueriesPerPass ? queries - i0 : kQueriesPerPass);
    for (int i = 0; i < pass.count; ++i) {
      const std::int64_t t = (i0 + i) / a.heads, h = (i0 + i) % a.heads;
      pass.q[i] = a.q + t * a.ldq + h * a.head_dim;
      pass.out[i] = a.out + t * a.ldo + h * a.head_dim;
      pass.visible[i] = a.visible + t;
    }
    pass.min_visible = pass.visible[0];
    pass.max_visible = pass.visible[pass.count - 1];
    if (a.bf16_cache) {
      attend_pass<std::uint16_t>(a, pass, a.scores, ld);
    } else {
      attend_pass<float>(a, pass, a.scores, ld);
    }
  }
}

}  // namespace ralm::kernels::detail
