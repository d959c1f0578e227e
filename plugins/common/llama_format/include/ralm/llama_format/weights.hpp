// The weights of a Llama model in memory, in float32, loaded from a
// checkpoint or initialised at random.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "ralm/llama_format/config.hpp"

namespace ralm::llama {

struct LayerWeights {
  std::vector<float> attn_norm;       // hidden
  std::vector<float> wq, wk, wv, wo;  // out × in, as Hugging Face stores them
  std::vector<float> bq, bk, bv;      // q, k, v biases (config.qkv_bias); empty without
  std::vector<float> ffn_norm;        // hidden
  std::vector<float> w_gate, w_up, w_down;
};

struct LlamaWeights {
  std::vector<float> embed;  // vocab × hidden
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // hidden
  std::vector<float> lm_head;     // vocab × hidden; empty when tied to `embed`

  const std::vector<float>& output_matrix() const { return lm_head.empty() ? embed : lm_head; }
};

// Reads every tensor config.json implies from the checkpoint in `dir`,
// checking each shape.
LlamaWeights load_llama_weights(const std::filesystem::path& dir, const LlamaConfig& config);

// Normal(0, std) weights (and biases) and norms of 1, from a seeded generator: the same
// seed gives the same model on every machine.
LlamaWeights random_llama_weights(const LlamaConfig& config, std::uint64_t seed, double std = 0.02);

}  // namespace ralm::llama
