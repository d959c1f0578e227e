#include "quant_matrix.hpp"

#include <algorithm>
#include <string>

#include "ralm/error.hpp"
#include "ralm/gguf/quants.hpp"

namespace ralm::llama {

namespace {

void require_supported(gguf::GgmlType type) {
  if (!QuantMatrix::supported(type)) {
    throw Error("QuantMatrix: weights of type " + std::string(gguf::type_name(type)) +
                " are not supported (q8_0, q4_0, q4_K and q6_K are)");
  }
}

}  // namespace

bool QuantMatrix::supported(gguf::GgmlType type) {
  using gguf::GgmlType;
  return type == GgmlType::Q8_0 || type == GgmlType::Q4_0 || type == GgmlType::Q4_K || type == GgmlType::Q6_K;
}

QuantMatrix::QuantMatrix(gguf::GgmlType type, std::int64_t in, std::vector<Segment> segments)
    : type_(type), in_(in), segments_(std::move(segments)) {
  require_supported(type);
  if (in <= 0) throw Error("QuantMatrix: in must be positive");
  row_bytes_ = gguf::row_bytes(type, in);  // throws for a partial block
  for (const auto& s : segments_) {
    if (!s.data || s.rows <= 0) throw Error("QuantMatrix: a segment needs data and at least one row");
    first_row_.push_back(out_);
    out_ += s.rows;
  }
}

QuantMatrix QuantMatrix::quantize(gguf::GgmlType type, std::span<const float> w, std::int64_t out,
                                  std::int64_t in) {
  if (out <= 0 || in <= 0 || static_cast<std::int64_t>(w.size()) != out * in) {
    throw Error("QuantMatrix::quantize: " + std::to_string(w.size()) + " values are not " +
                std::to_string(out) + " × " + std::to_string(in));
  }
  require_supported(type);
  const std::size_t rb = gguf::row_bytes(type, in);
  AlignedBuffer buffer(rb * static_cast<std::size_t>(out));
  auto* data = static_cast<std::byte*>(buffer.data());
  for (std::int64_t o = 0; o < out; ++o)
    gguf::quantize_row(type, w.data() + o * in, data + static_cast<std::size_t>(o) * rb, in);
  QuantMatrix m(type, in, {Segment{data, out}});
  m.owned_ = std::move(buffer);
  return m;
}

const std::byte* QuantMatrix::row(std::int64_t o) const {
  if (o < 0 || o >= out_) throw Error("QuantMatrix::row: row " + std::to_string(o) + " out of range");
  const auto s = static_cast<std::size_t>(std::upper_bound(first_row_.begin(), first_row_.end(), o) -
                                          first_row_.begin() - 1);
  return segments_[s].data + static_cast<std::size_t>(o - first_row_[s]) * row_bytes_;
}

std::vector<float> QuantMatrix::unpack(std::int64_t o0, std::int64_t o1) const {
  if (o0 < 0 || o1 > out_ || o0 > o1) throw Error("QuantMatrix::unpack: rows out of range");
  std::vector<float> w(static_cast<std::size_t>((o1 - o0) * in_));
  for (std::int64_t o = o0; o < o1; ++o)
    dequantize_row_into(o, w.data() + (o - o0) * in_);
  return w;
}

void QuantMatrix::dequantize_row_into(std::int64_t o, float* out) const {
  gguf::dequantize_row(type_, row(o), out, in_);
}

}  // namespace ralm::llama
