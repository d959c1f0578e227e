// The forward and backward passes of the Llama architecture, exactly as the
// llama plugin (and Hugging Face's LlamaForCausalLM) computes the forward:
// embedding, RMSNorm, rotary embeddings in the rotate-half layout, grouped-
// query causal attention, SwiGLU, tied or untied output, cross-entropy.
//
// Batched over sequences that each start at position 0. Matrix products,
// attention's included (one product per sequence and head), go to BLAS; the
// rest is OpenMP over rows or columns with every sum in a fixed order, so a
// result depends only on the inputs and the thread count. Instantiated for
// float (training) and double (the finite-difference tests, where rounding
// would hide a wrong gradient).
//
// It does not run on the llama plugin's inference kernels
// (ralm/kernels/kernels.hpp), which are built for decoding and do not fit
// training:
//   - they multiply by weights packed once at load (f32 or bf16 panels),
//     while training's weights change at every optimiser step and are read
//     in place from the flat parameter buffer (ParamLayout);
//   - they compute x·Wᵀ only, while the backward pass needs the gradient of
//     every product, dy·W and dyᵀ·x;
//   - their attention runs a few tokens' queries over a KV cache and keeps
//     nothing but the cache, while the backward pass needs every activation
//     of the forward, each (sequence, head)'s whole causal probability
//     matrix among them;
//   - they give each output one accumulator running over k in order, so its
//     bits do not depend on the rows or threads of a call (what speculation
//     rests on), while training needs only a fixed result for a fixed thread
//     count and takes sgemm's blocked throughput on its large batched
//     (sequences × length rows) products;
//   - they are float only, while this graph is also built for double.
// So the two forwards agree within rounding, not bit for bit
// (tests/llama_graph_test.cpp holds them within 1e-4).
//
// With a LoraLayout, the base weights are frozen and each adapted linear
// layer computes x·Wᵀ + scale · (dropout(x)·Aᵀ)·Bᵀ, PEFT's LoRA; trainable
// token rows replace the base embedding's rows (and, tied, the output's).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "lora_layout.hpp"
#include "param_layout.hpp"
#include "ralm/llama_format/config.hpp"
#include "ralm/types.hpp"

namespace ralm::llama_train {

// `sequences` rows of `length` positions. targets[i] is the token position i
// must predict, or kIgnore for no loss there (a prompt, a retrieved passage).
struct TokenBatch {
  static constexpr TokenId kIgnore = -1;
  std::int32_t sequences = 0;
  std::int32_t length = 0;
  std::vector<TokenId> inputs;   // sequences × length
  std::vector<TokenId> targets;  // sequences × length
  std::int64_t target_count() const;
};

struct LossSum {
  double sum = 0.0;  // of -log p(target), over positions with a target
  std::int64_t count = 0;
};

template <class T>
class LlamaGraph {
 public:
  // `lora` (kept by reference) adds LoRA factors the *_lora calls train.
  LlamaGraph(const llama::LlamaConfig& config, int threads, const LoraLayout* lora = nullptr);
  ~LlamaGraph();
  LlamaGraph(const LlamaGraph&) = delete;
  LlamaGraph& operator=(const LlamaGraph&) = delete;

  const ParamLayout& layout() const { return layout_; }

  // The forward pass and the loss. With `grad`, also the backward pass: adds
  // d(grad_scale · loss sum)/d(params) into grad (layout().total() values).
  LossSum run(const T* params, const TokenBatch& batch, T* grad = nullptr, double grad_scale = 1.0);

  // The same with the LoRA factors `lora` over frozen `params`: adds
  // d(grad_scale · loss sum)/d(lora) into grad_lora. dropout_seed 0: no
  // dropout (evaluation); otherwise the mask is a function of the seed, the
  // layer, the module and the element, never of threads.
  LossSum run_lora(const T* params, const T* lora, const TokenBatch& batch, T* grad_lora = nullptr,
                   double grad_scale = 1.0, std::uint64_t dropout_seed = 0);

  // The logits at every position: sequences × length × vocab (with `lora`,
  // adapted, without dropout).
  std::vector<T> logits(const T* params, const TokenBatch& batch, const T* lora = nullptr);

 private:
  struct LayerActivations;
  struct Activations;
  void forward(const T* params, const T* lora, std::uint64_t dropout_seed, const TokenBatch& batch,
               Activations& a);
  LossSum loss(const TokenBatch& batch, Activations& a, bool gradient, double grad_scale);
  void backward(const T* params, const T* lora, const TokenBatch& batch, Activations& a, T* grad,
                T* grad_lora);

  llama::LlamaConfig config_;
  ParamLayout layout_;
  const LoraLayout* lora_;
  int threads_;
  std::vector<double> inv_freq_;
  // Activations and scratch, reused from call to call (so one graph serves
  // one thread at a time).
  std::unique_ptr<Activations> activations_;
};

extern template class LlamaGraph<float>;
extern template class LlamaGraph<double>;

}  // namespace ralm::llama_train
