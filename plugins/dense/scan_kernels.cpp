// Dispatch and the portable kernel set. Built with -ffp-contract=off (see
// CMakeLists.txt): a multiply-add fused in one loop version but not in
// another would make a score's bits depend on the batch it was computed in.
#include "scan_kernels.hpp"

#include <cstdlib>
#include <string>

namespace ralm::dense {

const char* scan_kernels_name(ScanKernels set) {
  return set == ScanKernels::avx512 ? "avx512" : "portable";
}

const char* metric_name(Metric metric) {
  return metric == Metric::l2 ? "l2" : "ip";
}

bool scan_kernels_supported(ScanKernels set) {
  if (set == ScanKernels::portable) return true;
#if RALM_DENSE_AVX512
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
  }();
  return supported;
#else
  return false;
#endif
}

ScanKernels choose_scan_kernels(const char* ralm_kernels) {
  if (ralm_kernels && std::string(ralm_kernels) == "portable") return ScanKernels::portable;
  return scan_kernels_supported(ScanKernels::avx512) ? ScanKernels::avx512 : ScanKernels::portable;
}

ScanKernels default_scan_kernels() {
  static const ScanKernels set = choose_scan_kernels(std::getenv("RALM_KERNELS"));
  return set;
}

void score_block(ScanKernels set, Metric metric, const float* queries, std::int64_t nq, const float* rows,
                 std::int64_t nrows, std::int64_t ld, std::int64_t dim, float* out, std::int64_t ldo) {
  if (nq <= 0 || nrows <= 0) return;
  const detail::BlockArgs a{queries, nq, rows, nrows, ld, dim, out, ldo, metric == Metric::l2};
#if RALM_DENSE_AVX512
  if (set == ScanKernels::avx512) {
    detail::avx512_score_block(a);
    return;
  }
#else
  (void)set;
#endif
  detail::portable_score_block(a);
}

std::int64_t next_above(ScanKernels set, const float* scores, std::int64_t from, std::int64_t n,
                        float threshold) {
#if RALM_DENSE_AVX512
  if (set == ScanKernels::avx512) return detail::avx512_next_above(scores, from, n, threshold);
#else
  (void)set;
#endif
  return detail::portable_next_above(scores, from, n, threshold);
}

namespace detail {

namespace {

// One pair, in the order the header states: 16 lanes over chunks of 16, the
// last chunk zero-padded (a padded lane adds 0*0 or (0-0)^2, exactly 0), then
// the fixed tree.
float pair_score(const float* q, const float* r, std::int64_t dim, bool l2) {
  float acc[16] = {};
  std::int64_t k = 0;
  for (; k + 16 <= dim; k += 16) {
    for (int l = 0; l < 16; ++l) {
      if (l2) {
        const float d = q[k + l] - r[k + l];
        acc[l] = acc[l] + d * d;
      } else {
        acc[l] = acc[l] + q[k + l] * r[k + l];
      }
    }
  }
  for (int l = 0; k + l < dim; ++l) {
    if (l2) {
      const float d = q[k + l] - r[k + l];
      acc[l] = acc[l] + d * d;
    } else {
      acc[l] = acc[l] + q[k + l] * r[k + l];
    }
  }
  for (int w = 8; w >= 1; w /= 2) {
    for (int l = 0; l < w; ++l)
      acc[l] = acc[l] + acc[l + w];
  }
  return l2 ? -acc[0] : acc[0];
}

}  // namespace

void portable_score_block(const BlockArgs& a) {
  for (std::int64_t r = 0; r < a.nrows; ++r) {
    const float* row = a.rows + r * a.ld;
    for (std::int64_t q = 0; q < a.nq; ++q) {
      a.out[q * a.ldo + r] = pair_score(a.queries + q * a.dim, row, a.dim, a.l2);
    }
  }
}

std::int64_t portable_next_above(const float* scores, std::int64_t from, std::int64_t n, float threshold) {
  while (from < n && !(scores[from] > threshold))
    ++from;
  return from;
}

}  // namespace detail

}  // namespace ralm::dense
