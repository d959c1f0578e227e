// The exact dense scan: scores of a batch of queries against a block of
// passage vectors, the hot kernel of `index: Flat` and of the exact rescoring
// that every dense search ends with.
//
// Two kernel sets compute it: `avx512` (its own translation unit, built with
// AVX-512 flags, called only after the CPU was checked) and `portable` (plain
// C++). default_scan_kernels() picks avx512 when the CPU has it, unless the
// environment variable RALM_KERNELS is `portable` (as the llama plugin).
//
// The invariant the speculative cache rests on: each (query, vector) score is
// computed by one fixed sequence of operations whatever the batch, the block
// and the thread count. A pair's score has 16 lane accumulators that run over
// the dimensions in order, 16 at a time (the last chunk zero-padded), one
// multiply-add per chunk (fused in avx512), then the lanes are summed in one
// fixed tree (8+8, 4+4, 2+2, 1+1). Batching only changes which accumulators
// live in registers together, so score() of one id gives the bits search()
// ranked it by. The two kernel sets differ from each other (fused against
// separate rounding), within a tolerance the tests state.
#pragma once

#include <cstdint>

namespace ralm::dense {

enum class ScanKernels { portable, avx512 };
// Inner product, or L2 with the score the negated squared distance, so that
// a higher score is better for both.
enum class Metric { inner_product, l2 };

const char* scan_kernels_name(ScanKernels set);
const char* metric_name(Metric metric);

// Whether this build has the set and this CPU can run it.
bool scan_kernels_supported(ScanKernels set);
// "portable" forces the fallback; anything else (or null) the best supported.
ScanKernels choose_scan_kernels(const char* ralm_kernels);
// choose_scan_kernels(getenv("RALM_KERNELS")), read once per process.
ScanKernels default_scan_kernels();

// Row counts that are multiples of this run in whole register blocks for
// every batch size (rows per block: 15, 8, 5, 4 or 3); the rest of a call's
// rows are scored one at a time.
inline constexpr std::int64_t kScanRowMultiple = 120;

// out[q * ldo + r] = score(queries[q], rows[r]) for q < nq, r < nrows.
// queries: nq x dim, contiguous; rows: nrows x dim with row stride `ld`.
// One pass over the rows serves every query (up to 8 at a time in registers).
void score_block(ScanKernels set, Metric metric, const float* queries, std::int64_t nq, const float* rows,
                 std::int64_t nrows, std::int64_t ld, std::int64_t dim, float* out, std::int64_t ldo);

// The first i in [from, n) with scores[i] > threshold, or n: the top-k
// filter's inner loop (most scores of a scan fall below the k-th best so far).
std::int64_t next_above(ScanKernels set, const float* scores, std::int64_t from, std::int64_t n,
                        float threshold);

namespace detail {
struct BlockArgs {
  const float* queries;
  std::int64_t nq;
  const float* rows;
  std::int64_t nrows;
  std::int64_t ld;
  std::int64_t dim;
  float* out;
  std::int64_t ldo;
  bool l2;
};
void portable_score_block(const BlockArgs& a);
std::int64_t portable_next_above(const float* scores, std::int64_t from, std::int64_t n, float threshold);
#if RALM_DENSE_AVX512
void avx512_score_block(const BlockArgs& a);
std::int64_t avx512_next_above(const float* scores, std::int64_t from, std::int64_t n, float threshold);
#endif
}  // namespace detail

}  // namespace ralm::dense
