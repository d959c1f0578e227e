#include "ralm/llama_format/config.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ralm/error.hpp"

namespace ralm::llama {

using nlohmann::json;

void LlamaConfig::validate(const std::string& source) const {
  auto positive = [&](std::int64_t v, const char* field) {
    if (v <= 0) throw InputError(source + ": " + field + " must be positive, got " + std::to_string(v));
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_layers, "num_hidden_layers");
  positive(num_heads, "num_attention_heads");
  positive(num_kv_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  positive(max_position_embeddings, "max_position_embeddings");
  if (num_heads % num_kv_heads != 0) {
    throw InputError(source + ": num_attention_heads (" + std::to_string(num_heads) +
                     ") must be a multiple of num_key_value_heads (" + std::to_string(num_kv_heads) + ")");
  }
  if (head_dim % 2 != 0) throw InputError(source + ": head_dim must be even for rotary embeddings");
  if (!(rms_norm_eps > 0)) throw InputError(source + ": rms_norm_eps must be positive");
  if (!(rope_theta > 0)) throw InputError(source + ": rope_theta must be positive");
}

std::int64_t LlamaConfig::parameter_count() const {
  const std::int64_t h = hidden_size, q = std::int64_t{num_heads} * head_dim,
                     kv = std::int64_t{num_kv_heads} * head_dim;
  const std::int64_t per_layer = h * q + 2 * h * kv + q * h + 3 * h * intermediate_size + 2 * h;
  const std::int64_t embeddings = std::int64_t{vocab_size} * h * (tie_word_embeddings ? 1 : 2);
  return embeddings + per_layer * num_layers + h;
}

namespace {

// config.json's model_type; "" when absent or not a string.
std::string model_type_of(const json& config) {
  if (!config.is_object()) return "";
  const auto it = config.find("model_type");
  return it != config.end() && it->is_string() ? it->get<std::string>() : "";
}

bool declares_llama(const json& config) {
  bool llama = model_type_of(config) == "llama";
  if (config.is_object() && config.contains("architectures") && config["architectures"].is_array()) {
    for (const auto& a : config["architectures"])
      llama = llama || a == "LlamaForCausalLM";
  }
  return llama;
}

}  // namespace

bool is_llama_checkpoint(const std::filesystem::path& dir) {
  std::ifstream in(dir / "config.json");
  if (!in) return false;
  const json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  return !j.is_discarded() && declares_llama(j);
}

LlamaConfig read_llama_config(const std::filesystem::path& dir) {
  const std::filesystem::path file = dir / "config.json";
  const std::string name = file.string();
  std::ifstream in(file);
  if (!in) {
    throw InputError(
        name + ": no config.json; point `path` at a Hugging Face checkpoint folder, or use `init: random`");
  }
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw InputError(name + ": not valid JSON: " + e.what());
  }
  if (!declares_llama(j)) {
    const std::string arch =
        j.contains("architectures") ? j["architectures"].dump() : "model_type " + model_type_of(j);
    throw InputError(name + ": architecture " + arch +
                     " is not supported; only LlamaForCausalLM "
                     "(model_type \"llama\") is read");
  }
  LlamaConfig c;
  auto need = [&](const char* field) -> const json& {
    if (!j.contains(field) || j[field].is_null()) throw InputError(name + ": missing field " + field);
    return j[field];
  };
  try {
    c.vocab_size = need("vocab_size").get<std::int32_t>();
    c.hidden_size = need("hidden_size").get<std::int32_t>();
    c.intermediate_size = need("intermediate_size").get<std::int32_t>();
    c.num_layers = need("num_hidden_layers").get<std::int32_t>();
    c.num_heads = need("num_attention_heads").get<std::int32_t>();
    c.num_kv_heads = j.value("num_key_value_heads", c.num_heads);
    if (j.contains("head_dim") && !j["head_dim"].is_null()) {
      c.head_dim = j["head_dim"].get<std::int32_t>();
    } else {
      c.head_dim = c.num_heads > 0 ? c.hidden_size / c.num_heads : 0;
    }
    c.max_position_embeddings = j.value("max_position_embeddings", 2048);
    c.rms_norm_eps = j.value("rms_norm_eps", 1e-6);
    c.tie_word_embeddings = j.value("tie_word_embeddings", false);
    if (j.contains("bos_token_id") && j["bos_token_id"].is_number()) c.bos_token_id = j["bos_token_id"];
    if (j.contains("eos_token_id") && j["eos_token_id"].is_number()) c.eos_token_id = j["eos_token_id"];
    if (j.contains("eos_token_id") && j["eos_token_id"].is_array() && !j["eos_token_id"].empty()) {
      c.eos_token_id = j["eos_token_id"][0];
    }
    // The rotary base has three spellings: Llama 2's top-level rope_theta,
    // transformers 5's rope_parameters.rope_theta, and Llama 3's rope_theta
    // beside rope_scaling {rope_type: llama3}. Absent: 10000.
    if (j.contains("rope_theta") && j["rope_theta"].is_number()) c.rope_theta = j["rope_theta"].get<double>();
    const json* scaling = nullptr;
    if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
      const json& p = j["rope_parameters"];
      if (p.contains("rope_theta")) c.rope_theta = p["rope_theta"].get<double>();
      scaling = &p;
    }
    if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) scaling = &j["rope_scaling"];
    if (scaling) {
      const std::string type = scaling->value("rope_type", scaling->value("type", "default"));
      if (type == "llama3") {
        c.rope_scaling.factor = scaling->at("factor").get<double>();
        c.rope_scaling.low_freq_factor = scaling->value("low_freq_factor", 1.0);
        c.rope_scaling.high_freq_factor = scaling->value("high_freq_factor", 4.0);
        c.rope_scaling.original_max_position_embeddings =
            scaling->value("original_max_position_embeddings", std::int64_t{8192});
      } else if (type != "default") {
        throw InputError(name + ": rope type '" + type +
                         "' is not supported; the supported rope types are "
                         "default and llama3");
      }
    }
  } catch (const json::exception& e) {
    throw InputError(name + ": malformed field: " + e.what());
  }
  c.validate(name);
  return c;
}

std::string llama_config_json(const LlamaConfig& c, const std::string& torch_dtype) {
  json j = {{"architectures", {"LlamaForCausalLM"}},
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
            {"torch_dtype", torch_dtype}};
  if (c.rope_scaling.factor > 0) {
    j["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", c.rope_scaling.factor},
        {"low_freq_factor", c.rope_scaling.low_freq_factor},
        {"high_freq_factor", c.rope_scaling.high_freq_factor},
        {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  return j.dump(2) + "\n";
}

std::vector<double> rope_inverse_frequencies(const LlamaConfig& c) {
  const int half = c.head_dim / 2;
  std::vector<double> inv(static_cast<std::size_t>(half));
  for (int i = 0; i < half; ++i)
    inv[static_cast<std::size_t>(i)] = 1.0 / std::pow(c.rope_theta, 2.0 * i / c.head_dim);
  if (c.rope_scaling.factor > 0) {
    // transformers' _compute_llama3_parameters.
    const auto& s = c.rope_scaling;
    const double old_len = static_cast<double>(s.original_max_position_embeddings);
    const double low_wavelen = old_len / s.low_freq_factor;
    const double high_wavelen = old_len / s.high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2 * M_PI / f;
      if (wavelen > low_wavelen) {
        f = f / s.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth =
            (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1 - smooth) * f / s.factor + smooth * f;
      }
    }
  }
  if (!c.rope_scaling.freq_divisors.empty()) {
    if (c.rope_scaling.freq_divisors.size() != inv.size())
      throw InputError("rope_freqs: " + std::to_string(c.rope_scaling.freq_divisors.size()) +
                       " frequency divisors for " + std::to_string(inv.size()) +
                       " frequencies (head_dim / 2)");
    for (std::size_t i = 0; i < inv.size(); ++i)
      inv[i] /= static_cast<double>(c.rope_scaling.freq_divisors[i]);
  }
  if (c.rope_scaling.linear_factor > 0)
    for (double& f : inv)
      f /= c.rope_scaling.linear_factor;
  return inv;
}

std::vector<float> reorder_rope_rows(std::span<const float> rows, std::int64_t heads, std::int64_t head_dim,
                                     std::int64_t in, RopePairs from, RopePairs to) {
  if (static_cast<std::int64_t>(rows.size()) != heads * head_dim * in)
    throw Error("reorder_rope_rows: " + std::to_string(rows.size()) + " values for " + std::to_string(heads) +
                " heads of " + std::to_string(head_dim) + " rows of " + std::to_string(in));
  if (from == to) return {rows.begin(), rows.end()};
  // Half-split row j · half + i is adjacent row 2i + j (j = 0, 1).
  const std::int64_t half = head_dim / 2;
  std::vector<float> out(rows.size());
  for (std::int64_t h = 0; h < heads; ++h) {
    for (std::int64_t j = 0; j < 2; ++j) {
      for (std::int64_t i = 0; i < half; ++i) {
        const std::int64_t split = h * head_dim + j * half + i, adjacent = h * head_dim + 2 * i + j;
        const std::int64_t src = from == RopePairs::half_split ? split : adjacent;
        const std::int64_t dst = from == RopePairs::half_split ? adjacent : split;
        std::copy_n(rows.begin() + src * in, in, out.begin() + dst * in);
      }
    }
  }
  return out;
}

}  // namespace ralm::llama
