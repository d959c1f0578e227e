// The Llama architecture as Hugging Face's LlamaForCausalLM computes it, on
// sequences that own their KV cache.
#pragma once

#include <memory>

#include "kernels.hpp"
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

  // Layer l's keys (or values): kv_heads × context × head_dim, so that one
  // head's keys are one sequential read.
  float* keys(std::int32_t layer) { return k_.data() + static_cast<std::size_t>(layer) * layer_stride_; }
  float* values(std::int32_t layer) { return v_.data() + static_cast<std::size_t>(layer) * layer_stride_; }
  Tokens& mutable_tokens() { return tokens_; }
  std::int32_t context() const { return context_; }

 private:
  std::int32_t context_;
  std::size_t layer_stride_;
  Tokens tokens_;
  std::vector<float, AlignedAllocator<float>> k_, v_;  // layers × kv_heads × context × head_dim, preallocated
};

class LlamaModel final : public Model {
 public:
  // `context` <= 0: the config's max_position_embeddings. The weights are
  // packed for the kernels in `dtype` (bf16: rounded to nearest even; the
  // norms stay f32) and `weights` is consumed as they are.
  LlamaModel(LlamaConfig config, LlamaWeights weights, std::unique_ptr<Tokenizer> tokenizer, int threads,
             std::int32_t context = 0, WeightType dtype = WeightType::f32);

  const Tokenizer& tokenizer() const override { return *tokenizer_; }
  ModelInfo info() const override;
  std::unique_ptr<Sequence> new_sequence() override;
  EvalResult eval(Sequence& seq, std::span<const TokenId> tokens, const EvalOptions& options) override;

  const LlamaConfig& config() const { return config_; }
  WeightType weight_type() const { return dtype_; }
  // The kernels start as default_kernel_set(); tests and benchmarks switch
  // them (the packed weights serve both sets). Throws when unsupported.
  KernelSet kernel_set() const { return kernels_; }
  void set_kernel_set(KernelSet set);
  // Bytes of weights in memory, and those one decoded token reads (every
  // matrix but the embedding table, of which it reads one row).
  std::size_t weight_bytes() const;
  std::size_t streamed_weight_bytes() const;

 private:
  struct Layer {
    std::vector<float> attn_norm, ffn_norm;
    PackedMatrix qkv;  // q, k and v stacked: one pass over the normed input
    PackedMatrix wo;
    PackedMatrix gate_up;  // gate and up stacked
    PackedMatrix down;
  };

  void embed(TokenId token, float* out) const;

  LlamaConfig config_;
  std::vector<Layer> layers_;
  std::vector<float> embed_f32_;           // vocab × hidden, for f32
  std::vector<std::uint16_t> embed_bf16_;  // vocab × hidden, for bf16
  std::vector<float> final_norm_;
  PackedMatrix output_;
  std::unique_ptr<Tokenizer> tokenizer_;
  int threads_;
  std::int32_t context_;
  WeightType dtype_;
  KernelSet kernels_;
  std::vector<double> inv_freq_;
};

}  // namespace ralm::llama
