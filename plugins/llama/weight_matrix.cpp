#include "weight_matrix.hpp"

#include <algorithm>

#include "quant_kernels.hpp"
#include "ralm/error.hpp"

namespace ralm::llama {

WeightMatrix::WeightMatrix(PackedMatrix m) : out_(m.out()), in_(m.in()) {
  parts_.push_back({Storage(std::move(m)), 0});
}

WeightMatrix::WeightMatrix(QuantMatrix m) : out_(m.out()), in_(m.in()) {
  parts_.push_back({Storage(std::move(m)), 0});
}

std::int64_t WeightMatrix::out_of(const Storage& s) {
  return std::visit([](const auto& m) { return m.out(); }, s);
}

std::int64_t WeightMatrix::in_of(const Storage& s) {
  return std::visit([](const auto& m) { return m.in(); }, s);
}

WeightMatrix WeightMatrix::stack(std::vector<WeightMatrix> parts) {
  WeightMatrix whole;
  for (auto& p : parts) {
    if (!whole.parts_.empty() && p.in_ != whole.in_)
      throw Error("llama: stacked matrices must share their input size (" + std::to_string(whole.in_) +
                  " and " + std::to_string(p.in_) + ")");
    whole.in_ = p.in_;
    for (auto& part : p.parts_) {
      const std::int64_t out = out_of(part.storage);
      whole.parts_.push_back({std::move(part.storage), whole.out_});
      whole.out_ += out;
    }
  }
  return whole;
}

std::size_t WeightMatrix::bytes() const {
  std::size_t total = 0;
  for (const auto& p : parts_)
    total += std::visit([](const auto& m) { return m.bytes(); }, p.storage);
  return total;
}

namespace {

std::string storage_name(const PackedMatrix& m) {
  return weight_type_name(m.type());
}

std::string storage_name(const QuantMatrix& m) {
  return std::string(gguf::type_name(m.type()));
}

}  // namespace

std::vector<std::string> WeightMatrix::type_names() const {
  std::vector<std::string> names;
  for (const auto& p : parts_) {
    std::string n = std::visit([](const auto& m) { return storage_name(m); }, p.storage);
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(std::move(n));
  }
  return names;
}

void WeightMatrix::matmul(KernelSet set, const float* x, std::int64_t rows, std::int64_t ldx, float* y,
                          std::int64_t ldy, int threads) const {
  for (const auto& p : parts_) {
    if (const auto* packed = std::get_if<PackedMatrix>(&p.storage))
      kernels::matmul(set, x, rows, ldx, *packed, y + p.first, ldy, threads);
    else
      matmul_quant(set, x, rows, ldx, std::get<QuantMatrix>(p.storage), y + p.first, ldy, threads);
  }
}

std::vector<float> WeightMatrix::unpack(std::int64_t o0, std::int64_t o1) const {
  std::vector<float> w;
  w.reserve(static_cast<std::size_t>((o1 - o0) * in_));
  for (const auto& p : parts_) {
    const std::int64_t lo = std::max(o0, p.first), hi = std::min(o1, p.first + out_of(p.storage));
    if (lo >= hi) continue;
    const auto rows =
        std::visit([&](const auto& m) { return m.unpack(lo - p.first, hi - p.first); }, p.storage);
    w.insert(w.end(), rows.begin(), rows.end());
  }
  return w;
}

void WeightMatrix::row_into(std::int64_t o, float* out) const {
  for (const auto& p : parts_) {
    if (o < p.first || o >= p.first + out_of(p.storage)) continue;
    if (const auto* q = std::get_if<QuantMatrix>(&p.storage)) {
      q->dequantize_row_into(o - p.first, out);
    } else {
      const std::vector<float> row = std::get<PackedMatrix>(p.storage).unpack(o - p.first, o - p.first + 1);
      std::copy(row.begin(), row.end(), out);
    }
    return;
  }
  throw Error("llama: row " + std::to_string(o) + " of a matrix of " + std::to_string(out_));
}

void WeightMatrix::append_rows(std::span<const float> rows) {
  if (parts_.empty() || in_ == 0 || rows.size() % static_cast<std::size_t>(in_) != 0)
    throw Error("llama: rows to append do not fit a matrix " + std::to_string(in_) + " wide");
  const auto added = static_cast<std::int64_t>(rows.size()) / in_;
  Part& last = parts_.back();
  if (auto* packed = std::get_if<PackedMatrix>(&last.storage)) {
    std::vector<float> w = packed->unpack();
    w.insert(w.end(), rows.begin(), rows.end());
    *packed = PackedMatrix(w, packed->out() + added, in_, packed->type());
  } else {
    const auto type = std::get<QuantMatrix>(last.storage).type();
    parts_.push_back({Storage(QuantMatrix::quantize(type, rows, added, in_)), out_});
  }
  out_ += added;
}

}  // namespace ralm::llama
