// The Llama architecture as Hugging Face's LlamaForCausalLM computes it, on
// sequences that own their KV cache.
#pragma once

#include <memory>

#include "llama_config.hpp"
#include "llama_weights.hpp"
#include "ralm/model.hpp"

namespace ralm::llama {

class LlamaSequence final : public Sequence {
 public:
  LlamaSequence(const LlamaConfig& config, std::int32_t context);

  std::int32_t length() const override { return static_cast<std::int32_t>(tokens_.size()); }
  const Tokens& tokens() const override { return tokens_; }
  void truncate(std::int32_t n) override;
  std::unique_ptr<Sequence> clone() const override;

  // Layer l's keys (or values) for positions [0, context): context × kv_dim.
  float* keys(std::int32_t layer) { return k_.data() + static_cast<std::size_t>(layer) * layer_stride_; }
  float* values(std::int32_t layer) { return v_.data() + static_cast<std::size_t>(layer) * layer_stride_; }
  Tokens& mutable_tokens() { return tokens_; }
  std::int32_t context() const { return context_; }

 private:
  std::int32_t context_;
  std::size_t layer_stride_;
  std::size_t kv_dim_;
  Tokens tokens_;
  std::vector<float> k_, v_;  // layers × context × kv_dim, preallocated
};

class LlamaModel final : public Model {
 public:
  // `context` <= 0: the config's max_position_embeddings.
  LlamaModel(LlamaConfig config, LlamaWeights weights, std::unique_ptr<Tokenizer> tokenizer, int threads,
             std::int32_t context = 0);

  const Tokenizer& tokenizer() const override { return *tokenizer_; }
  ModelInfo info() const override;
  std::unique_ptr<Sequence> new_sequence() override;
  EvalResult eval(Sequence& seq, std::span<const TokenId> tokens, const EvalOptions& options) override;

  const LlamaConfig& config() const { return config_; }

 private:
  LlamaConfig config_;
  LlamaWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  int threads_;
  std::int32_t context_;
  std::vector<double> inv_freq_;
};

}  // namespace ralm::llama
