#include "lora_delta.hpp"

#include "ralm/error.hpp"

namespace ralm::llama {

LoraDelta::LoraDelta(std::vector<Part> parts, std::int64_t r, std::int64_t in, double scale)
    : parts_(std::move(parts)), r_(r), in_(in), scale_(scale) {
  if (parts_.empty()) return;
  std::vector<std::span<const float>> as;
  for (const auto& p : parts_) {
    if (static_cast<std::int64_t>(p.a.size()) != r * in || static_cast<std::int64_t>(p.b.size()) != p.out * r)
      throw Error("LoraDelta: a factor has the wrong size");
    as.emplace_back(p.a);
    std::vector<float> scaled(p.b.size());
    for (std::size_t i = 0; i < p.b.size(); ++i)
      scaled[i] = static_cast<float>(scale * p.b[i]);
    b_.emplace_back(scaled, p.out, r, WeightType::f32);
  }
  a_ = PackedMatrix(as, in, WeightType::f32);
}

void LoraDelta::apply(KernelSet set, const float* x, std::int64_t rows, std::int64_t ldx, float* y,
                      std::int64_t ldy, int threads) const {
  if (parts_.empty() || rows <= 0) return;
  thread_local std::vector<float> t, u;
  const std::int64_t width = a_.out();
  t.resize(static_cast<std::size_t>(rows * width));
  matmul(set, x, rows, ldx, a_, t.data(), width, threads);
  for (std::size_t p = 0; p < parts_.size(); ++p) {
    const auto& part = parts_[p];
    u.resize(static_cast<std::size_t>(rows * part.out));
    matmul(set, t.data() + static_cast<std::int64_t>(p) * r_, rows, width, b_[p], u.data(), part.out,
           threads);
    for (std::int64_t row = 0; row < rows; ++row) {
      float* dst = y + row * ldy + part.offset;
      const float* src = u.data() + row * part.out;
      for (std::int64_t o = 0; o < part.out; ++o)
        dst[o] += src[o];
    }
  }
}

void LoraDelta::merge_into(std::vector<float>& w) const {
  std::vector<double> row(static_cast<std::size_t>(in_));
  for (const auto& part : parts_) {
    for (std::int64_t o = 0; o < part.out; ++o) {
      std::fill(row.begin(), row.end(), 0.0);
      for (std::int64_t k = 0; k < r_; ++k) {
        const double bk = part.b[static_cast<std::size_t>(o * r_ + k)];
        const float* a = part.a.data() + k * in_;
        for (std::int64_t i = 0; i < in_; ++i)
          row[static_cast<std::size_t>(i)] += bk * a[i];
      }
      float* dst = w.data() + (part.offset + o) * in_;
      for (std::int64_t i = 0; i < in_; ++i)
        dst[i] = static_cast<float>(dst[i] + scale_ * row[static_cast<std::size_t>(i)]);
    }
  }
}

}  // namespace ralm::llama
