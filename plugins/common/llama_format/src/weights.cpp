#include "ralm/llama_format/weights.hpp"

#include <cmath>
#include <random>
#include <string>

#include "ralm/safetensors.hpp"

namespace ralm::llama {

LlamaWeights load_llama_weights(const std::filesystem::path& dir, const LlamaConfig& c) {
  const safetensors::Checkpoint ckpt(dir);
  const std::int64_t h = c.hidden_size, q = std::int64_t{c.num_heads} * c.head_dim,
                     kv = std::int64_t{c.num_kv_heads} * c.head_dim, ff = c.intermediate_size,
                     v = c.vocab_size;
  auto get = [&](const std::string& name, std::vector<std::int64_t> shape) {
    return ckpt.get(name, shape, "config.json").to_f32();
  };
  LlamaWeights w;
  w.embed = get("model.embed_tokens.weight", {v, h});
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.attn_norm = get(p + "input_layernorm.weight", {h});
    lw.wq = get(p + "self_attn.q_proj.weight", {q, h});
    lw.wk = get(p + "self_attn.k_proj.weight", {kv, h});
    lw.wv = get(p + "self_attn.v_proj.weight", {kv, h});
    if (c.qkv_bias) {
      lw.bq = get(p + "self_attn.q_proj.bias", {q});
      lw.bk = get(p + "self_attn.k_proj.bias", {kv});
      lw.bv = get(p + "self_attn.v_proj.bias", {kv});
    }
    lw.wo = get(p + "self_attn.o_proj.weight", {h, q});
    lw.ffn_norm = get(p + "post_attention_layernorm.weight", {h});
    lw.w_gate = get(p + "mlp.gate_proj.weight", {ff, h});
    lw.w_up = get(p + "mlp.up_proj.weight", {ff, h});
    lw.w_down = get(p + "mlp.down_proj.weight", {h, ff});
    w.layers.push_back(std::move(lw));
  }
  w.final_norm = get("model.norm.weight", {h});
  // Tied checkpoints have no lm_head.weight (transformers drops it on save).
  if (!c.tie_word_embeddings) w.lm_head = get("lm_head.weight", {v, h});
  return w;
}

LlamaWeights random_llama_weights(const LlamaConfig& c, std::uint64_t seed, double std) {
  std::mt19937_64 rng(seed);
  // Box-Muller on the raw generator: std::normal_distribution's algorithm is
  // not fixed by the standard, and a seed must mean the same model everywhere.
  auto uniform = [&] { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53; };
  auto normal = [&](std::int64_t n) {
    std::vector<float> out(static_cast<std::size_t>(n));
    for (auto& x : out) {
      x = static_cast<float>(std * std::sqrt(-2.0 * std::log(uniform())) * std::cos(2 * M_PI * uniform()));
    }
    return out;
  };
  auto ones = [](std::int64_t n) { return std::vector<float>(static_cast<std::size_t>(n), 1.0f); };
  const std::int64_t h = c.hidden_size, q = std::int64_t{c.num_heads} * c.head_dim,
                     kv = std::int64_t{c.num_kv_heads} * c.head_dim, ff = c.intermediate_size,
                     v = c.vocab_size;
  LlamaWeights w;
  w.embed = normal(v * h);
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights lw;
    lw.attn_norm = ones(h);
    lw.wq = normal(q * h);
    lw.wk = normal(kv * h);
    lw.wv = normal(kv * h);
    if (c.qkv_bias) {
      lw.bq = normal(q);
      lw.bk = normal(kv);
      lw.bv = normal(kv);
    }
    lw.wo = normal(h * q);
    lw.ffn_norm = ones(h);
    lw.w_gate = normal(ff * h);
    lw.w_up = normal(ff * h);
    lw.w_down = normal(h * ff);
    w.layers.push_back(std::move(lw));
  }
  w.final_norm = ones(h);
  if (!c.tie_word_embeddings) w.lm_head = normal(v * h);
  return w;
}

}  // namespace ralm::llama
