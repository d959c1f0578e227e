#include "bert_config.hpp"

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "ralm/error.hpp"

namespace ralm::dense {

using nlohmann::json;

std::int64_t BertConfig::parameter_count() const {
  const std::int64_t h = hidden_size, f = intermediate_size;
  const std::int64_t embeddings = (vocab_size + max_position_embeddings + type_vocab_size) * h + 2 * h;
  const std::int64_t per_layer = 4 * (h * h + h) + 2 * h * f + f + h + 4 * h;
  return embeddings + num_layers * per_layer;
}

BertConfig read_bert_config(const std::filesystem::path& dir) {
  const std::string name = (dir / "config.json").string();
  std::ifstream in(dir / "config.json");
  if (!in) {
    throw InputError(name +
                     ": no config.json; `checkpoint` must be a Hugging Face BERT-family checkpoint folder");
  }
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw InputError(name + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw InputError(name + ": not a JSON object");
  BertConfig c;
  c.model_type = j.value("model_type", "");
  if (c.model_type != "bert" && c.model_type != "dpr" && c.model_type != "roberta" &&
      c.model_type != "xlm-roberta") {
    throw InputError(name + ": model_type \"" + c.model_type +
                     "\" is not a BERT-family encoder; the bert encoder reads model_type bert, dpr, roberta "
                     "and xlm-roberta");
  }
  auto need = [&](const char* field) -> std::int64_t {
    if (!j.contains(field) || !j[field].is_number_integer()) {
      throw InputError(name + ": field " + field + " is missing or not an integer");
    }
    const std::int64_t v = j[field].get<std::int64_t>();
    if (v <= 0) throw InputError(name + ": field " + field + " must be positive, got " + std::to_string(v));
    return v;
  };
  auto text = [&](const char* field, const char* fallback) -> std::string {
    if (!j.contains(field) || j[field].is_null()) return fallback;
    if (!j[field].is_string()) throw InputError(name + ": field " + field + " is not a string");
    return j[field].get<std::string>();
  };
  c.vocab_size = need("vocab_size");
  c.hidden_size = need("hidden_size");
  c.num_layers = need("num_hidden_layers");
  c.num_heads = need("num_attention_heads");
  c.intermediate_size = need("intermediate_size");
  c.max_position_embeddings = need("max_position_embeddings");
  c.type_vocab_size = j.contains("type_vocab_size") ? need("type_vocab_size") : 2;
  if (j.contains("layer_norm_eps")) {
    if (!j["layer_norm_eps"].is_number() || !(j["layer_norm_eps"].get<double>() > 0))
      throw InputError(name + ": field layer_norm_eps must be a positive number");
    c.layer_norm_eps = j["layer_norm_eps"].get<double>();
  }
  if (c.hidden_size % c.num_heads != 0) {
    throw InputError(name + ": hidden_size (" + std::to_string(c.hidden_size) +
                     ") must be a multiple of num_attention_heads (" + std::to_string(c.num_heads) + ")");
  }
  // transformers' "gelu" is the exact, erf-based GELU; the tanh
  // approximations ("gelu_new", ...) would give other vectors.
  if (const std::string act = text("hidden_act", "gelu"); act != "gelu") {
    throw InputError(name + ": hidden_act \"" + act +
                     "\" is not supported; the bert encoder computes gelu (erf)");
  }
  if (const std::string pos = text("position_embedding_type", "absolute"); pos != "absolute") {
    throw InputError(name + ": position_embedding_type \"" + pos +
                     "\" is not supported; the bert encoder adds absolute position embeddings");
  }
  if (j.contains("projection_dim") &&
      !(j["projection_dim"].is_number_integer() && j["projection_dim"] == 0)) {
    throw InputError(name + ": projection_dim " + j["projection_dim"].dump() +
                     " is not supported; the bert encoder reads DPR encoders without a projection (0)");
  }
  if (c.model_type == "roberta" || c.model_type == "xlm-roberta") {
    if (j.contains("pad_token_id") &&
        !(j["pad_token_id"].is_number_integer() && j["pad_token_id"].get<std::int64_t>() >= 0 &&
          j["pad_token_id"].get<std::int64_t>() <= std::numeric_limits<std::int32_t>::max()))
      throw InputError(name + ": field pad_token_id is not an integer from 0 to 2147483647");
    const std::int64_t pad = j.contains("pad_token_id") ? j["pad_token_id"].get<std::int64_t>() : 1;
    c.position_offset = pad + 1;
    if (c.max_tokens() < 1) {
      throw InputError(name + ": max_position_embeddings (" + std::to_string(c.max_position_embeddings) +
                       ") leaves no position after pad_token_id + 1");
    }
  }
  return c;
}

}  // namespace ralm::dense
