#include "llama_checkpoint.hpp"

#include <fstream>

#include "llama_config.hpp"
#include "llama_weights.hpp"
#include "ralm/error.hpp"
#include "ralm/staging_directory.hpp"
#include "tokenizers.hpp"

namespace ralm::llama {

std::unique_ptr<LlamaModel> load_llama_model(const std::filesystem::path& dir, int threads,
                                             std::int32_t context, WeightType dtype) {
  const LlamaConfig c = read_llama_config(dir);
  auto weights = load_llama_weights(dir, c);
  auto base = make_tokenizer(dir, c.vocab_size, c.bos_token_id, c.eos_token_id);
  const auto added = read_added_tokens(dir, *base);
  const std::string tokenizer_kind =
      std::filesystem::exists(dir / "tokenizer.model") ? "sentencepiece" : "ids only (no tokenizer.model)";
  const std::string disk_dtype =
      dtype_name(Checkpoint(dir).get("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}).dtype);
  auto model = std::make_unique<LlamaModel>(c, std::move(weights), std::move(base), threads, context, dtype);
  model->add_detail("checkpoint", dir.string());
  model->add_detail("weights on disk", disk_dtype);
  model->add_detail("tokenizer", tokenizer_kind);
  for (const auto& a : added) {
    if (a.id >= c.vocab_size) {
      throw InputError((dir / "tokenizer_config.json").string() + ": added token " + a.content + " has id " +
                       std::to_string(a.id) + " but config.json's vocab_size is " +
                       std::to_string(c.vocab_size) + "; the embeddings have no row for it");
    }
    model->register_added_token(a);
  }
  return model;
}

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
  write_safetensors(out.path() / "model.safetensors", llama_tensors(c, weights, dtype));
  const std::string torch_dtype = dtype == DType::BF16  ? "bfloat16"
                                  : dtype == DType::F16 ? "float16"
                                                        : "float32";
  write_file_atomically(out.path() / "config.json",
                        [&](std::ostream& o) { o << llama_config_json(c, torch_dtype); });
  write_tokenizer_files(out.path(), tokenizer, added);
  out.commit();
}

void save_llama_model(const LlamaModel& model, const std::filesystem::path& dir, DType dtype,
                      bool overwrite) {
  const auto& t = model.added_tokens_tokenizer();
  save_llama_checkpoint(dir, model.config(), model.weights(), t.base(), t.added(), dtype, overwrite);
}

void LlamaModel::save(const std::filesystem::path& dir, const SaveOptions& options) {
  const auto& t = added_tokens_tokenizer();
  if (!options.merge_active_adapter && !merged_originals_.empty())
    throw InputError("llama: cannot save the base model while merged adapter '" + active_name_ +
                     "' is active; save with the adapter merged, or deactivate it");
  save_llama_checkpoint(dir, config_, options.merge_active_adapter ? merged_weights() : weights(), t.base(),
                        t.added(), DType::F32, options.overwrite);
}

}  // namespace ralm::llama
