// A SentencePiece vocabulary as a list of pieces, the form GGUF files store
// (the `llama` tokenizer model: tokenizer.ggml.tokens, .scores and
// .token_type), and its conversion to and from the serialized model proto
// that tokenizer.model holds and the SentencePiece library loads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ralm/model.hpp"

namespace ralm::llama {

// SentencePiece's piece types, with the numbers both it and GGUF use.
enum class PieceType : std::int32_t {
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6
};

struct SentencePieceVocab {
  std::vector<std::string> pieces;
  std::vector<float> scores;  // merge priorities: higher merges first
  std::vector<PieceType> types;
  TokenId unk = 0, bos = 1, eos = 2;
  // Llama's normalisation: a space before the text, spaces kept as they are.
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = false;
};

// The serialized ModelProto of a BPE SentencePiece model with this
// vocabulary (byte fallback when it has byte pieces), which
// SentencePieceProcessor::LoadFromSerializedProto reads.
std::string sentencepiece_model_proto(const SentencePieceVocab& vocab);

// The vocabulary of a SentencePiece tokenizer (make_tokenizer's), for
// writing it into a GGUF file; nullopt for the other tokenizers. Pieces the
// library cannot tell apart from normal ones (user-defined) come out normal.
std::optional<SentencePieceVocab> sentencepiece_vocab(const Tokenizer& tokenizer);

}  // namespace ralm::llama
