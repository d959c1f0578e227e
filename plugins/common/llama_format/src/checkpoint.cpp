#include "ralm/llama_format/checkpoint.hpp"

#include <fstream>

#include "ralm/error.hpp"
#include "ralm/staging_directory.hpp"

namespace ralm::llama {

using safetensors::DType;
using safetensors::TensorToWrite;

std::vector<TensorToWrite> llama_tensors(const LlamaConfig& c, const LlamaWeights& w, DType dtype) {
  std::vector<TensorToWrite> t;
  const std::int64_t h = c.hidden_size, q = std::int64_t{c.num_heads} * c.head_dim,
                     kv = std::int64_t{c.num_kv_heads} * c.head_dim, ff = c.intermediate_size,
                     v = c.vocab_size;
  t.push_back({"model.embed_tokens.weight", dtype, {v, h}, w.embed});
  for (int l = 0; l < c.num_layers; ++l) {
    const auto& L = w.layers[static_cast<std::size_t>(l)];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.push_back({p + "input_layernorm.weight", dtype, {h}, L.attn_norm});
    t.push_back({p + "self_attn.q_proj.weight", dtype, {q, h}, L.wq});
    t.push_back({p + "self_attn.k_proj.weight", dtype, {kv, h}, L.wk});
    t.push_back({p + "self_attn.v_proj.weight", dtype, {kv, h}, L.wv});
    if (c.qkv_bias) {
      t.push_back({p + "self_attn.q_proj.bias", dtype, {q}, L.bq});
      t.push_back({p + "self_attn.k_proj.bias", dtype, {kv}, L.bk});
      t.push_back({p + "self_attn.v_proj.bias", dtype, {kv}, L.bv});
    }
    t.push_back({p + "self_attn.o_proj.weight", dtype, {h, q}, L.wo});
    t.push_back({p + "post_attention_layernorm.weight", dtype, {h}, L.ffn_norm});
    t.push_back({p + "mlp.gate_proj.weight", dtype, {ff, h}, L.w_gate});
    t.push_back({p + "mlp.up_proj.weight", dtype, {ff, h}, L.w_up});
    t.push_back({p + "mlp.down_proj.weight", dtype, {h, ff}, L.w_down});
  }
  t.push_back({"model.norm.weight", dtype, {h}, w.final_norm});
  if (!c.tie_word_embeddings) t.push_back({"lm_head.weight", dtype, {v, h}, w.lm_head});
  return t;
}

void save_llama_checkpoint(const std::filesystem::path& dir, const LlamaConfig& c,
                           const LlamaWeights& weights, const Tokenizer& tokenizer,
                           const std::vector<AddedToken>& added, DType dtype, bool overwrite) {
  for (const auto& a : added) {
    if (a.id < 0 || a.id >= c.vocab_size)
      throw Error("save_llama_checkpoint: added token " + a.content + " has id " + std::to_string(a.id) +
                  " outside vocab_size " + std::to_string(c.vocab_size));
  }
  StagingDirectory out(dir, overwrite);
  safetensors::write_file(out.path() / "model.safetensors", llama_tensors(c, weights, dtype));
  const std::string torch_dtype = dtype == DType::BF16  ? "bfloat16"
                                  : dtype == DType::F16 ? "float16"
                                                        : "float32";
  write_file_atomically(out.path() / "config.json",
                        [&](std::ostream& o) { o << llama_config_json(c, torch_dtype); });
  write_tokenizer_files(out.path(), tokenizer, added);
  out.commit();
}

}  // namespace ralm::llama
