// A Linear weight of the model in whichever storage it was loaded in: packed
// float32/bfloat16 panels (PackedMatrix), GGML's quantized blocks
// (QuantMatrix, in place in a mapped GGUF file), or several such matrices
// stacked along the outputs, where one product computes, say, q, k and v
// (a Q4_K_M file may store v in q6_K beside q and k in q4_K). The layers, the
// embedding and output matrices and LoRA's merging see only this class.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "quant_matrix.hpp"
#include "shared_kernels.hpp"

namespace ralm::llama {

class WeightMatrix {
 public:
  WeightMatrix() = default;
  explicit WeightMatrix(PackedMatrix m);
  explicit WeightMatrix(QuantMatrix m);
  // `parts` with the same `in`, their outputs concatenated in order.
  static WeightMatrix stack(std::vector<WeightMatrix> parts);

  std::int64_t out() const { return out_; }
  std::int64_t in() const { return in_; }
  std::size_t bytes() const;
  // The storage types of the parts, each once, in order: "f32", "q4_K", ...
  std::vector<std::string> type_names() const;

  // y[r][o] = x[r] · W[o], as matmul() (kernels.hpp) or matmul_quant()
  // (quant_kernels.hpp) compute it: the bits of a row do not depend on the
  // other rows or on `threads`.
  void matmul(KernelSet set, const float* x, std::int64_t rows, std::int64_t ldx, float* y, std::int64_t ldy,
              int threads) const;
  void matmul(KernelSet set, const float* x, std::int64_t rows, float* y, int threads) const {
    matmul(set, x, rows, in_, y, out_, threads);
  }

  // Rows [o0, o1) as float32, row-major: the weights as the kernels use them.
  std::vector<float> unpack(std::int64_t o0, std::int64_t o1) const;
  std::vector<float> unpack() const { return unpack(0, out_); }
  // Row o as float32 into out[0, in): an embedding lookup.
  void row_into(std::int64_t o, float* out) const;

  // Adds rows (row-major, `in` wide) after the last, in the last part's
  // storage type: a vocabulary growing by a token. Quantized parts keep
  // their rows where they are and gain a part holding the new ones.
  void append_rows(std::span<const float> rows);

 private:
  using Storage = std::variant<PackedMatrix, QuantMatrix>;
  struct Part {
    Storage storage;
    std::int64_t first = 0;  // its first output row in the whole
  };
  static std::int64_t out_of(const Storage& s);
  static std::int64_t in_of(const Storage& s);

  std::vector<Part> parts_;
  std::int64_t out_ = 0, in_ = 0;
};

}  // namespace ralm::llama
