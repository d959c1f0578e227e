// A weight matrix kept in one of GGML's quantized block formats (Q8_0, Q4_0,
// Q4_K, Q6_K), for matmul_quant (quant_kernels.hpp).
//
// out × in, row-major as GGUF stores it: row o is row_bytes(type, in) bytes
// of blocks. The rows are either borrowed, in place in a memory-mapped GGUF
// file (several tensors with the same `in` stacked as consecutive segments,
// so one product computes, say, q, k and v), or owned, quantized here from
// floats. Borrowed rows must outlive the matrix.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ralm/gguf/ggml_types.hpp"
#include "shared_kernels.hpp"

namespace ralm::llama {

class QuantMatrix {
 public:
  struct Segment {
    const std::byte* data;
    std::int64_t rows;
  };

  QuantMatrix() = default;
  // Borrows the segments' rows, in order.
  QuantMatrix(gguf::GgmlType type, std::int64_t in, std::vector<Segment> segments);
  // Quantizes w (out × in, row-major) with ggml's reference quantizer.
  static QuantMatrix quantize(gguf::GgmlType type, std::span<const float> w, std::int64_t out,
                              std::int64_t in);

  // Whether matmul_quant takes weights of this type.
  static bool supported(gguf::GgmlType type);

  std::int64_t out() const { return out_; }
  std::int64_t in() const { return in_; }
  gguf::GgmlType type() const { return type_; }
  std::size_t row_bytes() const { return row_bytes_; }
  // Bytes of all rows.
  std::size_t bytes() const { return row_bytes_ * static_cast<std::size_t>(out_); }
  const std::vector<Segment>& segments() const { return segments_; }

  const std::byte* row(std::int64_t o) const;
  // Rows [o0, o1) dequantized, row-major (o1 - o0) × in.
  std::vector<float> unpack(std::int64_t o0, std::int64_t o1) const;
  std::vector<float> unpack() const { return unpack(0, out_); }
  // Row o dequantized into out[0, in): an embedding lookup.
  void dequantize_row_into(std::int64_t o, float* out) const;

 private:
  gguf::GgmlType type_ = gguf::GgmlType::Q8_0;
  std::int64_t in_ = 0, out_ = 0;
  std::size_t row_bytes_ = 0;
  std::vector<Segment> segments_;
  std::vector<std::int64_t> first_row_;  // of each segment
  AlignedBuffer owned_;
};

}  // namespace ralm::llama
