// A dense encoder: text to a vector. Passages go through encode(), queries
// through encode_queries(), which is encode() unless the encoder treats a
// query otherwise (`bert`: a query prefix such as e5's "query: ", DPR's
// separate question encoder); where the two are the same, a passage used as
// a query finds itself.
//
// Encoders are internal to the plugin: `lsa` (TF-IDF and truncated SVD
// trained on the corpus), `model` (mean of a Model's final hidden states) and
// `bert` (a BERT-family checkpoint, bert_encoder.hpp). An encoder that is
// trained saves its state in the index folder, and its fingerprint says what
// it was trained with.
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
  // Rows of `out` (texts.size() x dim()), the passages' vectors, each
  // L2-normalised (`bert` with normalize: false leaves them as pooled); a
  // text with nothing the encoder knows gives the zero vector.
  // Deterministic: the same text gives the same bits on any thread and in
  // any batch.
  virtual void encode(std::span<const std::string> texts, float* out, int threads) const = 0;
  // The same for queries.
  virtual void encode_queries(std::span<const std::string> texts, float* out, int threads) const {
    encode(texts, out, threads);
  }
  // Writes what load needs into `dir` (which exists).
  virtual void save(const std::filesystem::path& dir) const = 0;
};

// Scales v to unit length; a zero vector stays zero.
void normalize(float* v, std::int64_t dim);

}  // namespace ralm::dense
