#include "lora_adapter.hpp"

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "ralm/error.hpp"
#include "ralm/safetensors.hpp"
#include "ralm/staging_directory.hpp"

namespace ralm::llama {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "base_model.model.";
constexpr const char* kEmbedKey = "base_model.model.model.embed_tokens.weight";
constexpr const char* kLmHeadKey = "base_model.model.lm_head.weight";
constexpr const char* kEmbedTokensKey =
    "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta";
constexpr const char* kLmHeadTokensKey = "base_model.model.lm_head.token_adapter.trainable_tokens_delta";

std::string targets_list() {
  std::string out;
  for (LoraTarget t : kLoraTargets)
    out += (out.empty() ? "" : ", ") + std::string(lora_target_name(t));
  return out;
}

// A field that may be absent. PEFT writes null for what it does not know
// (`base_model_name_or_path` and `task_type` of a model not from a hub), so
// null reads as absent; a value of another type is an error naming the field.
template <class T>
T optional_field(const json& j, const char* key, T fallback, const std::string& file, const char* expected) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  try {
    return j[key].get<T>();
  } catch (const json::exception&) {
    throw InputError(file + ": " + key + " must be " + expected + ", not " + j[key].dump() +
                     "; fix the value or remove the field");
  }
}

}  // namespace

const char* lora_target_name(LoraTarget t) {
  switch (t) {
    case LoraTarget::q_proj:
      return "q_proj";
    case LoraTarget::k_proj:
      return "k_proj";
    case LoraTarget::v_proj:
      return "v_proj";
    case LoraTarget::o_proj:
      return "o_proj";
    case LoraTarget::gate_proj:
      return "gate_proj";
    case LoraTarget::up_proj:
      return "up_proj";
    case LoraTarget::down_proj:
      return "down_proj";
  }
  return "?";
}

std::optional<LoraTarget> lora_target_from_name(std::string_view name) {
  for (LoraTarget t : kLoraTargets)
    if (name == lora_target_name(t)) return t;
  return std::nullopt;
}

std::pair<std::int64_t, std::int64_t> lora_target_shape(const LlamaConfig& c, LoraTarget t) {
  const std::int64_t h = c.hidden_size, q = std::int64_t{c.num_heads} * c.head_dim,
                     kv = std::int64_t{c.num_kv_heads} * c.head_dim, ff = c.intermediate_size;
  switch (t) {
    case LoraTarget::q_proj:
      return {q, h};
    case LoraTarget::k_proj:
    case LoraTarget::v_proj:
      return {kv, h};
    case LoraTarget::o_proj:
      return {h, q};
    case LoraTarget::gate_proj:
    case LoraTarget::up_proj:
      return {ff, h};
    case LoraTarget::down_proj:
      return {h, ff};
  }
  return {0, 0};
}

std::string peft_lora_key(std::int32_t layer, LoraTarget t, bool b) {
  const bool attention = t == LoraTarget::q_proj || t == LoraTarget::k_proj || t == LoraTarget::v_proj ||
                         t == LoraTarget::o_proj;
  return std::string(kPrefix) + "model.layers." + std::to_string(layer) +
         (attention ? ".self_attn." : ".mlp.") + lora_target_name(t) +
         (b ? ".lora_B.weight" : ".lora_A.weight");
}

double LoraAdapter::scale() const {
  return use_rslora ? lora_alpha / std::sqrt(static_cast<double>(r)) : lora_alpha / r;
}

LoraAdapter read_peft_adapter(const fs::path& dir, const LlamaConfig& c) {
  const fs::path config_file = dir / "adapter_config.json", weights_file = dir / "adapter_model.safetensors";
  const std::string cf = config_file.string();
  if (!fs::exists(config_file)) {
    throw InputError(cf +
                     ": missing; a PEFT LoRA adapter folder holds adapter_config.json and "
                     "adapter_model.safetensors");
  }
  if (!fs::exists(weights_file)) {
    throw InputError(weights_file.string() +
                     ": missing; a PEFT LoRA adapter folder holds adapter_config.json "
                     "and adapter_model.safetensors");
  }
  json j;
  {
    std::ifstream in(config_file);
    try {
      j = json::parse(in);
    } catch (const json::exception& e) {
      throw InputError(cf + ": not valid JSON: " + e.what());
    }
  }
  LoraAdapter a;
  std::vector<std::string> modules_to_save;
  json trainable = nullptr;
  try {
    const std::string peft_type = optional_field<std::string>(j, "peft_type", "LORA", cf, "a string");
    if (peft_type != "LORA")
      throw InputError(cf + ": peft_type " + j["peft_type"].dump() +
                       " is not supported; only LORA adapters load");
    if (!j.contains("r") || !j["r"].is_number_integer() || j["r"].get<std::int64_t>() <= 0 ||
        j["r"].get<std::int64_t>() > std::numeric_limits<std::int32_t>::max())
      throw InputError(cf + ": r must be a positive integer of 32 bits");
    a.r = j["r"].get<std::int32_t>();
    if (!j.contains("lora_alpha") || !j["lora_alpha"].is_number())
      throw InputError(cf + ": lora_alpha is missing or not a number");
    a.lora_alpha = j["lora_alpha"].get<double>();
    a.use_rslora = optional_field(j, "use_rslora", false, cf, "true or false");
    a.base_model_name_or_path =
        optional_field<std::string>(j, "base_model_name_or_path", "", cf, "a string or null");
    auto unsupported = [&](const char* field, const std::string& why) {
      throw InputError(cf + ": " + field + " " + why + " is not supported by the llama plugin");
    };
    if (optional_field(j, "fan_in_fan_out", false, cf, "true or false"))
      unsupported("fan_in_fan_out", "true");
    if (optional_field(j, "use_dora", false, cf, "true or false")) unsupported("use_dora", "true");
    if (const std::string bias = optional_field<std::string>(j, "bias", "none", cf, "a string");
        bias != "none")
      unsupported("bias", j["bias"].dump());
    for (const char* pattern : {"rank_pattern", "alpha_pattern"})
      if (j.contains(pattern) && j[pattern].is_object() && !j[pattern].empty())
        unsupported(pattern, "(non-empty)");
    const json& tm = j.contains("target_modules") ? j["target_modules"] : json();
    std::vector<std::string> names;
    if (tm.is_string() && tm == "all-linear") {
      for (LoraTarget t : kLoraTargets)
        names.emplace_back(lora_target_name(t));
    } else if (tm.is_array()) {
      names = tm.get<std::vector<std::string>>();
    } else {
      throw InputError(cf + ": target_modules must be a list of module names (" + targets_list() +
                       ") or \"all-linear\"");
    }
    for (const auto& n : names) {
      const auto t = lora_target_from_name(n);
      if (!t)
        throw InputError(cf + ": target_modules: unknown module '" + n + "'; LoRA applies to " +
                         targets_list());
      a.target_modules.push_back(*t);
    }
    if (j.contains("modules_to_save") && j["modules_to_save"].is_array())
      modules_to_save = j["modules_to_save"].get<std::vector<std::string>>();
    for (const auto& m : modules_to_save) {
      if (m != "embed_tokens" && m != "lm_head")
        throw InputError(cf + ": modules_to_save: '" + m +
                         "' is not supported; only embed_tokens and lm_head");
    }
    if (j.contains("trainable_token_indices")) trainable = j["trainable_token_indices"];
  } catch (const json::exception& e) {
    throw InputError(cf + ": malformed field: " + e.what());
  }

  // Ids of trainable tokens per module: a list means embed_tokens.
  std::map<std::string, std::vector<TokenId>> token_ids;
  try {
    if (trainable.is_array()) {
      token_ids["embed_tokens"] = trainable.get<std::vector<TokenId>>();
    } else if (trainable.is_object()) {
      for (const auto& [module, ids] : trainable.items()) {
        if (module != "embed_tokens" && module != "lm_head")
          throw InputError(cf + ": trainable_token_indices: module '" + module +
                           "' is not supported; only embed_tokens and lm_head");
        token_ids[module] = ids.get<std::vector<TokenId>>();
      }
    }
  } catch (const json::exception& e) {
    throw InputError(cf + ": trainable_token_indices: " + e.what());
  }

  const safetensors::File file(weights_file);
  const std::string wf = weights_file.string();
  const std::int64_t h = c.hidden_size, v = c.vocab_size;
  std::map<std::pair<std::int32_t, LoraTarget>, LoraFactors> factors;
  auto rows_of = [&](const safetensors::TensorView& t, const std::string& module, TokenRows& out,
                     bool whole) {
    if (!whole && token_ids.count(module) == 0)
      throw InputError(wf + ": tensor " + t.name +
                       " but adapter_config.json's trainable_token_indices has no " + module);
    const std::int64_t n = whole ? v : static_cast<std::int64_t>(token_ids[module].size());
    if (t.shape != std::vector<std::int64_t>{n, h}) {
      throw InputError(
          wf + ": tensor " + t.name + " has shape " + safetensors::shape_text(t.shape) + ", expected " +
          safetensors::shape_text({n, h}) +
          (!whole ? ""
           : t.shape.size() == 2 && t.shape[0] > v
               ? " (the model's vocab_size × hidden_size; add the tokens the adapter was trained "
                 "with first, e.g. the model's special_tokens)"
               : " (the model's vocab_size × hidden_size)"));
    }
    out.rows = t.to_f32();
    if (whole) {
      out.ids.resize(static_cast<std::size_t>(v));
      for (std::int64_t i = 0; i < v; ++i)
        out.ids[static_cast<std::size_t>(i)] = static_cast<TokenId>(i);
    } else {
      out.ids = token_ids[module];
      for (TokenId id : out.ids)
        if (id < 0 || id >= v)
          throw InputError(cf + ": trainable token id " + std::to_string(id) +
                           " is outside the vocabulary (0.." + std::to_string(v - 1) + ")");
    }
  };
  for (const auto& [name, t] : file.tensors()) {
    if (name == kEmbedKey || name == kLmHeadKey) {
      const bool embed = name == kEmbedKey;
      // modules_to_save, or PEFT's save_embedding_layers (a resized
      // vocabulary saves both whole, without listing them): either way the
      // adapter's matrix replaces the model's.
      const std::string module = embed ? "embed_tokens" : "lm_head";
      rows_of(t, module, embed ? a.embed_tokens : a.lm_head, true);
      (embed ? a.embed_tokens_whole : a.lm_head_whole) = true;
      continue;
    }
    if (name == kEmbedTokensKey || name == kLmHeadTokensKey) {
      const bool embed = name == kEmbedTokensKey;
      rows_of(t, embed ? "embed_tokens" : "lm_head", embed ? a.embed_tokens : a.lm_head, false);
      continue;
    }
    // base_model.model.model.layers.{L}.{self_attn|mlp}.{module}.lora_{A|B}.weight
    const std::string layers = std::string(kPrefix) + "model.layers.";
    // A lambda may not capture a structured binding before clang 16; a reference may.
    const std::string& tensor_name = name;
    auto unknown = [&] {
      return InputError(wf + ": unknown tensor " + tensor_name + "; a LoRA adapter for Llama has " +
                        peft_lora_key(0, LoraTarget::q_proj, false) + " and the like");
    };
    if (name.rfind(layers, 0) != 0) throw unknown();
    std::size_t pos = layers.size(), end = name.find('.', pos);
    if (end == std::string::npos || end == pos) throw unknown();
    std::int32_t layer = 0;
    try {
      layer = std::stoi(name.substr(pos, end - pos));
    } catch (const std::logic_error&) {
      throw unknown();
    }
    std::optional<LoraTarget> target;
    bool is_b = false;
    for (LoraTarget tt : kLoraTargets) {
      for (bool b : {false, true}) {
        if (peft_lora_key(layer, tt, b) == name) {
          target = tt;
          is_b = b;
        }
      }
    }
    if (!target) throw unknown();
    if (layer < 0 || layer >= c.num_layers) {
      throw InputError(wf + ": tensor " + name + " is for layer " + std::to_string(layer) +
                       ", but the model has " + std::to_string(c.num_layers) + " layers");
    }
    if (std::find(a.target_modules.begin(), a.target_modules.end(), *target) == a.target_modules.end()) {
      throw InputError(wf + ": tensor " + name + " is for " + lora_target_name(*target) +
                       ", which adapter_config.json's target_modules does not list");
    }
    const auto [out, in] = lora_target_shape(c, *target);
    const std::vector<std::int64_t> want =
        is_b ? std::vector<std::int64_t>{out, a.r} : std::vector<std::int64_t>{a.r, in};
    if (t.shape != want) {
      throw InputError(wf + ": tensor " + name + " has shape " + safetensors::shape_text(t.shape) +
                       ", expected " + safetensors::shape_text(want) + " (r = " + std::to_string(a.r) +
                       " in adapter_config.json; " + (is_b ? "out" : "in") + " = " +
                       std::to_string(is_b ? out : in) + " from the model)");
    }
    auto& f = factors[{layer, *target}];
    f.layer = layer;
    f.target = *target;
    (is_b ? f.b : f.a) = t.to_f32();
  }
  for (auto& [key, f] : factors) {
    if (f.a.empty() || f.b.empty()) {
      throw InputError(wf + ": " + peft_lora_key(f.layer, f.target, f.a.empty() ? true : false) + " has no " +
                       (f.a.empty() ? "lora_A" : "lora_B") + " partner " +
                       peft_lora_key(f.layer, f.target, !f.a.empty()));
    }
    a.factors.push_back(std::move(f));
  }
  for (const auto& m : modules_to_save) {
    if ((m == "embed_tokens" && !a.embed_tokens_whole) || (m == "lm_head" && !a.lm_head_whole))
      throw InputError(wf + ": modules_to_save lists " + m + ", but the file has no " +
                       (m == "embed_tokens" ? kEmbedKey : kLmHeadKey));
  }
  if (a.factors.empty() && a.embed_tokens.empty() && a.lm_head.empty())
    throw InputError(wf + ": no LoRA tensors; expected keys such as " +
                     peft_lora_key(0, LoraTarget::q_proj, false));
  return a;
}

void write_peft_adapter(const fs::path& dir, const LoraAdapter& a, const LlamaConfig& c, bool overwrite) {
  if (a.r <= 0) throw Error("write_peft_adapter: r must be positive");
  std::vector<safetensors::TensorToWrite> tensors;
  for (const auto& f : a.factors) {
    const auto [out, in] = lora_target_shape(c, f.target);
    if (f.a.size() != static_cast<std::size_t>(a.r * in) || f.b.size() != static_cast<std::size_t>(out * a.r))
      throw Error("write_peft_adapter: " + peft_lora_key(f.layer, f.target, false) +
                  " or its B has the wrong size");
    tensors.push_back({peft_lora_key(f.layer, f.target, false), safetensors::DType::F32, {a.r, in}, f.a});
    tensors.push_back({peft_lora_key(f.layer, f.target, true), safetensors::DType::F32, {out, a.r}, f.b});
  }
  json modules_to_save = nullptr, trainable = nullptr;
  auto rows = [&](const TokenRows& t, bool whole, const char* whole_key, const char* tokens_key,
                  const char* module) {
    if (t.empty()) return;
    const auto n = static_cast<std::int64_t>(t.ids.size());
    tensors.push_back({whole ? whole_key : tokens_key, safetensors::DType::F32, {n, c.hidden_size}, t.rows});
    if (whole) {
      if (modules_to_save.is_null()) modules_to_save = json::array();
      modules_to_save.push_back(module);
    } else {
      if (trainable.is_null()) trainable = json::object();
      trainable[module] = t.ids;
    }
  };
  rows(a.embed_tokens, a.embed_tokens_whole, kEmbedKey, kEmbedTokensKey, "embed_tokens");
  rows(a.lm_head, a.lm_head_whole, kLmHeadKey, kLmHeadTokensKey, "lm_head");
  json targets = json::array();
  for (LoraTarget t : a.target_modules)
    targets.push_back(lora_target_name(t));
  json config = {{"peft_type", "LORA"},
                 {"task_type", "CAUSAL_LM"},
                 {"base_model_name_or_path", a.base_model_name_or_path},
                 {"r", a.r},
                 {"lora_alpha", a.lora_alpha},
                 {"lora_dropout", 0.0},
                 {"target_modules", targets},
                 {"bias", "none"},
                 {"fan_in_fan_out", false},
                 {"use_rslora", a.use_rslora},
                 {"use_dora", false},
                 {"init_lora_weights", true},
                 {"inference_mode", true},
                 {"modules_to_save", modules_to_save},
                 {"rank_pattern", json::object()},
                 {"alpha_pattern", json::object()},
                 {"layers_to_transform", nullptr},
                 {"layers_pattern", nullptr},
                 {"revision", nullptr}};
  // Only when used: PEFT versions from before trainable tokens reject the key.
  if (!trainable.is_null()) config["trainable_token_indices"] = trainable;
  StagingDirectory out(dir, overwrite);
  safetensors::write_file(out.path() / "adapter_model.safetensors", tensors);
  write_file_atomically(out.path() / "adapter_config.json",
                        [&](std::ostream& o) { o << config.dump(2) << "\n"; });
  out.commit();
}

}  // namespace ralm::llama
