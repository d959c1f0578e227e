#include "adamw.hpp"

#include <algorithm>
#include <cmath>

namespace ralm::llama_train {

double learning_rate(const Schedule& s, std::int64_t step) {
  if (step < s.warmup_steps) {
    return s.lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  }
  const std::int64_t decay_steps = std::max<std::int64_t>(1, s.total_steps - s.warmup_steps);
  const double progress =
      std::min(1.0, static_cast<double>(step - s.warmup_steps) / static_cast<double>(decay_steps));
  return s.min_lr + 0.5 * (s.lr - s.min_lr) * (1.0 + std::cos(M_PI * progress));
}

double clip_gradient_norm(float* grad, std::size_t n, double max_norm) {
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    sum += static_cast<double>(grad[i]) * static_cast<double>(grad[i]);
  const double norm = std::sqrt(sum);
  if (max_norm > 0 && norm > max_norm) {
    const auto scale = static_cast<float>(max_norm / (norm + 1e-6));
    for (std::size_t i = 0; i < n; ++i)
      grad[i] *= scale;
  }
  return norm;
}

AdamW::AdamW(const AdamWConfig& config, const std::vector<ParamTensor>& tensors, std::size_t total,
             int threads)
    : config_(config), decay_(total, 0), m_(total, 0.0f), v_(total, 0.0f), threads_(std::max(1, threads)) {
  for (const auto& t : tensors) {
    if (t.decay) std::fill_n(decay_.begin() + static_cast<std::ptrdiff_t>(t.offset), t.size, std::uint8_t{1});
  }
}

void AdamW::step(float* params, const float* grad, double lr) {
  ++t_;
  const auto b1 = static_cast<float>(config_.beta1), b2 = static_cast<float>(config_.beta2);
  const auto step_size = static_cast<float>(lr / (1.0 - std::pow(config_.beta1, static_cast<double>(t_))));
  const auto bias2_sqrt =
      static_cast<float>(std::sqrt(1.0 - std::pow(config_.beta2, static_cast<double>(t_))));
  const auto eps = static_cast<float>(config_.eps);
  const auto decay = static_cast<float>(1.0 - lr * config_.weight_decay);
  const auto n = static_cast<std::int64_t>(m_.size());
#pragma omp parallel for schedule(static) num_threads(n >= (1 << 16) ? threads_ : 1)
  for (std::int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::size_t>(i);
    const float g = grad[k];
    m_[k] = b1 * m_[k] + (1.0f - b1) * g;
    v_[k] = b2 * v_[k] + (1.0f - b2) * g * g;
    if (decay_[k]) params[k] *= decay;
    params[k] -= step_size * m_[k] / (std::sqrt(v_[k]) / bias2_sqrt + eps);
  }
}

}  // namespace ralm::llama_train
