// Model shapes the benchmarks measure and random weights for them: the
// shipped model's, a small one, and TinyLlama-1.1B's (Llama 2's vocabulary,
// grouped-query attention with 4 KV heads).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ralm/llama_format/config.hpp"
#include "ralm/llama_format/weights.hpp"

namespace ralm::bench {

using llama::LayerWeights;
using llama::LlamaConfig;
using llama::LlamaWeights;

// Uniform values in [-scale, scale] from a xorshift generator.
inline std::vector<float> random_floats(std::int64_t n, std::uint64_t& state, float scale) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    x = scale * (static_cast<float>(state >> 40) * 0x1.0p-24f * 2.0f - 1.0f);
  }
  return v;
}

struct ModelShape {
  std::string name;
  LlamaConfig config;
};

inline ModelShape shape_named(const std::string& name) {
  LlamaConfig c;
  if (name == "tiny") {
    // The smallest model the project ships (the small shape), read
    // from its config; positions up to the longest context measured.
    c = ralm::llama::read_llama_config(RALM_SHIPPED_MODEL_DIR);
    c.max_position_embeddings = std::max(c.max_position_embeddings, 8192);
    return {name, c};
  }
  c.vocab_size = 32000;
  c.max_position_embeddings = 8192;
  if (name == "tinyllama") {
    c.hidden_size = 2048;
    c.intermediate_size = 5632;
    c.num_layers = 22;
    c.num_heads = 32;
    c.num_kv_heads = 4;
  } else if (name == "small") {
    c.hidden_size = 512;
    c.intermediate_size = 1408;
    c.num_layers = 8;
    c.num_heads = 8;
    c.num_kv_heads = 4;
  } else {
    std::fprintf(stderr, "unknown shape %s (tiny, small, tinyllama)\n", name.c_str());
    std::exit(2);
  }
  c.head_dim = c.hidden_size / c.num_heads;
  return {name, c};
}

inline  // Uniform weights: values do not change the time, and random_llama_weights'
        // Box-Muller would take a minute for 1.1B parameters.
    LlamaWeights
    fast_random_weights(const LlamaConfig& c) {
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  const std::int64_t h = c.hidden_size, q = std::int64_t{c.num_heads} * c.head_dim,
                     kv = std::int64_t{c.num_kv_heads} * c.head_dim, ff = c.intermediate_size,
                     v = c.vocab_size;
  const float s = 0.03f;
  LlamaWeights w;
  w.embed = random_floats(v * h, state, s);
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights lw;
    lw.attn_norm.assign(static_cast<std::size_t>(h), 1.0f);
    lw.ffn_norm.assign(static_cast<std::size_t>(h), 1.0f);
    lw.wq = random_floats(q * h, state, s);
    lw.wk = random_floats(kv * h, state, s);
    lw.wv = random_floats(kv * h, state, s);
    lw.wo = random_floats(h * q, state, s);
    lw.w_gate = random_floats(ff * h, state, s);
    lw.w_up = random_floats(ff * h, state, s);
    lw.w_down = random_floats(h * ff, state, s);
    w.layers.push_back(std::move(lw));
  }
  w.final_norm.assign(static_cast<std::size_t>(h), 1.0f);
  if (!c.tie_word_embeddings) w.lm_head = random_floats(v * h, state, s);
  return w;
}

}  // namespace ralm::bench
