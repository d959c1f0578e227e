// Whole Llama models in and out of Hugging Face checkpoint folders: what the
// plugin loads, and what a trainer saves (weights, config, tokenizer and
// added tokens) so that transformers' from_pretrained and this plugin both
// read it back.
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "llama_model.hpp"
#include "safetensors.hpp"

namespace ralm::llama {

// config.json, the safetensors weights, tokenizer.model (if any) and the
// added tokens (added_tokens.hpp) from `dir`.
std::unique_ptr<LlamaModel> load_llama_model(const std::filesystem::path& dir, int threads,
                                             std::int32_t context = 0, WeightType dtype = WeightType::f32);

// The tensors of `w` under Hugging Face's names (model.embed_tokens.weight,
// model.layers.N.self_attn.q_proj.weight, ..., lm_head.weight unless tied),
// stored as `dtype`.
std::vector<TensorToWrite> llama_tensors(const LlamaConfig& config, const LlamaWeights& w, DType dtype);

// Writes `model` as a Hugging Face checkpoint folder: config.json (with the
// grown vocab_size), model.safetensors (tensors in `dtype`, embeddings
// resized for added tokens), tokenizer_config.json, added_tokens.json,
// special_tokens_map.json and, for SentencePiece, tokenizer.model. The folder
// appears complete or not at all (StagingDirectory); an existing one is an
// InputError unless `overwrite`. Adapters are not merged in: save them with
// write_peft_adapter.
void save_llama_model(const LlamaModel& model, const std::filesystem::path& dir, DType dtype = DType::F32,
                      bool overwrite = false);

// The same from parts, for code that holds its own weights (a trainer):
// `weights` in Hugging Face's layout for `config` (vocab_size counting the
// added tokens), `tokenizer` without the added tokens (SentencePiece: its
// tokenizer.model is written too), `added` with ids below vocab_size.
void save_llama_checkpoint(const std::filesystem::path& dir, const LlamaConfig& config,
                           const LlamaWeights& weights, const Tokenizer& tokenizer,
                           const std::vector<AddedToken>& added, DType dtype = DType::F32,
                           bool overwrite = false);

}  // namespace ralm::llama
