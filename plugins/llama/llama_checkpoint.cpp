#include "llama_checkpoint.hpp"

#include "gguf_export.hpp"

#include <fstream>

#include "ralm/error.hpp"
#include "ralm/hf_tokenizer/hf_tokenizer.hpp"
#include "ralm/llama_format/checkpoint.hpp"
#include "ralm/llama_format/config.hpp"
#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/llama_format/weights.hpp"

namespace ralm::llama {

std::unique_ptr<LlamaModel> load_llama_model(const std::filesystem::path& dir, int threads,
                                             std::int32_t context, WeightType dtype) {
  const LlamaConfig c = read_llama_config(dir);
  auto weights = load_llama_weights(dir, c);
  auto base = make_tokenizer(dir, c.vocab_size, c.bos_token_id, c.eos_token_id);
  const auto added = read_added_tokens(dir, *base);
  const auto* hf_tokenizer = hf::as_hf_tokenizer(*base);
  const std::string tokenizer_kind = std::filesystem::exists(dir / "tokenizer.model") ? "sentencepiece"
                                     : hf_tokenizer ? "tokenizer.json, " + hf_tokenizer->kind()
                                                    : "ids only (no tokenizer.model or tokenizer.json)";
  const std::string disk_dtype = safetensors::dtype_name(
      safetensors::Checkpoint(dir)
          .get("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, "config.json")
          .dtype);
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

void save_llama_model(const LlamaModel& model, const std::filesystem::path& dir, safetensors::DType dtype,
                      bool overwrite) {
  const auto& t = model.added_tokens_tokenizer();
  save_llama_checkpoint(dir, model.config(), model.weights(), t.base(), t.added(), dtype, overwrite);
}

void LlamaModel::save(const std::filesystem::path& dir, const SaveOptions& options) {
  const auto& t = added_tokens_tokenizer();
  if (!options.merge_active_adapter && !merged_originals_.empty())
    throw InputError("llama: cannot save the base model while merged adapter '" + active_name_ +
                     "' is active; save with the adapter merged, or deactivate it");
  const LlamaWeights w = options.merge_active_adapter ? merged_weights() : weights();
  LlamaConfig c = config_;
  c.rope_pairs = RopePairs::half_split;  // weights() gives Hugging Face's layout
  if (options.format == "gguf") {
    save_gguf_model(dir, c, w, t.base(), t.added(), options.weight_type.empty() ? "f32" : options.weight_type,
                    options.overwrite, threads_);
    return;
  }
  if (!options.format.empty())
    throw InputError(dir.string() +
                     ": the llama plugin writes Hugging Face checkpoint folders and GGUF files, "
                     "not '" +
                     options.format + "'");
  if (!options.weight_type.empty() && options.weight_type != "f32")
    throw InputError(dir.string() +
                     ": a Hugging Face checkpoint is written in f32; to quantize, write a GGUF "
                     "file");
  save_llama_checkpoint(dir, c, w, t.base(), t.added(), safetensors::DType::F32, options.overwrite);
}

}  // namespace ralm::llama
