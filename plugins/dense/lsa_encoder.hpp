// The `lsa` encoder: latent semantic analysis trained on the corpus.
//
// A passage's TF-IDF vector (BM25's analyser: lower-casing, English stop
// words, Snowball stems; weight (1 + ln tf) * idf, idf = ln((1 + N) / (1 +
// df)) + 1 as scikit-learn smooths it) is projected onto the top `dim` right
// singular vectors of the corpus's TF-IDF matrix, then L2-normalised. The SVD
// is randomized (Halko, Martinsson and Tropp 2011: a Gaussian sketch with 10
// extra columns and power iterations), from a fixed seed, so a rebuild gives
// the same encoder.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "encoder.hpp"
#include "ralm/passage_store.hpp"

namespace ralm::dense {

struct LsaOptions {
  std::int64_t dim = 256;
  std::int64_t min_df = 2;         // terms in fewer passages are dropped
  std::int64_t max_vocab = 50000;  // the most frequent terms (by df) are kept
  std::int64_t seed = 1;
  std::int64_t power_iterations = 3;
};

class LsaEncoder final : public Encoder {
 public:
  // Trains on every passage of `store` (title and text).
  static std::unique_ptr<LsaEncoder> train(const PassageStore& store, const LsaOptions& options, int threads);
  // Reads what save() wrote.
  static std::unique_ptr<LsaEncoder> load(const std::filesystem::path& dir, const LsaOptions& options);

  // The fingerprint of an encoder with these options, before it exists.
  static std::string fingerprint_of(const LsaOptions& options);

  std::int64_t dim() const override { return dim_; }
  std::string fingerprint() const override { return fingerprint_of(options_); }
  void encode(std::span<const std::string> texts, float* out, int threads) const override;
  void save(const std::filesystem::path& dir) const override;

  std::int64_t vocabulary_size() const { return static_cast<std::int64_t>(terms_.size()); }

 private:
  explicit LsaEncoder(const LsaOptions& options) : options_(options) {}
  void index_terms();

  LsaOptions options_;
  std::int64_t dim_ = 0;
  std::vector<std::string> terms_;  // vocabulary id -> term
  std::unordered_map<std::string, std::int32_t> ids_;
  std::vector<float> idf_;         // per vocabulary id
  std::vector<float> projection_;  // vocabulary x dim, row-major
};

}  // namespace ralm::dense
