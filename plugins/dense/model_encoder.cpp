#include "model_encoder.hpp"

#include <algorithm>
#include <fstream>

#include "ralm/error.hpp"

namespace ralm::dense {

ModelEncoder::ModelEncoder(std::shared_ptr<Model> model, std::int64_t max_tokens)
    : model_(std::move(model)), max_tokens_(max_tokens), dim_(model_->info().hidden_size) {}

std::string ModelEncoder::fingerprint_of(const Model& model, std::int64_t max_tokens) {
  const ModelInfo i = model.info();
  return "model architecture=" + i.architecture + " vocab=" + std::to_string(i.vocab_size) +
         " hidden=" + std::to_string(i.hidden_size) + " layers=" + std::to_string(i.num_layers) +
         " parameters=" + std::to_string(i.parameters) + " max_tokens=" + std::to_string(max_tokens);
}

void ModelEncoder::encode(std::span<const std::string> texts, float* out,
                          int /*threads: the model's own*/) const {
  // Sequences per eval_batch call: enough to share the weights' pass, few
  // enough to keep the KV caches small.
  constexpr std::size_t kBatch = 8;
  const Tokenizer& tok = model_->tokenizer();
  const auto limit = static_cast<std::size_t>(
      std::min<std::int64_t>(max_tokens_, std::max<std::int32_t>(1, model_->info().context_length)));
  for (std::size_t first = 0; first < texts.size(); first += kBatch) {
    const std::size_t n = std::min(kBatch, texts.size() - first);
    std::vector<Tokens> tokens(n);
    std::vector<std::unique_ptr<Sequence>> seqs;
    std::vector<Sequence*> seq_ptrs;
    std::vector<std::span<const TokenId>> spans;
    for (std::size_t i = 0; i < n; ++i) {
      tokens[i] = tok.encode(texts[first + i], /*add_bos=*/true);
      if (tokens[i].size() > limit) tokens[i].resize(limit);
      seqs.push_back(model_->new_sequence());
      seq_ptrs.push_back(seqs.back().get());
      spans.emplace_back(tokens[i]);
    }
    EvalOptions options;
    options.hidden = true;
    const std::vector<EvalResult> results = model_->eval_batch(seq_ptrs, spans, options);
    for (std::size_t i = 0; i < n; ++i) {
      const EvalResult& r = results[i];
      float* row = out + static_cast<std::int64_t>(first + i) * dim_;
      const auto rows = static_cast<std::int64_t>(tokens[i].size());
      if (static_cast<std::int64_t>(r.hidden.size()) != rows * dim_) {
        throw Error("model encoder: the model returned " + std::to_string(r.hidden.size()) +
                    " hidden values for " + std::to_string(rows) + " tokens of width " +
                    std::to_string(dim_));
      }
      // The mean, summed in double in token order.
      for (std::int64_t c = 0; c < dim_; ++c) {
        double sum = 0;
        for (std::int64_t t = 0; t < rows; ++t)
          sum += r.hidden[static_cast<std::size_t>(t * dim_ + c)];
        row[c] = static_cast<float>(sum / static_cast<double>(rows));
      }
      normalize(row, dim_);
    }
  }
}

void ModelEncoder::save(const std::filesystem::path& dir) const {
  std::ofstream(dir / "model.txt") << fingerprint() << "\n";
}

}  // namespace ralm::dense
