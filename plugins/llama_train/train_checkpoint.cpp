#include "train_checkpoint.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "ralm/error.hpp"
#include "ralm/staging_directory.hpp"
#include "safetensors.hpp"

namespace ralm::llama_train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json config_json(const llama::LlamaConfig& c) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"vocab_size", c.vocab_size},
          {"hidden_size", c.hidden_size},
          {"intermediate_size", c.intermediate_size},
          {"num_hidden_layers", c.num_layers},
          {"num_attention_heads", c.num_heads},
          {"num_key_value_heads", c.num_kv_heads},
          {"head_dim", c.head_dim},
          {"max_position_embeddings", c.max_position_embeddings},
          {"rms_norm_eps", c.rms_norm_eps},
          {"rope_theta", c.rope_theta},
          {"tie_word_embeddings", c.tie_word_embeddings},
          {"bos_token_id", c.bos_token_id},
          {"eos_token_id", c.eos_token_id},
          {"hidden_act", "silu"},
          {"attention_bias", false},
          {"mlp_bias", false},
          {"torch_dtype", "float32"}};
}

void write_json(const fs::path& file, const json& j) {
  write_file_atomically(file, [&](std::ostream& out) { out << j.dump(2) << "\n"; });
}

}  // namespace

void write_checkpoint(const fs::path& dir, const llama::LlamaConfig& config, const ParamLayout& layout,
                      const std::vector<float>& params, AdamW* optimizer, const TrainPosition& position,
                      const fs::path& tokenizer_model) {
  if (!dir.parent_path().empty()) fs::create_directories(dir.parent_path());
  StagingDirectory staging(dir, true);
  std::vector<llama::TensorToWrite> tensors;
  for (const ParamTensor& t : layout.tensors()) {
    const auto begin = params.begin() + static_cast<std::ptrdiff_t>(t.offset);
    tensors.push_back({t.name, llama::DType::F32, t.shape,
                       std::vector<float>(begin, begin + static_cast<std::ptrdiff_t>(t.size))});
  }
  llama::write_safetensors(staging.path() / "model.safetensors", tensors);
  write_json(staging.path() / "config.json", config_json(config));
  if (!tokenizer_model.empty()) fs::copy_file(tokenizer_model, staging.path() / "tokenizer.model");
  if (optimizer) {
    const auto n = static_cast<std::int64_t>(params.size());
    llama::write_safetensors(staging.path() / "optimizer.safetensors",
                             {{"exp_avg", llama::DType::F32, {n}, optimizer->first_moment()},
                              {"exp_avg_sq", llama::DType::F32, {n}, optimizer->second_moment()}});
    write_json(staging.path() / "trainer_state.json", {{"step", position.step},
                                                       {"data_position", position.data_position},
                                                       {"tokens", position.tokens},
                                                       {"last_loss", position.last_loss},
                                                       {"optimizer_steps", optimizer->steps()}});
  }
  staging.commit();
}

LoadedCheckpoint read_checkpoint(const fs::path& dir, const llama::LlamaConfig& config,
                                 const ParamLayout& layout) {
  const llama::LlamaConfig saved = llama::read_llama_config(dir);
  const auto compare = [&](const char* field, std::int64_t was, std::int64_t now) {
    if (was != now) {
      throw InputError(dir.string() + ": cannot resume: the checkpoint's " + field + " is " +
                       std::to_string(was) + " but the config asks for " + std::to_string(now) +
                       "; resume with the config the checkpoint was trained with, or start afresh with "
                       "another trainer.out");
    }
  };
  compare("vocab_size", saved.vocab_size, config.vocab_size);
  compare("hidden_size", saved.hidden_size, config.hidden_size);
  compare("intermediate_size", saved.intermediate_size, config.intermediate_size);
  compare("num_hidden_layers", saved.num_layers, config.num_layers);
  compare("num_attention_heads", saved.num_heads, config.num_heads);
  compare("num_key_value_heads", saved.num_kv_heads, config.num_kv_heads);
  compare("tie_word_embeddings", saved.tie_word_embeddings, config.tie_word_embeddings);

  LoadedCheckpoint out;
  out.params.resize(layout.total());
  const llama::Checkpoint model(dir);
  for (const ParamTensor& t : layout.tensors()) {
    const std::vector<float> v = model.get(t.name, t.shape).to_f32();
    std::copy(v.begin(), v.end(), out.params.begin() + static_cast<std::ptrdiff_t>(t.offset));
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
  const auto n = static_cast<std::int64_t>(layout.total());
  const llama::SafetensorsFile optimizer(dir / "optimizer.safetensors");
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
