// Whole Llama models in and out of Hugging Face checkpoint folders: the
// model the plugin loads from one, and the model it saves (the folder's
// format itself is ralm/llama_format/checkpoint.hpp's).
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "llama_model.hpp"
#include "ralm/safetensors.hpp"

namespace ralm::llama {

// config.json, the safetensors weights, tokenizer.model (if any) and the
// added tokens (ralm/llama_format/added_tokens.hpp) from `dir`.
std::unique_ptr<LlamaModel> load_llama_model(const std::filesystem::path& dir, int threads,
                                             std::int32_t context = 0, WeightType dtype = WeightType::f32);

// Writes `model` as a Hugging Face checkpoint folder (save_llama_checkpoint):
// config.json with the grown vocab_size, embeddings resized for added
// tokens. Adapters are not merged in: save them with write_peft_adapter.
void save_llama_model(const LlamaModel& model, const std::filesystem::path& dir,
                      safetensors::DType dtype = safetensors::DType::F32, bool overwrite = false);

}  // namespace ralm::llama
