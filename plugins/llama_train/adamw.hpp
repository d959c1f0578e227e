// AdamW (decoupled weight decay, PyTorch's formulation), the learning-rate
// schedule (linear warm-up, then cosine decay to a floor) and global-norm
// gradient clipping. Element-wise in a fixed order: the same inputs give the
// same bits on any thread count, which a bit-exact resume relies on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "param_layout.hpp"

namespace ralm::llama_train {

struct Schedule {
  double lr = 1e-3;
  double min_lr = 1e-4;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;
};

// The learning rate of optimiser step `step` (0-based): lr · (step+1)/warmup
// during warm-up, then a half cosine from lr down to min_lr at total_steps.
double learning_rate(const Schedule& s, std::int64_t step);

// Scales `grad` so that its L2 norm is at most max_norm (<= 0: no clipping).
// Returns the norm before clipping, summed in double in index order.
double clip_gradient_norm(float* grad, std::size_t n, double max_norm);

struct AdamWConfig {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
};

class AdamW {
 public:
  // Weight decay applies to the tensors marked `decay` (matrices).
  AdamW(const AdamWConfig& config, const std::vector<ParamTensor>& tensors, std::size_t total, int threads);

  void step(float* params, const float* grad, double lr);

  // The state a checkpoint keeps: both moments and the step count.
  std::vector<float>& first_moment() { return m_; }
  std::vector<float>& second_moment() { return v_; }
  std::int64_t steps() const { return t_; }
  void set_steps(std::int64_t t) { t_ = t; }

 private:
  AdamWConfig config_;
  std::vector<std::uint8_t> decay_;
  std::vector<float> m_, v_;
  std::int64_t t_ = 0;
  int threads_;
};

}  // namespace ralm::llama_train
