// Trains a SentencePiece tokenizer (BPE or unigram) on the training split of
// a passage store, through the SentencePiece library, with the ids the llama
// plugin expects (0 unknown, 1 BOS, 2 EOS) and byte fallback, so that any
// text encodes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "ralm/passage_store.hpp"

namespace ralm::llama_train {

// Whether a document belongs to the held-out split (validation_permille
// documents per thousand, chosen by a hash of the document id).
bool held_out_document(std::int64_t document, std::int32_t validation_permille);

struct SentencePieceOptions {
  std::string model_type = "bpe";  // "bpe" or "unigram"
  std::int32_t vocab_size = 4096;
  std::int32_t validation_permille = 20;
  int threads = 1;
};

// Writes `file` (a tokenizer.model) atomically.
void train_sentencepiece(const PassageStore& store, const SentencePieceOptions& options,
                         const std::filesystem::path& file);

}  // namespace ralm::llama_train
