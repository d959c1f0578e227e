// Checkpoints. Full training writes a Hugging Face folder the llama plugin
// loads (config.json, model.safetensors, tokenizer.model when there is one);
// LoRA training writes a PEFT adapter folder (adapter_config.json,
// adapter_model.safetensors). Either adds what a resume needs:
// optimizer.safetensors (AdamW's moments) and trainer_state.json (the step,
// the data position, the tokens seen). A folder is written whole into a
// staging folder and renamed over the previous one, so an interruption or an
// error leaves the last good checkpoint as it was.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "adamw.hpp"
#include "lora_layout.hpp"
#include "param_layout.hpp"
#include "ralm/llama_format/config.hpp"

namespace ralm::llama_train {

struct TrainPosition {
  std::int64_t step = 0;           // optimiser steps done
  std::int64_t data_position = 0;  // training windows consumed
  std::int64_t tokens = 0;         // training tokens seen
  double last_loss = 0.0;
};

// What a run trains: the tensors (names, shapes, offsets into one vector),
// the file they go to, and the other files of the folder.
struct TrainedTensors {
  std::vector<ParamTensor> tensors;
  std::size_t total = 0;
  std::string weights_file;  // "model.safetensors" or "adapter_model.safetensors"
  std::function<void(const std::filesystem::path& dir)> write_metadata;
};

// A full model: config.json and tokenizer.model (when given) beside the weights.
TrainedTensors full_model_tensors(const llama::LlamaConfig& config, const ParamLayout& layout,
                                  const std::filesystem::path& tokenizer_model);
// A PEFT LoRA adapter over the base model in `base_dir`.
TrainedTensors lora_adapter_tensors(const LoraLayout& lora, const std::filesystem::path& base_dir);

// `optimizer` null: the weights and metadata only (the finished model).
void write_checkpoint(const std::filesystem::path& dir, const TrainedTensors& what,
                      const std::vector<float>& values, AdamW* optimizer, const TrainPosition& position);

struct LoadedCheckpoint {
  std::vector<float> values, first_moment, second_moment;
  std::int64_t optimizer_steps = 0;
  TrainPosition position;
};
// Reads a checkpoint back; a tensor that is missing or of another shape (a
// checkpoint of another model or adapter) is an InputError naming it.
LoadedCheckpoint read_checkpoint(const std::filesystem::path& dir, const TrainedTensors& what);

}  // namespace ralm::llama_train
