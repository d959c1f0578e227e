// The `model` encoder: the mean of a Model's final hidden states (after the
// final norm) over the text's first `max_tokens` tokens (a beginning-of-
// sequence token first), L2-normalised. The pipeline's model computes it
// (BuildContext::model()), in batches of sequences through eval_batch, whose
// results are bit-identical to single evaluations, so a text's vector does
// not depend on its batch.
//
// Nothing identifies a model's weights from the Model interface, so the
// fingerprint records its shape (architecture, sizes, parameter count) and
// max_tokens: an index built with other weights of the same shape is not
// detected. Rebuild with `ralm index build --force` after changing weights.
#pragma once

#include <memory>

#include "encoder.hpp"
#include "ralm/model.hpp"

namespace ralm::dense {

class ModelEncoder final : public Encoder {
 public:
  ModelEncoder(std::shared_ptr<Model> model, std::int64_t max_tokens);

  static std::string fingerprint_of(const Model& model, std::int64_t max_tokens);

  std::int64_t dim() const override { return dim_; }
  std::string fingerprint() const override { return fingerprint_of(*model_, max_tokens_); }
  void encode(std::span<const std::string> texts, float* out, int threads) const override;
  void save(const std::filesystem::path& dir) const override;

 private:
  std::shared_ptr<Model> model_;
  std::int64_t max_tokens_;
  std::int64_t dim_;
};

}  // namespace ralm::dense
