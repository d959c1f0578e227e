// One packed weight matrix's LoRA update, W + Σ scale · B·A over the targets
// stacked in it (q, k and v share the fused qkv matrix; gate and up share
// gate_up): applied unmerged, as two thin matrix products after the base
// product, or merged into a copy of the weights.
#pragma once

#include <cstdint>
#include <vector>

#include "shared_kernels.hpp"

namespace ralm::llama {

class LoraDelta {
 public:
  struct Part {
    std::int64_t offset = 0;  // first output row of this target in the stacked matrix
    std::int64_t out = 0;
    std::vector<float> a;  // r × in
    std::vector<float> b;  // out × r
  };

  LoraDelta() = default;
  // Every part has rank r over inputs of width `in`; B is scaled by `scale`
  // once, here.
  LoraDelta(std::vector<Part> parts, std::int64_t r, std::int64_t in, double scale);

  bool empty() const { return parts_.empty(); }

  // y[row][offset + o] += scale · (B · (A · x[row]))[o] for every part: one
  // product with the parts' A stacked (x read once), then one per B. Row by
  // row with fixed operation order, so batching and threads change no bits.
  void apply(KernelSet set, const float* x, std::int64_t rows, std::int64_t ldx, float* y, std::int64_t ldy,
             int threads) const;

  // w (the stacked matrix, row-major × in) += scale · B·A, summed in double
  // and rounded once.
  void merge_into(std::vector<float>& w) const;

 private:
  std::vector<Part> parts_;
  std::int64_t r_ = 0, in_ = 0;
  double scale_ = 1;
  PackedMatrix a_;               // the parts' A stacked: (parts × r) × in
  std::vector<PackedMatrix> b_;  // scale · B per part: out × r
};

}  // namespace ralm::llama
