#include "train_checkpoint.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "ralm/error.hpp"
#include "ralm/safetensors.hpp"
#include "ralm/staging_directory.hpp"

namespace ralm::llama_train {

namespace fs = std::filesystem;
using nlohmann::json;
using safetensors::shape_text;

namespace {

// adapter_config.json as PEFT's LoraConfig.save_pretrained writes it.
json adapter_config_json(const LoraConfig& lc, const fs::path& base_dir) {
  return {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"base_model_name_or_path", base_dir.lexically_normal().string()},
      {"r", lc.r},
      {"lora_alpha", lc.alpha},
      {"lora_dropout", lc.dropout},
      {"target_modules", lc.target_modules},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"use_rslora", false},
      {"use_dora", false},
      {"init_lora_weights", true},
      {"inference_mode", true},
      {"modules_to_save", nullptr},
      {"layers_to_transform", nullptr},
      {"layers_pattern", nullptr},
      {"rank_pattern", json::object()},
      {"alpha_pattern", json::object()},
      {"trainable_token_indices", lc.trainable_tokens.empty() ? json(nullptr) : json(lc.trainable_tokens)},
      {"revision", nullptr}};
}

void write_json(const fs::path& file, const json& j) {
  write_file_atomically(file, [&](std::ostream& out) { out << j.dump(2) << "\n"; });
}

}  // namespace

TrainedTensors full_model_tensors(const llama::LlamaConfig& config, const ParamLayout& layout,
                                  const fs::path& tokenizer_model) {
  TrainedTensors t;
  t.tensors = layout.tensors();
  t.total = layout.total();
  t.weights_file = "model.safetensors";
  t.write_metadata = [config, tokenizer_model](const fs::path& dir) {
    // The checkpoint format's own writer: what the llama plugin reads back
    // (read_llama_config) is what it wrote.
    write_file_atomically(dir / "config.json",
                          [&](std::ostream& out) { out << llama::llama_config_json(config, "float32"); });
    if (!tokenizer_model.empty()) fs::copy_file(tokenizer_model, dir / "tokenizer.model");
  };
  return t;
}

TrainedTensors lora_adapter_tensors(const LoraLayout& lora, const fs::path& base_dir) {
  TrainedTensors t;
  t.tensors = lora.tensors();
  t.total = lora.total();
  t.weights_file = "adapter_model.safetensors";
  const LoraConfig lc = lora.config();
  t.write_metadata = [lc, base_dir](const fs::path& dir) {
    write_json(dir / "adapter_config.json", adapter_config_json(lc, base_dir));
  };
  return t;
}

void write_checkpoint(const fs::path& dir, const TrainedTensors& what, const std::vector<float>& values,
                      AdamW* optimizer, const TrainPosition& position) {
  if (!dir.parent_path().empty()) fs::create_directories(dir.parent_path());
  StagingDirectory staging(dir, true);
  std::vector<safetensors::TensorToWrite> tensors;
  for (const ParamTensor& t : what.tensors) {
    const auto begin = values.begin() + static_cast<std::ptrdiff_t>(t.offset);
    tensors.push_back({t.name, safetensors::DType::F32, t.shape,
                       std::vector<float>(begin, begin + static_cast<std::ptrdiff_t>(t.size))});
  }
  safetensors::write_file(staging.path() / what.weights_file, tensors);
  what.write_metadata(staging.path());
  if (optimizer) {
    const auto n = static_cast<std::int64_t>(values.size());
    safetensors::write_file(staging.path() / "optimizer.safetensors",
                            {{"exp_avg", safetensors::DType::F32, {n}, optimizer->first_moment()},
                             {"exp_avg_sq", safetensors::DType::F32, {n}, optimizer->second_moment()}});
    write_json(staging.path() / "trainer_state.json", {{"step", position.step},
                                                       {"data_position", position.data_position},
                                                       {"tokens", position.tokens},
                                                       {"last_loss", position.last_loss},
                                                       {"optimizer_steps", optimizer->steps()}});
  }
  staging.commit();
}

LoadedCheckpoint read_checkpoint(const fs::path& dir, const TrainedTensors& what) {
  const fs::path weights = dir / what.weights_file;
  if (!fs::exists(weights)) {
    throw InputError(dir.string() + ": cannot resume: no " + what.weights_file +
                     " (a checkpoint of the other training mode?); resume with the config it was trained "
                     "with, or start afresh with another trainer.out");
  }
  LoadedCheckpoint out;
  out.values.resize(what.total);
  const safetensors::File file(weights);
  for (const ParamTensor& t : what.tensors) {
    const auto it = file.tensors().find(t.name);
    if (it == file.tensors().end() || it->second.shape != t.shape) {
      throw InputError(
          weights.string() + ": cannot resume: the checkpoint's " + t.name + " is " +
          (it == file.tensors().end() ? std::string("missing") : shape_text(it->second.shape)) +
          " but the config asks for " + shape_text(t.shape) +
          "; resume with the config the checkpoint was trained with, or start afresh with another "
          "trainer.out");
    }
    const std::vector<float> v = it->second.to_f32();
    std::copy(v.begin(), v.end(), out.values.begin() + static_cast<std::ptrdiff_t>(t.offset));
  }
  const fs::path state_file = dir / "trainer_state.json";
  std::ifstream in(state_file);
  if (!in || !fs::exists(dir / "optimizer.safetensors")) {
    throw InputError(dir.string() +
                     ": not a training checkpoint (no trainer_state.json or "
                     "optimizer.safetensors); resume from the `checkpoint` folder a trainer wrote");
  }
  try {
    const json state = json::parse(in);
    out.position.step = state.at("step").get<std::int64_t>();
    out.position.data_position = state.at("data_position").get<std::int64_t>();
    out.position.tokens = state.at("tokens").get<std::int64_t>();
    out.position.last_loss = state.at("last_loss").get<double>();
    out.optimizer_steps = state.at("optimizer_steps").get<std::int64_t>();
  } catch (const json::exception& e) {
    throw InputError(state_file.string() + ": unreadable: " + e.what());
  }
  const auto n = static_cast<std::int64_t>(what.total);
  const safetensors::File optimizer(dir / "optimizer.safetensors");
  for (const char* name : {"exp_avg", "exp_avg_sq"}) {
    const auto it = optimizer.tensors().find(name);
    if (it == optimizer.tensors().end() || it->second.shape != std::vector<std::int64_t>{n}) {
      throw InputError((dir / "optimizer.safetensors").string() + ": no tensor " + name + " of " +
                       std::to_string(n) + " values; the checkpoint is damaged or of another model");
    }
    (std::string(name) == "exp_avg" ? out.first_moment : out.second_moment) = it->second.to_f32();
  }
  return out;
}

}  // namespace ralm::llama_train
