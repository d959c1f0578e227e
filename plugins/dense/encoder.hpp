// A dense encoder: text to an L2-normalised vector. Passages and queries go
// through the same encode(), so a passage used as a query finds itself.
//
// Encoders are internal to the plugin: `lsa` (TF-IDF and truncated SVD
// trained on the corpus) today; `model` (mean of a Model's final hidden
// states) fits the same shape. An encoder that is trained saves its state in
// the index folder, and its fingerprint says what it was trained with.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace ralm::dense {

class Encoder {
 public:
  virtual ~Encoder() = default;

  virtual std::int64_t dim() const = 0;
  // The encoder and every parameter that changes its vectors, e.g.
  // "lsa dim=256 min_df=2 max_vocab=50000 seed=1 analyzer=...". Indexes
  // record it and refuse to load under another.
  virtual std::string fingerprint() const = 0;
  // Rows of `out` (texts.size() x dim()), each L2-normalised; a text with
  // nothing the encoder knows gives the zero vector. Deterministic: the same
  // text gives the same bits on any thread and in any batch.
  virtual void encode(std::span<const std::string> texts, float* out, int threads) const = 0;
  // Writes what load needs into `dir` (which exists).
  virtual void save(const std::filesystem::path& dir) const = 0;
};

// Scales v to unit length; a zero vector stays zero.
void normalize(float* v, std::int64_t dim);

}  // namespace ralm::dense
