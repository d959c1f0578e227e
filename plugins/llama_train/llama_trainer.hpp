// The `llama` trainer: full training of a Llama-architecture model on a
// passage store, or LoRA fine-tuning of a given base model (PEFT adapter
// out), with AdamW, warm-up and cosine schedule, clipping, gradient
// accumulation, held-out perplexity, atomic checkpoints and exact resume.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "adamw.hpp"
#include "lora_layout.hpp"
#include "ralm/llama_format/config.hpp"
#include "ralm/retriever.hpp"
#include "ralm/trainer.hpp"
#include "retrieval_windows.hpp"

namespace ralm::llama_train {

struct LlamaTrainerOptions {
  std::string mode = "full";  // "full" or "lora"
  llama::LlamaConfig model;   // full: the shape to train (lora: read from `base`)
  double init_std = 0.02;
  std::filesystem::path base;  // lora: the base model's Hugging Face folder
  LoraConfig lora;
  std::filesystem::path corpus;
  std::filesystem::path out;        // out/checkpoint (resumable) and, once finished, out/model or out/adapter
  std::string tokenizer = "bytes";  // full: "bytes" or "sentencepiece"
  // tokenizer: sentencepiece: the model file; empty: train one (out/tokenizer.model).
  std::filesystem::path tokenizer_model;
  std::string tokenizer_algorithm = "bpe";  // for a trained one: "bpe" or "unigram"
  // A trained tokenizer has vocab_size - reserved_tokens pieces; the last ids
  // are left for tokens added later (FlashBack's marks).
  std::int32_t reserved_tokens = 0;
  std::int32_t seq_len = 128;
  std::int32_t loss_tokens = 0;  // loss on the last n positions of a window; 0: all
  // data: retrieval: FlashBack's retrieval-augmented samples from `retriever`.
  std::shared_ptr<Retriever> retriever;
  std::optional<RetrievalLayout> retrieval;
  std::int32_t batch_size = 8;
  std::int32_t grad_accum = 1;
  Schedule schedule;
  AdamWConfig adamw;
  double clip = 1.0;
  std::int64_t eval_every = 100;
  std::int32_t eval_windows = 64;
  std::int32_t validation_permille = 20;
  std::int64_t checkpoint_every = 100;
  std::uint64_t seed = 0;
  int threads = 1;
};

class LlamaTrainer final : public Trainer {
 public:
  explicit LlamaTrainer(LlamaTrainerOptions options) : options_(std::move(options)) {}
  TrainSummary train(const TrainRequest& request) override;

 private:
  LlamaTrainerOptions options_;
};

}  // namespace ralm::llama_train
