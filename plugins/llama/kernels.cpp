#include "kernels.hpp"

#include <cmath>

namespace ralm::llama {

float dot(const float* a, const float* b, std::int64_t n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l)
      acc[l] += a[i + l] * b[i + l];
  }
  float tail = 0.0f;
  for (; i < n; ++i)
    tail += a[i] * b[i];
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    for (int l = 0; l < width; ++l)
      acc[l] += acc[l + width];
  }
  return acc[0] + tail;
}

void matmul_transposed(const float* x, std::int64_t rows, std::int64_t in, const float* w, std::int64_t out,
                       float* y, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads) if (out * rows * in > (1 << 16))
  for (std::int64_t o = 0; o < out; ++o) {
    const float* wo = w + o * in;
    for (std::int64_t r = 0; r < rows; ++r)
      y[r * out + o] = dot(x + r * in, wo, in);
  }
}

void rms_norm(const float* x, const float* weight, std::int64_t n, double eps, float* out) {
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i)
    sum += static_cast<double>(x[i]) * x[i];
  const auto scale = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
  for (std::int64_t i = 0; i < n; ++i)
    out[i] = weight[i] * (x[i] * scale);
}

void silu_mul(float* gate, const float* up, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i)
    gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

}  // namespace ralm::llama
