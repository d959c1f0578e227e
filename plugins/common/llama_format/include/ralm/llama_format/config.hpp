// The hyper-parameters of the Llama family the llama plugin computes (Llama,
// Qwen2, Mistral: one decoder with optional q/k/v biases and an optional
// sliding attention window), from a Hugging Face config.json or given
// explicitly (random initialisation).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace ralm::llama {

struct RopeScaling {
  // Llama 3's frequency-dependent scaling (rope_type "llama3"); factor 0: none.
  double factor = 0.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 8192;
  // GGUF's forms, which llama.cpp's converter writes: a divisor per
  // frequency (the `rope_freqs.weight` tensor: Llama 3's scaling, computed
  // ahead), and linear scaling (every frequency divided by the factor).
  std::vector<float> freq_divisors;
  double linear_factor = 0.0;
};

// Where the two dimensions each rotary angle turns sit within a head of q
// and k: Hugging Face's rotate-half pairs dimension i with i + head_dim / 2;
// GGUF files pair 2i with 2i + 1, llama.cpp's converter having reordered the
// q and k rows for GGML's rotary embedding. Attention is the same either
// way; the rows of q and k (and the keys cached) differ.
enum class RopePairs { half_split, adjacent };

// Which Hugging Face architecture a config describes; it decides the names
// config.json is written with, and which extras (biases, window) may be set.
enum class Architecture { llama, qwen2, mistral };

// "llama", "qwen2", "mistral": config.json's model_type and GGUF's
// general.architecture.
const char* architecture_name(Architecture a);

struct LlamaConfig {
  Architecture architecture = Architecture::llama;
  std::int32_t vocab_size = 0;
  std::int32_t hidden_size = 0;
  std::int32_t intermediate_size = 0;
  std::int32_t num_layers = 0;
  std::int32_t num_heads = 0;
  std::int32_t num_kv_heads = 0;
  std::int32_t head_dim = 0;
  std::int32_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  RopePairs rope_pairs = RopePairs::half_split;
  bool tie_word_embeddings = false;
  // Biases added to q, k and v after their products (Qwen2's
  // self_attn.{q,k,v}_proj.bias; o_proj has none).
  bool qkv_bias = false;
  // Sliding-window attention: a query at position p sees the keys at
  // positions p - sliding_window + 1 .. p (transformers' mask keeps
  // kv_idx > q_idx - sliding_window), in the layers `windowed_layers` marks
  // (one flag per layer). 0: every layer sees every earlier position.
  std::int32_t sliding_window = 0;
  std::vector<bool> windowed_layers;
  std::int32_t bos_token_id = 1;
  std::int32_t eos_token_id = 2;

  // Checks the shape is consistent; throws InputError naming `source`.
  void validate(const std::string& source) const;
  // The window layer l attends within, 0 for none.
  std::int32_t window(std::int32_t layer) const {
    return sliding_window > 0 && windowed_layers[static_cast<std::size_t>(layer)] ? sliding_window : 0;
  }
  std::int64_t parameter_count() const;
};

// Reads DIR/config.json (model_type llama, qwen2 or mistral). A missing
// file, an unsupported architecture, a setting the plugin does not compute
// (hidden_act, attention_bias, mlp_bias, a rope type, ...) or a missing field
// is an InputError naming the file and the field.
LlamaConfig read_llama_config(const std::filesystem::path& dir);
// Whether DIR's config.json declares a model of the family (model_type
// llama, qwen2 or mistral, or their *ForCausalLM architecture): what the
// plugin claims, before any loading.
bool is_llama_checkpoint(const std::filesystem::path& dir);

// config.json's text for `config`, as transformers writes a LlamaConfig,
// Qwen2Config or MistralConfig (read_llama_config reads it back to the same
// values). `torch_dtype` names the dtype of the tensors saved beside it.
std::string llama_config_json(const LlamaConfig& config, const std::string& torch_dtype);

// The rotary inverse frequencies, one per pair of dimensions (head_dim / 2),
// computed in double precision, with Llama 3 scaling when configured.
std::vector<double> rope_inverse_frequencies(const LlamaConfig& config);

// Rows of q or k (heads × head_dim rows, each `in` wide) reordered from one
// rotary pairing to the other: how llama.cpp's converter permutes them for a
// GGUF file, and back.
std::vector<float> reorder_rope_rows(std::span<const float> rows, std::int64_t heads, std::int64_t head_dim,
                                     std::int64_t in, RopePairs from, RopePairs to);

}  // namespace ralm::llama
