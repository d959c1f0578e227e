// The Llama architecture's hyper-parameters, from a Hugging Face config.json
// or given explicitly (random initialisation).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ralm::llama {

struct RopeScaling {
  // Llama 3's frequency-dependent scaling (rope_type "llama3"); factor 0: none.
  double factor = 0.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 8192;
};

struct LlamaConfig {
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
  bool tie_word_embeddings = false;
  std::int32_t bos_token_id = 1;
  std::int32_t eos_token_id = 2;

  // Checks the shape is consistent; throws InputError naming `source`.
  void validate(const std::string& source) const;
  std::int64_t parameter_count() const;
};

// Reads DIR/config.json. A missing file, an unsupported architecture or a
// missing field is an InputError naming the file and the field.
LlamaConfig read_llama_config(const std::filesystem::path& dir);
// Whether DIR's config.json declares a Llama model (model_type "llama" or
// architecture LlamaForCausalLM): what the plugin claims, before any loading.
bool is_llama_checkpoint(const std::filesystem::path& dir);

// config.json's text for `config`, as transformers writes a LlamaConfig
// (read_llama_config reads it back to the same values). `torch_dtype` names
// the dtype of the tensors saved beside it.
std::string llama_config_json(const LlamaConfig& config, const std::string& torch_dtype);

// The rotary inverse frequencies, one per pair of dimensions (head_dim / 2),
// computed in double precision, with Llama 3 scaling when configured.
std::vector<double> rope_inverse_frequencies(const LlamaConfig& config);

}  // namespace ralm::llama
