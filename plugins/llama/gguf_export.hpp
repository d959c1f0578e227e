// Writing a Llama model as a GGUF file that llama.cpp loads: the `llama`
// architecture's metadata, the SentencePiece vocabulary when the model has
// one, q's and k's rows in GGUF's rotary order, and every matrix in the
// chosen type, with llama.cpp's mix for q4_k_m.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ralm/llama_format/added_tokens.hpp"
#include "ralm/llama_format/config.hpp"
#include "ralm/llama_format/weights.hpp"
#include "ralm/model.hpp"

namespace ralm::llama {

// The file types `ralm model quantize` and `convert` write, by the names
// llama-quantize gives them: f32, f16, bf16, q8_0, q4_0, q4_k_m.
const std::vector<std::string>& gguf_file_types();

// Writes `weights` (Hugging Face's layout, float32) as FILE atomically, with
// progress on a terminal. `added` tokens join the vocabulary as user-defined
// pieces. `type` is one of gguf_file_types() (otherwise an
// InputError listing them); `overwrite` false refuses an existing file.
// Quantizing runs on `threads` threads.
void save_gguf_model(const std::filesystem::path& file, const LlamaConfig& config,
                     const LlamaWeights& weights, const Tokenizer& tokenizer,
                     const std::vector<AddedToken>& added, const std::string& type, bool overwrite,
                     int threads);

}  // namespace ralm::llama
