#include "ralm/llama_format/config.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "ralm/error.hpp"

namespace ralm::llama {

using nlohmann::json;

const char* architecture_name(Architecture a) {
  switch (a) {
    case Architecture::qwen2:
      return "qwen2";
    case Architecture::mistral:
      return "mistral";
    default:
      return "llama";
  }
}

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
  const std::string arch = architecture_name(architecture);
  // Each architecture's extras, as its transformers class has them: what
  // config.json can say, so what a saved model can carry.
  if (qkv_bias != (architecture == Architecture::qwen2))
    throw InputError(source + ": " + arch + (qkv_bias ? " has no" : " has") + " q, k and v biases");
  if (sliding_window < 0)
    throw InputError(source + ": sliding_window must be positive (or null for none), got " +
                     std::to_string(sliding_window));
  if (sliding_window > 0) {
    if (architecture == Architecture::llama)
      throw InputError(source + ": llama has no sliding window; a windowed model is mistral or qwen2");
    if (windowed_layers.size() != static_cast<std::size_t>(num_layers))
      throw InputError(source + ": the sliding window names " + std::to_string(windowed_layers.size()) +
                       " layers, but the model has " + std::to_string(num_layers));
    if (architecture == Architecture::mistral &&
        std::find(windowed_layers.begin(), windowed_layers.end(), false) != windowed_layers.end())
      throw InputError(source + ": mistral's sliding window applies to every layer");
  }
}

std::int64_t LlamaConfig::parameter_count() const {
  const std::int64_t h = hidden_size, q = std::int64_t{num_heads} * head_dim,
                     kv = std::int64_t{num_kv_heads} * head_dim;
  const std::int64_t per_layer =
      h * q + 2 * h * kv + q * h + 3 * h * intermediate_size + 2 * h + (qkv_bias ? q + 2 * kv : 0);
  const std::int64_t embeddings = std::int64_t{vocab_size} * h * (tie_word_embeddings ? 1 : 2);
  return embeddings + per_layer * num_layers + h;
}

namespace {

// A count, id or size of config.json: a JSON integer that fits Int. Read
// with nlohmann's get<Int>(), a float out of Int's range is undefined
// behaviour and a larger integer wraps silently.
template <class Int>
Int integer_field(const json& value, const std::string& field, const std::string& name) {
  using limits = std::numeric_limits<Int>;
  const bool fits =
      value.is_number_unsigned() ? value.get<std::uint64_t>() <= static_cast<std::uint64_t>(limits::max())
      : value.is_number_integer()
          ? value.get<std::int64_t>() >= limits::min() && value.get<std::int64_t>() <= limits::max()
          : false;
  if (!fits)
    throw InputError(name + ": " + field + " is " + value.dump() + "; it must be an integer from " +
                     std::to_string(limits::min()) + " to " + std::to_string(limits::max()));
  return static_cast<Int>(value.get<std::int64_t>());
}

// The integer field `key` of `object` (reported as `field`), or `absent`
// when it is missing or null.
template <class Int>
Int integer_field_or(const json& object, const char* key, const std::string& field, Int absent,
                     const std::string& name) {
  if (!object.contains(key) || object[key].is_null()) return absent;
  return integer_field<Int>(object[key], field, name);
}

// The architecture config.json declares: its model_type, or without one its
// architectures list; nullopt when neither names one of the family.
std::optional<Architecture> declared_architecture(const json& config) {
  if (!config.is_object()) return std::nullopt;
  const std::pair<const char*, Architecture> known[] = {
      {"llama", Architecture::llama}, {"qwen2", Architecture::qwen2}, {"mistral", Architecture::mistral}};
  if (config.contains("model_type") && config["model_type"].is_string()) {
    for (const auto& [name, a] : known)
      if (config["model_type"] == name) return a;
    return std::nullopt;
  }
  const std::pair<const char*, Architecture> classes[] = {{"LlamaForCausalLM", Architecture::llama},
                                                          {"Qwen2ForCausalLM", Architecture::qwen2},
                                                          {"MistralForCausalLM", Architecture::mistral}};
  if (config.contains("architectures") && config["architectures"].is_array()) {
    for (const auto& a : config["architectures"])
      for (const auto& [name, arch] : classes)
        if (a == name) return arch;
  }
  return std::nullopt;
}

// The rotary scaling config.json asks for, into `c`; `field` is where it
// was found (rope_scaling or rope_parameters), for the error.
void read_rope_scaling(const json& scaling, const std::string& field, const std::string& name,
                       LlamaConfig& c) {
  const char* type_key = scaling.contains("rope_type") ? "rope_type" : "type";
  const std::string type = scaling.value(type_key, "default");
  if (type == "llama3") {
    c.rope_scaling.factor = scaling.at("factor").get<double>();
    c.rope_scaling.low_freq_factor = scaling.value("low_freq_factor", 1.0);
    c.rope_scaling.high_freq_factor = scaling.value("high_freq_factor", 4.0);
    c.rope_scaling.original_max_position_embeddings = integer_field_or<std::int64_t>(
        scaling, "original_max_position_embeddings", field + ".original_max_position_embeddings", 8192, name);
  } else if (type == "linear") {
    // transformers' linear scaling divides every frequency by the factor.
    c.rope_scaling.linear_factor = scaling.at("factor").get<double>();
    if (!(c.rope_scaling.linear_factor > 0))
      throw InputError(name + ": " + field + ".factor must be positive for linear rope scaling");
  } else if (type != "default") {
    throw InputError(name + ": " + field + "." + type_key + " '" + type +
                     "' is not supported; the supported rope types are default, linear and llama3");
  }
  if (scaling.contains("partial_rotary_factor") && scaling["partial_rotary_factor"].is_number() &&
      scaling["partial_rotary_factor"].get<double>() != 1.0)
    throw InputError(name + ": " + field +
                     ".partial_rotary_factor is not supported; rotary embeddings turn whole heads");
}

// Which layers slide: Qwen2's layer_types when given, else the layers from
// max_window_layers on (transformers' Qwen2Config).
std::vector<bool> qwen2_windowed_layers(const json& j, std::int32_t layers, const std::string& name) {
  std::vector<bool> windowed(static_cast<std::size_t>(std::max(layers, 0)));
  if (j.contains("layer_types") && j["layer_types"].is_array()) {
    const json& types = j["layer_types"];
    if (types.size() != windowed.size())
      throw InputError(name + ": layer_types has " + std::to_string(types.size()) + " entries for " +
                       std::to_string(layers) + " layers (num_hidden_layers)");
    for (std::size_t l = 0; l < windowed.size(); ++l) {
      if (types[l] != "sliding_attention" && types[l] != "full_attention")
        throw InputError(name + ": layer_types[" + std::to_string(l) + "] is " + types[l].dump() +
                         "; the supported layer types are full_attention and sliding_attention");
      windowed[l] = types[l] == "sliding_attention";
    }
    return windowed;
  }
  const std::int64_t first =
      integer_field_or<std::int64_t>(j, "max_window_layers", "max_window_layers", 28, name);
  for (std::size_t l = 0; l < windowed.size(); ++l)
    windowed[l] = static_cast<std::int64_t>(l) >= first;
  return windowed;
}

}  // namespace

bool is_llama_checkpoint(const std::filesystem::path& dir) {
  std::ifstream in(dir / "config.json");
  if (!in) return false;
  const json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  return !j.is_discarded() && declared_architecture(j).has_value();
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
  const auto arch = declared_architecture(j);
  if (!arch) {
    const bool has_type = j.is_object() && j.contains("model_type"),
               has_classes = j.is_object() && j.contains("architectures");
    const std::string classes = has_classes ? "architectures " + j["architectures"].dump() : "";
    const std::string declared =
        has_type      ? "model_type " + j["model_type"].dump() + (has_classes ? " (" + classes + ")" : "")
        : has_classes ? classes
                      : std::string("no model_type");
    throw InputError(name + ": " + declared +
                     " is not supported; model_type must be llama, qwen2 or mistral (LlamaForCausalLM, "
                     "Qwen2ForCausalLM, MistralForCausalLM)");
  }
  LlamaConfig c;
  c.architecture = *arch;
  auto need = [&](const char* field) -> std::int32_t {
    if (!j.contains(field) || j[field].is_null()) throw InputError(name + ": missing field " + field);
    return integer_field<std::int32_t>(j[field], field, name);
  };
  auto optional = [&](const char* field, std::int32_t absent) {
    return integer_field_or<std::int32_t>(j, field, field, absent, name);
  };
  // Settings the plugin does not compute: refused by name, never ignored.
  auto refuse_true = [&](const char* field, const char* what) {
    if (j.contains(field) && j[field].is_boolean() && j[field].get<bool>())
      throw InputError(name + ": " + field + " is true (" + what +
                       "), which the llama plugin does not compute; only false is supported");
  };
  try {
    if (j.contains("hidden_act") && j["hidden_act"] != "silu")
      throw InputError(name + ": hidden_act " + j["hidden_act"].dump() +
                       " is not supported; the feed-forward block computes SiLU(gate) · up (\"silu\")");
    if (j.contains("quantization_config") && !j["quantization_config"].is_null())
      throw InputError(name +
                       ": quantization_config: quantized safetensors checkpoints are not read; convert "
                       "the model to GGUF (llama.cpp's convert_hf_to_gguf.py) and point `path` at the file");
    if (c.architecture == Architecture::llama) {
      refuse_true("attention_bias", "biases on q, k, v and o");
      refuse_true("mlp_bias", "biases on the feed-forward products");
    }
    c.vocab_size = need("vocab_size");
    c.hidden_size = need("hidden_size");
    c.intermediate_size = need("intermediate_size");
    c.num_layers = need("num_hidden_layers");
    c.num_heads = need("num_attention_heads");
    // Absent, LlamaConfig makes it num_attention_heads; Qwen2Config and
    // MistralConfig have other defaults (32, 8), so those must say it.
    c.num_kv_heads = c.architecture == Architecture::llama ? optional("num_key_value_heads", c.num_heads)
                                                           : need("num_key_value_heads");
    c.head_dim = optional("head_dim", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
    c.max_position_embeddings = optional("max_position_embeddings", 2048);
    c.rms_norm_eps = j.value("rms_norm_eps", 1e-6);
    c.tie_word_embeddings = j.value("tie_word_embeddings", false);
    c.qkv_bias = c.architecture == Architecture::qwen2;  // Qwen2Attention: q, k, v with bias, o without
    if (j.contains("bos_token_id") && j["bos_token_id"].is_number())
      c.bos_token_id = integer_field<std::int32_t>(j["bos_token_id"], "bos_token_id", name);
    if (j.contains("eos_token_id") && j["eos_token_id"].is_number())
      c.eos_token_id = integer_field<std::int32_t>(j["eos_token_id"], "eos_token_id", name);
    if (j.contains("eos_token_id") && j["eos_token_id"].is_array() && !j["eos_token_id"].empty()) {
      c.eos_token_id = integer_field<std::int32_t>(j["eos_token_id"][0], "eos_token_id[0]", name);
    }
    // The rotary base has three spellings: Llama 2's top-level rope_theta,
    // transformers 5's rope_parameters.rope_theta, and Llama 3's rope_theta
    // beside rope_scaling {rope_type: llama3}. Absent: 10000.
    if (j.contains("rope_theta") && j["rope_theta"].is_number()) c.rope_theta = j["rope_theta"].get<double>();
    if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
      const json& p = j["rope_parameters"];
      if (p.contains("rope_theta")) c.rope_theta = p["rope_theta"].get<double>();
      read_rope_scaling(p, "rope_parameters", name, c);
    }
    if (j.contains("rope_scaling") && j["rope_scaling"].is_object())
      read_rope_scaling(j["rope_scaling"], "rope_scaling", name, c);
    if (j.contains("partial_rotary_factor") && j["partial_rotary_factor"].is_number() &&
        j["partial_rotary_factor"].get<double>() != 1.0)
      throw InputError(name + ": partial_rotary_factor is not supported; rotary embeddings turn whole heads");
    // The sliding window: Mistral's sliding_window (null: none) slides every
    // layer; Qwen2's only when use_sliding_window, in the layers
    // qwen2_windowed_layers picks. LlamaConfig has none (transformers
    // ignores the key there, and so does this reader).
    const bool windowed = c.architecture == Architecture::mistral ||
                          (c.architecture == Architecture::qwen2 && j.value("use_sliding_window", false));
    if (windowed && j.contains("sliding_window") && !j["sliding_window"].is_null()) {
      const json& w = j["sliding_window"];
      if (!w.is_number_integer() || w.get<std::int64_t>() <= 0)
        throw InputError(name + ": sliding_window is " + w.dump() +
                         "; it must be a positive number of positions, or null for none");
      c.sliding_window = integer_field<std::int32_t>(w, "sliding_window", name);
      c.windowed_layers = c.architecture == Architecture::qwen2
                              ? qwen2_windowed_layers(j, c.num_layers, name)
                              : std::vector<bool>(static_cast<std::size_t>(std::max(c.num_layers, 0)), true);
    } else if (windowed && c.architecture == Architecture::qwen2) {
      throw InputError(name +
                       ": use_sliding_window is true but sliding_window is missing; give the window "
                       "size, or set use_sliding_window false");
    }
  } catch (const json::exception& e) {
    throw InputError(name + ": malformed field: " + e.what());
  }
  c.validate(name);
  return c;
}

std::string llama_config_json(const LlamaConfig& c, const std::string& torch_dtype) {
  json j = {{"model_type", architecture_name(c.architecture)},
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
            {"torch_dtype", torch_dtype}};
  switch (c.architecture) {
    case Architecture::llama:
      j["architectures"] = {"LlamaForCausalLM"};
      j["attention_bias"] = false;
      j["mlp_bias"] = false;
      break;
    case Architecture::mistral:
      j["architectures"] = {"MistralForCausalLM"};
      j["sliding_window"] = c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr);
      break;
    case Architecture::qwen2: {
      j["architectures"] = {"Qwen2ForCausalLM"};
      j["use_sliding_window"] = c.sliding_window > 0;
      j["sliding_window"] = c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr);
      // layer_types says exactly which layers slide; max_window_layers is
      // the first of them for readers that predate layer_types.
      json types = json::array();
      std::int32_t first = c.num_layers;
      for (std::int32_t l = 0; l < c.num_layers; ++l) {
        const bool slides = c.window(l) > 0;
        types.push_back(slides ? "sliding_attention" : "full_attention");
        if (slides) first = std::min(first, l);
      }
      j["max_window_layers"] = first;
      j["layer_types"] = types;
      break;
    }
  }
  if (c.rope_scaling.factor > 0) {
    j["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", c.rope_scaling.factor},
        {"low_freq_factor", c.rope_scaling.low_freq_factor},
        {"high_freq_factor", c.rope_scaling.high_freq_factor},
        {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}};
  } else if (c.rope_scaling.linear_factor > 0 && c.rope_scaling.freq_divisors.empty()) {
    j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", c.rope_scaling.linear_factor}};
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
