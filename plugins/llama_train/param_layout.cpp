#include "param_layout.hpp"

#include <algorithm>

namespace ralm::llama_train {

ParamLayout::ParamLayout(const llama::LlamaConfig& c) : config_(c) {
  const std::int64_t h = c.hidden_size, q = std::int64_t{c.num_heads} * c.head_dim,
                     kv = std::int64_t{c.num_kv_heads} * c.head_dim, ff = c.intermediate_size,
                     v = c.vocab_size;
  embed_ = add("model.embed_tokens.weight", {v, h}, true);
  for (std::int32_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerOffsets o{};
    o.attn_norm = add(p + "input_layernorm.weight", {h}, false);
    o.wq = add(p + "self_attn.q_proj.weight", {q, h}, true);
    o.wk = add(p + "self_attn.k_proj.weight", {kv, h}, true);
    o.wv = add(p + "self_attn.v_proj.weight", {kv, h}, true);
    o.wo = add(p + "self_attn.o_proj.weight", {h, q}, true);
    o.ffn_norm = add(p + "post_attention_layernorm.weight", {h}, false);
    o.w_gate = add(p + "mlp.gate_proj.weight", {ff, h}, true);
    o.w_up = add(p + "mlp.up_proj.weight", {ff, h}, true);
    o.w_down = add(p + "mlp.down_proj.weight", {h, ff}, true);
    layers_.push_back(o);
  }
  final_norm_ = add("model.norm.weight", {h}, false);
  lm_head_ = c.tie_word_embeddings ? embed_ : add("lm_head.weight", {v, h}, true);
}

std::size_t ParamLayout::add(std::string name, std::vector<std::int64_t> shape, bool decay) {
  ParamTensor t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.size = 1;
  for (auto d : t.shape)
    t.size *= static_cast<std::size_t>(d);
  t.offset = total_;
  t.decay = decay;
  total_ += t.size;
  tensors_.push_back(std::move(t));
  return tensors_.back().offset;
}

const ParamTensor* ParamLayout::find(const std::string& name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<float> ParamLayout::flatten(const llama::LlamaWeights& w) const {
  std::vector<float> flat(total_);
  auto put = [&](std::size_t offset, const std::vector<float>& v) {
    std::copy(v.begin(), v.end(), flat.begin() + static_cast<std::ptrdiff_t>(offset));
  };
  put(embed_, w.embed);
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const auto& o = layers_[l];
    const auto& lw = w.layers[l];
    put(o.attn_norm, lw.attn_norm);
    put(o.wq, lw.wq);
    put(o.wk, lw.wk);
    put(o.wv, lw.wv);
    put(o.wo, lw.wo);
    put(o.ffn_norm, lw.ffn_norm);
    put(o.w_gate, lw.w_gate);
    put(o.w_up, lw.w_up);
    put(o.w_down, lw.w_down);
  }
  put(final_norm_, w.final_norm);
  if (!config_.tie_word_embeddings) put(lm_head_, w.lm_head);
  return flat;
}

llama::LlamaWeights ParamLayout::unflatten(const float* flat) const {
  auto get = [&](std::size_t offset) {
    for (const auto& t : tensors_) {
      if (t.offset == offset) return std::vector<float>(flat + offset, flat + offset + t.size);
    }
    return std::vector<float>();
  };
  llama::LlamaWeights w;
  w.embed = get(embed_);
  for (const auto& o : layers_) {
    llama::LayerWeights lw;
    lw.attn_norm = get(o.attn_norm);
    lw.wq = get(o.wq);
    lw.wk = get(o.wk);
    lw.wv = get(o.wv);
    lw.wo = get(o.wo);
    lw.ffn_norm = get(o.ffn_norm);
    lw.w_gate = get(o.w_gate);
    lw.w_up = get(o.w_up);
    lw.w_down = get(o.w_down);
    w.layers.push_back(std::move(lw));
  }
  w.final_norm = get(final_norm_);
  if (!config_.tie_word_embeddings) w.lm_head = get(lm_head_);
  return w;
}

}  // namespace ralm::llama_train
