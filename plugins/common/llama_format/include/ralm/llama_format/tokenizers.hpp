// The tokenizers of Llama checkpoints: SentencePiece's tokenizer.model when
// the checkpoint has one, else Hugging Face's tokenizer.json (Llama 3, Qwen2,
// Mistral; ralm/hf_tokenizer), and an ids-only stand-in when it has neither
// (test checkpoints, random models), which decodes but cannot encode text;
// and the byte tokenizer random models that must read text are given.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "ralm/llama_format/sentencepiece_vocab.hpp"
#include "ralm/model.hpp"

namespace ralm::llama {

// SentencePiece from DIR/tokenizer.model; else DIR/tokenizer.json (its BOS
// and EOS replaced by `bos` and `eos`, config.json's); else the ids-only
// tokenizer.
std::unique_ptr<Tokenizer> make_tokenizer(const std::filesystem::path& dir, std::int32_t vocab_size,
                                          TokenId bos, TokenId eos);

// SentencePiece from a vocabulary (a GGUF file's); `source` names it in errors.
std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(const SentencePieceVocab& vocab,
                                                        std::int32_t vocab_size, const std::string& source);
std::unique_ptr<Tokenizer> make_ids_only_tokenizer(std::int32_t vocab_size, TokenId bos, TokenId eos);

// Bytes as tokens: 0 unknown, 1 BOS, 2 EOS, 3 + b for byte b; needs a
// vocabulary of at least 259. Any text encodes, with no training: the
// tokenizer of random models that must read text (benchmarks, the quick start).
std::unique_ptr<Tokenizer> make_byte_tokenizer(std::int32_t vocab_size);

// The serialized tokenizer.model of a SentencePiece tokenizer (to save it
// beside a checkpoint); nullopt for the others.
std::optional<std::string> sentencepiece_model_proto(const Tokenizer& tokenizer);

}  // namespace ralm::llama
