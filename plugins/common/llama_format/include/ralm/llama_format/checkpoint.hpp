// Writing a Llama model as a Hugging Face checkpoint folder, from its parts:
// what the llama plugin saves and what any code holding its own weights (a
// trainer) saves, so that transformers' from_pretrained and the llama plugin
// both read it back.
#pragma once

#include <filesystem>
#include <vector>

#include "ralm/llama_format/added_tokens.hpp"
#include "ralm/llama_format/config.hpp"
#include "ralm/llama_format/weights.hpp"
#include "ralm/model.hpp"
#include "ralm/safetensors.hpp"

namespace ralm::llama {

// The tensors of `w` under Hugging Face's names (model.embed_tokens.weight,
// model.layers.N.self_attn.q_proj.weight, ..., lm_head.weight unless tied),
// stored as `dtype`.
std::vector<safetensors::TensorToWrite> llama_tensors(const LlamaConfig& config, const LlamaWeights& w,
                                                      safetensors::DType dtype);

// Writes a checkpoint folder: config.json, model.safetensors (tensors in
// `dtype`), tokenizer_config.json, added_tokens.json,
// special_tokens_map.json and, for SentencePiece, tokenizer.model.
// `weights` are in Hugging Face's layout for `config` (vocab_size counting
// the added tokens), `tokenizer` is the one without the added tokens,
// `added` have ids below vocab_size. The folder appears complete or not at
// all (StagingDirectory); an existing one is an InputError unless
// `overwrite`.
void save_llama_checkpoint(const std::filesystem::path& dir, const LlamaConfig& config,
                           const LlamaWeights& weights, const Tokenizer& tokenizer,
                           const std::vector<AddedToken>& added,
                           safetensors::DType dtype = safetensors::DType::F32, bool overwrite = false);

}  // namespace ralm::llama
