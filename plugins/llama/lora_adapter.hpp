// LoRA adapters in Hugging Face PEFT's format, read and written.
//
// A PEFT adapter folder holds adapter_config.json (peft_type "LORA", r,
// lora_alpha, target_modules, use_rslora, modules_to_save,
// trainable_token_indices, ...) and adapter_model.safetensors, whose keys
// are exactly PEFT's (the adapter name "default" is not in them):
//   base_model.model.model.layers.{L}.self_attn.{q,k,v,o}_proj.lora_A.weight   r × in
//   base_model.model.model.layers.{L}.self_attn.{q,k,v,o}_proj.lora_B.weight   out × r
//   base_model.model.model.layers.{L}.mlp.{gate,up,down}_proj.lora_{A,B}.weight
//   base_model.model.model.embed_tokens.weight        modules_to_save (or PEFT's save_embedding_layers):
//   vocab × hidden base_model.model.lm_head.weight                   modules_to_save: the whole vocab ×
//   hidden base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta   trainable tokens:
//   base_model.model.lm_head.token_adapter.trainable_tokens_delta              ids × hidden rows
// A layer's weight becomes W + scale · B·A with scale = lora_alpha / r
// (lora_alpha / sqrt(r) with use_rslora). Trainable tokens replace the rows
// of the listed ids (PEFT's index_copy; despite its name the "delta" holds
// the rows' new values); with tied embeddings the embedding's rows serve the
// output too, as in PEFT.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ralm/llama_format/config.hpp"
#include "ralm/types.hpp"

namespace ralm::llama {

enum class LoraTarget { q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj };
inline constexpr LoraTarget kLoraTargets[] = {
    LoraTarget::q_proj,    LoraTarget::k_proj,  LoraTarget::v_proj,   LoraTarget::o_proj,
    LoraTarget::gate_proj, LoraTarget::up_proj, LoraTarget::down_proj};

const char* lora_target_name(LoraTarget target);
std::optional<LoraTarget> lora_target_from_name(std::string_view name);
// (out, in) of the target's weight in a model of `config`.
std::pair<std::int64_t, std::int64_t> lora_target_shape(const LlamaConfig& config, LoraTarget target);
// PEFT's key of layer `layer`'s A (or B) factor for `target`.
std::string peft_lora_key(std::int32_t layer, LoraTarget target, bool b);

// One layer's factors for one target: A is r × in, B is out × r, row-major.
struct LoraFactors {
  std::int32_t layer = 0;
  LoraTarget target = LoraTarget::q_proj;
  std::vector<float> a, b;
};

// Rows of a vocabulary matrix replaced by the adapter: rows is ids × hidden.
struct TokenRows {
  std::vector<TokenId> ids;
  std::vector<float> rows;
  bool empty() const { return ids.empty(); }
};

struct LoraAdapter {
  std::int32_t r = 0;
  double lora_alpha = 0;
  bool use_rslora = false;
  std::vector<LoraTarget> target_modules;
  std::vector<LoraFactors> factors;
  // modules_to_save (every id) or trainable tokens (some ids).
  TokenRows embed_tokens, lm_head;
  bool embed_tokens_whole = false, lm_head_whole = false;  // from modules_to_save
  std::string base_model_name_or_path;

  double scale() const;
};

// Reads and checks a PEFT adapter folder against `config`: a missing file, a
// field this plugin does not support, an unknown module or tensor, a rank or
// shape that disagrees with the config, or an A without its B is a one-line
// InputError naming the file and the field or tensor.
LoraAdapter read_peft_adapter(const std::filesystem::path& dir, const LlamaConfig& config);

// Writes `adapter` as a PEFT folder (adapter_config.json and
// adapter_model.safetensors, float32 tensors) that PeftModel.from_pretrained
// and read_peft_adapter load. The folder appears complete or not at all; an
// existing one is an InputError unless `overwrite`.
void write_peft_adapter(const std::filesystem::path& dir, const LoraAdapter& adapter,
                        const LlamaConfig& config, bool overwrite = false);

}  // namespace ralm::llama
