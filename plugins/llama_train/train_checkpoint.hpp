// Checkpoints: a Hugging Face folder the llama plugin loads (config.json,
// model.safetensors, tokenizer.model when there is one) plus what a resume
// needs (optimizer.safetensors with AdamW's moments, trainer_state.json with
// the step, the data position and the tokens seen). A folder is written
// whole into a staging folder and renamed over the previous one, so an
// interruption or an error leaves the last good checkpoint as it was.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "adamw.hpp"
#include "llama_config.hpp"
#include "param_layout.hpp"

namespace ralm::llama_train {

struct TrainPosition {
  std::int64_t step = 0;           // optimiser steps done
  std::int64_t data_position = 0;  // training windows consumed
  std::int64_t tokens = 0;         // training tokens seen
  double last_loss = 0.0;
};

// `optimizer` null: a model folder only (the finished model).
void write_checkpoint(const std::filesystem::path& dir, const llama::LlamaConfig& config,
                      const ParamLayout& layout, const std::vector<float>& params, AdamW* optimizer,
                      const TrainPosition& position, const std::filesystem::path& tokenizer_model);

// Reads a checkpoint back, checking that its model has `config`'s shape; a
// checkpoint of another shape is an InputError naming the field.
struct LoadedCheckpoint {
  std::vector<float> params, first_moment, second_moment;
  std::int64_t optimizer_steps = 0;
  TrainPosition position;
};
LoadedCheckpoint read_checkpoint(const std::filesystem::path& dir, const llama::LlamaConfig& config,
                                 const ParamLayout& layout);

}  // namespace ralm::llama_train
