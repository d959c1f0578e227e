// llama.cpp's GGUF files as models: the `llama` architecture's metadata
// mapped onto LlamaConfig, its SentencePiece vocabulary, and its tensors,
// the quantized ones used where they lie in the mapped file (never copied),
// the float ones packed once for the kernels.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "llama_model.hpp"

namespace ralm::llama {

// Whether `path` is a file that starts with GGUF's magic.
bool is_gguf_file(const std::filesystem::path& path);

// `float_type`: how f32 and f16 tensors are packed (bf16 tensors stay bf16);
// nullopt packs each float tensor in its own type (f16 as f32, exactly).
// `context` <= 0: the file's context length. Every malformed or unsupported
// file is an InputError naming the file and the key or tensor.
std::unique_ptr<LlamaModel> load_gguf_model(const std::filesystem::path& file, int threads,
                                            std::int32_t context, std::optional<WeightType> float_type);

}  // namespace ralm::llama
