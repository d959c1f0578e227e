// The Llama architecture as Hugging Face's LlamaForCausalLM computes it, and
// its relatives Qwen2ForCausalLM (biases on q, k and v) and
// MistralForCausalLM (sliding-window attention), on sequences that own their
// KV cache.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "kv_buffer_pool.hpp"
#include "lora_adapter.hpp"
#include "lora_delta.hpp"
#include "ralm/llama_format/added_tokens.hpp"
#include "ralm/llama_format/config.hpp"
#include "ralm/llama_format/weights.hpp"
#include "ralm/model.hpp"
#include "shared_kernels.hpp"
#include "weight_matrix.hpp"

namespace ralm::llama {

class LlamaSequence final : public Sequence {
 public:
  // Keys and values stored as `kv_type`, in buffers from `pool` (sized for
  // config, context and kv_type), returned to it when the sequence goes.
  LlamaSequence(const LlamaConfig& config, std::int32_t context, KvCacheType kv_type,
                std::shared_ptr<KvBufferPool> pool);
  ~LlamaSequence() override;
  LlamaSequence(const LlamaSequence&) = delete;
  LlamaSequence& operator=(const LlamaSequence&) = delete;

  std::int32_t length() const override { return static_cast<std::int32_t>(tokens_.size()); }
  const Tokens& tokens() const override { return tokens_; }
  void truncate(std::int32_t n) override;
  std::unique_ptr<Sequence> clone() const override;

  // Layer l's keys (or values): kv_heads × context × head_dim elements, floats
  // or bf16 as kv_cache_type() says, so that one head's keys are one
  // sequential read. layer_bytes() long.
  std::byte* keys(std::int32_t layer) { return k_.get() + static_cast<std::size_t>(layer) * layer_bytes_; }
  std::byte* values(std::int32_t layer) { return v_.get() + static_cast<std::size_t>(layer) * layer_bytes_; }
  std::size_t layer_bytes() const { return layer_bytes_; }
  KvCacheType kv_cache_type() const { return kv_type_; }
  Tokens& mutable_tokens() { return tokens_; }
  std::int32_t context() const { return context_; }

 private:
  // clone(): the tokens and shape of `other`, fresh buffers from `pool`.
  LlamaSequence(const LlamaSequence& other, std::shared_ptr<KvBufferPool> pool);

  std::int32_t context_;
  std::int32_t head_dim_;
  KvCacheType kv_type_;
  std::size_t layer_bytes_;
  Tokens tokens_;
  std::shared_ptr<KvBufferPool> pool_;
  KvBufferPool::Buffer k_, v_;  // layers × kv_heads × context × head_dim, preallocated
};

// A layer's weights as the kernels take them.
struct LayerMatrices {
  std::vector<float> attn_norm, ffn_norm;
  WeightMatrix qkv;             // q, k and v stacked: one pass over the normed input
  std::vector<float> qkv_bias;  // q, k and v biases stacked as qkv's rows; empty without
  WeightMatrix wo;
  WeightMatrix gate_up;  // gate and up stacked
  WeightMatrix down;
};

// A whole model's weights as the kernels take them, from a loader: packed
// from float32 weights (pack_weights) or taken from a GGUF file, whose
// quantized tensors stay where they lie in the mapping that `storage` keeps
// alive.
struct ModelMatrices {
  WeightMatrix embed;  // vocab × hidden; a token's row is looked up
  std::vector<LayerMatrices> layers;
  std::vector<float> final_norm;
  WeightMatrix output;  // vocab × hidden
  std::shared_ptr<const void> storage;
};

// `weights` packed in `dtype` (bf16: rounded to nearest even; the norms stay
// f32), consumed as they are packed so that loading peaks near one copy.
ModelMatrices pack_weights(const LlamaConfig& config, LlamaWeights weights, WeightType dtype);

class LlamaModel final : public Model {
 public:
  // `context` <= 0: the config's max_position_embeddings. The weights are
  // packed for the kernels in `dtype` (bf16: rounded to nearest even; the
  // norms stay f32) and `weights` is consumed as they are.
  LlamaModel(LlamaConfig config, LlamaWeights weights, std::unique_ptr<Tokenizer> tokenizer, int threads,
             std::int32_t context = 0, WeightType dtype = WeightType::f32);
  // From matrices a loader built. `dtype` is the float type of the matrices
  // the model builds itself (merged adapters, grown vocabularies).
  LlamaModel(LlamaConfig config, ModelMatrices matrices, std::unique_ptr<Tokenizer> tokenizer, int threads,
             std::int32_t context, WeightType dtype);

  const Tokenizer& tokenizer() const override { return *tokenizer_; }
  const AddedTokensTokenizer& added_tokens_tokenizer() const { return *tokenizer_; }
  ModelInfo info() const override;
  std::unique_ptr<Sequence> new_sequence() override;
  EvalResult eval(Sequence& seq, std::span<const TokenId> tokens, const EvalOptions& options) override;
  // All the sequences' new tokens in one pass: each weight is read once for
  // the batch, and each sequence gets the bits eval() alone gives it.
  std::vector<EvalResult> eval_batch(std::span<Sequence* const> seqs,
                                     std::span<const std::span<const TokenId>> tokens,
                                     const EvalOptions& options) override;

  // A new vocabulary entry with id vocab_size (Hugging Face's next id). Its
  // embedding row is the mean of the existing rows, and so is its output row
  // (tied: the same row): the new token starts out as an "average" token, as
  // transformers' resize_token_embeddings(mean_resizing=True) centres it,
  // without the sampled noise. The embedding and output matrix are repacked.
  // A name the tokenizer already has returns its id.
  TokenId add_special_token(std::string_view name) override;
  // Names an id whose rows the weights already have (a reloaded checkpoint's
  // added token); the id must be below vocab_size.
  void register_added_token(const AddedToken& token);

  // The weights as float32 (bf16 weights give their rounded values), as a
  // checkpoint stores them: the base model, without any adapter (an Error
  // while a merged adapter is active).
  LlamaWeights weights() const;
  // The weights with the active adapter folded in, merged or not (its
  // targeted matrices as W + scale · B·A summed in double, its embedding and
  // output rows in place): what a standalone checkpoint of the model as it
  // now computes holds. With no active adapter: weights().
  LlamaWeights merged_weights() const;

  // Writes a Hugging Face checkpoint (float32 tensors): save_llama_model, or
  // with options.merge_active_adapter the merged weights.
  void save(const std::filesystem::path& dir, const SaveOptions& options) override;

  // A line for info().details that only the loader knows (the checkpoint
  // folder, the dtype on disk, the tokenizer's kind).
  void add_detail(std::string key, std::string value);

  // LoRA (lora_adapter.hpp). Several adapters are loaded, at most one is
  // active. Unmerged (the default), the active adapter adds scale · B·(A·x)
  // after each targeted product, in float32 whatever the weights' dtype;
  // merged, activating it rebuilds the targeted packed matrices as
  // W + scale · B·A (summed in double, rounded once, then to bf16 for bf16
  // weights) and keeps the originals aside, so switching restores them
  // exactly; it costs one more copy of the targeted matrices. Embedding and
  // output rows an adapter carries (modules_to_save, trainable tokens)
  // replace the model's while it is active, in both modes. Sequences
  // evaluated under one adapter keep that adapter's keys and values.
  void load_adapter(const std::string& name, const std::filesystem::path& dir) override;
  void load_adapter(const std::string& name, LoraAdapter adapter);
  void set_active_adapter(const std::string& name) override;
  const std::string& active_adapter() const { return active_name_; }
  std::vector<std::string> adapter_names() const;
  void set_merge_adapters(bool merge);
  bool merge_adapters() const { return merge_; }

  const LlamaConfig& config() const { return config_; }
  WeightType weight_type() const { return dtype_; }
  // How new sequences store keys and values (f32 unless set). A sequence
  // keeps the type it was made with, so one made before a change still
  // evaluates, over its own cache.
  KvCacheType kv_cache_type() const { return kv_type_; }
  void set_kv_cache_type(KvCacheType type);
  // The kernels start as default_kernel_set(); tests and benchmarks switch
  // them (the packed weights serve both sets). Throws when unsupported.
  KernelSet kernel_set() const { return kernels_; }
  void set_kernel_set(KernelSet set);
  // Bytes of weights in memory, and those one decoded token reads (every
  // matrix but the embedding table, of which it reads one row).
  // weight_types() lists the matrices' storage types, e.g. "q4_K, q6_K".
  std::size_t weight_bytes() const;
  std::string weight_types() const;
  std::size_t streamed_weight_bytes() const;

 private:
  using Layer = LayerMatrices;

  struct LayerLora {
    LoraDelta qkv, wo, gate_up, down;
  };
  struct LoadedAdapter {
    std::vector<LayerLora> layers;
    std::unordered_map<TokenId, std::vector<float>> embed_rows;
    std::optional<WeightMatrix> output;  // the output matrix with the adapter's rows
    bool carries_vocabulary = false;
  };
  // A merged adapter's targeted matrices: the originals, moved aside.
  struct SavedMatrix {
    std::size_t layer;
    WeightMatrix Layer::*matrix;
    WeightMatrix original;
  };

  void embed(TokenId token, float* out) const;
  // The packed weights as float32; with `fold_unmerged`, the active
  // unmerged adapter's low-rank updates added to its targeted matrices.
  LlamaWeights unpacked_weights(bool fold_unmerged) const;
  // Position p's rotary cosines then sines (head_dim / 2 each), from the
  // table when p is in it, else computed into `scratch`.
  const float* rope_angles(std::int64_t position, float* scratch) const;
  void rope_angles_into(std::int64_t position, float* out) const;
  void activate(const std::string& name);
  void deactivate();
  const WeightMatrix& output() const { return active_ && active_->output ? *active_->output : output_; }
  // The active adapter's unmerged deltas for layer l, or null.
  const LayerLora* unmerged(std::int32_t layer) const;

  LlamaConfig config_;
  std::vector<Layer> layers_;
  WeightMatrix embed_;
  std::vector<float> final_norm_;
  WeightMatrix output_;
  std::shared_ptr<const void> storage_;
  std::unique_ptr<AddedTokensTokenizer> tokenizer_;
  int threads_;
  std::int32_t context_;
  KvCacheType kv_type_ = KvCacheType::f32;
  std::shared_ptr<KvBufferPool> kv_pool_;  // the sequences' caches, reused
  WeightType dtype_;
  KernelSet kernels_;
  std::vector<double> inv_freq_;
  std::vector<float> rope_table_;  // positions × (cosines, sines)
  std::map<std::string, LoadedAdapter> adapters_;
  const LoadedAdapter* active_ = nullptr;
  std::string active_name_;
  bool merge_ = false;
  std::vector<SavedMatrix> merged_originals_;
  std::vector<std::pair<std::string, std::string>> loader_details_;
};

}  // namespace ralm::llama
