#include "gguf_model.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "quant_matrix.hpp"
#include "ralm/error.hpp"
#include "ralm/gguf/gguf_file.hpp"
#include "ralm/gguf/quants.hpp"
#include "ralm/hf_tokenizer/hf_tokenizer.hpp"
#include "ralm/llama_format/tokenizers.hpp"

namespace ralm::llama {
namespace {

using gguf::GgmlType;

std::string where(const gguf::File& f) {
  return f.path().string();
}

std::int32_t get_count(const gguf::File& f, const std::string& key) {
  const std::uint64_t v = f.get_uint(key);
  if (v == 0 || v > (std::uint64_t{1} << 30))
    throw InputError(where(f) + ": metadata '" + key + "' is " + std::to_string(v) + ", outside 1.." +
                     std::to_string(std::uint64_t{1} << 30));
  return static_cast<std::int32_t>(v);
}

LlamaConfig read_config(const gguf::File& f) {
  const std::string arch = f.get_string("general.architecture");
  if (arch != "llama" && arch != "qwen2")
    throw InputError(where(f) + ": general.architecture is '" + arch +
                     "'; this build reads the 'llama' and 'qwen2' architectures from GGUF files");
  const std::string a = arch + ".";
  LlamaConfig c;
  c.architecture = arch == "qwen2" ? Architecture::qwen2 : Architecture::llama;
  c.qkv_bias = c.architecture == Architecture::qwen2;
  c.hidden_size = get_count(f, a + "embedding_length");
  c.intermediate_size = get_count(f, a + "feed_forward_length");
  c.num_layers = get_count(f, a + "block_count");
  c.num_heads = get_count(f, a + "attention.head_count");
  c.num_kv_heads =
      f.find_uint(a + "attention.head_count_kv") ? get_count(f, a + "attention.head_count_kv") : c.num_heads;
  if (c.hidden_size % c.num_heads != 0)
    throw InputError(where(f) + ": " + a + "embedding_length " + std::to_string(c.hidden_size) +
                     " is not a multiple of " + a + "attention.head_count " + std::to_string(c.num_heads));
  c.head_dim = f.find_uint(a + "attention.key_length") ? get_count(f, a + "attention.key_length")
                                                       : c.hidden_size / c.num_heads;
  if (const auto rot = f.find_uint(a + "rope.dimension_count");
      rot && static_cast<std::int64_t>(*rot) != c.head_dim)
    throw InputError(where(f) + ": " + a + "rope.dimension_count is " + std::to_string(*rot) +
                     " but heads are " + std::to_string(c.head_dim) +
                     " wide; partial rotary embeddings are not supported");
  c.max_position_embeddings = get_count(f, a + "context_length");
  c.rms_norm_eps = f.get_float(a + "attention.layer_norm_rms_epsilon");
  c.rope_theta = f.find_float(a + "rope.freq_base").value_or(10000.0);
  if (const auto type = f.find_string(a + "rope.scaling.type"); type && *type != "none") {
    if (*type != "linear")
      throw InputError(where(f) + ": " + a + "rope.scaling.type '" + *type +
                       "' is not supported (none and linear are)");
    c.rope_scaling.linear_factor = f.get_float(a + "rope.scaling.factor");
  }
  // llama.cpp's converter reorders llama's q and k rows for GGML's "normal"
  // rotary on adjacent pairs; qwen2's it leaves as they are, for the "neox"
  // rotary on Hugging Face's halves.
  c.rope_pairs = c.architecture == Architecture::qwen2 ? RopePairs::half_split : RopePairs::adjacent;
  // llama.cpp's converter writes Mistral as 'llama' without its window, and
  // llama.cpp attends to the whole context in both architectures; a window
  // key written by another tool makes a llama file a Mistral model.
  if (const auto window = f.find_uint(a + "attention.sliding_window"); window && *window > 0) {
    if (c.architecture == Architecture::qwen2)
      throw InputError(where(f) + ": " + a +
                       "attention.sliding_window is set, but a qwen2 file does not say which layers slide; "
                       "load the Hugging Face folder (use_sliding_window, max_window_layers) instead");
    c.architecture = Architecture::mistral;
    c.sliding_window = static_cast<std::int32_t>(std::min<std::uint64_t>(*window, std::uint64_t{1} << 30));
    c.windowed_layers.assign(static_cast<std::size_t>(c.num_layers), true);
  }
  const auto* embd = f.find_tensor("token_embd.weight");
  if (!embd) throw InputError(where(f) + ": the file has no tensor 'token_embd.weight'");
  c.vocab_size = static_cast<std::int32_t>(embd->rows());
  if (const auto v = f.find_uint(a + "vocab_size"); v && static_cast<std::int64_t>(*v) != c.vocab_size)
    throw InputError(where(f) + ": " + a + "vocab_size is " + std::to_string(*v) +
                     " but token_embd.weight has " + std::to_string(c.vocab_size) + " rows");
  c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  c.bos_token_id = static_cast<std::int32_t>(f.find_uint("tokenizer.ggml.bos_token_id").value_or(1));
  c.eos_token_id = static_cast<std::int32_t>(f.find_uint("tokenizer.ggml.eos_token_id").value_or(2));
  if (const auto* freqs = f.find_tensor("rope_freqs.weight")) {
    if (freqs->type != GgmlType::F32)
      throw InputError(where(f) + ": tensor 'rope_freqs.weight' is " +
                       std::string(gguf::type_name(freqs->type)) + "; it must be f32");
    const auto* d = reinterpret_cast<const float*>(freqs->data);
    c.rope_scaling.freq_divisors.assign(d, d + freqs->elements());
  }
  c.validate(where(f));
  return c;
}

// GGUF's byte-level BPE vocabulary, through the tokenizer.json engine.
std::unique_ptr<Tokenizer> read_gpt2_tokenizer(const gguf::File& f, const LlamaConfig& c) {
  hf::GgufBpeVocab v;
  v.tokens = f.get_string_array("tokenizer.ggml.tokens");
  v.merges = f.get_string_array("tokenizer.ggml.merges");
  for (const std::int64_t t : f.get_int_array("tokenizer.ggml.token_type"))
    v.token_types.push_back(static_cast<std::int32_t>(t));
  v.pre = f.find_string("tokenizer.ggml.pre").value_or("gpt2");
  v.bos = c.bos_token_id;
  v.eos = c.eos_token_id;
  v.add_bos = f.find_bool("tokenizer.ggml.add_bos_token").value_or(false);
  v.add_eos = f.find_bool("tokenizer.ggml.add_eos_token").value_or(false);
  if (static_cast<std::int64_t>(v.tokens.size()) > c.vocab_size)
    throw InputError(where(f) + ": tokenizer.ggml.tokens has " + std::to_string(v.tokens.size()) +
                     " entries but token_embd.weight only " + std::to_string(c.vocab_size) + " rows");
  return hf::make_gguf_bpe_tokenizer(v, where(f));
}

std::unique_ptr<Tokenizer> read_tokenizer(const gguf::File& f, const LlamaConfig& c) {
  const auto model = f.find_string("tokenizer.ggml.model");
  if (!model || *model == "none")
    return make_ids_only_tokenizer(c.vocab_size, c.bos_token_id, c.eos_token_id);
  if (*model == "gpt2") return read_gpt2_tokenizer(f, c);
  if (*model != "llama")
    throw InputError(where(f) + ": tokenizer.ggml.model '" + *model +
                     "' is not supported yet (the 'llama' SentencePiece and 'gpt2' BPE vocabularies are)");
  SentencePieceVocab v;
  v.pieces = f.get_string_array("tokenizer.ggml.tokens");
  v.scores = f.get_float_array("tokenizer.ggml.scores");
  for (const std::int64_t t : f.get_int_array("tokenizer.ggml.token_type")) {
    if (t < 1 || t > 6)
      throw InputError(where(f) + ": tokenizer.ggml.token_type holds " + std::to_string(t) +
                       ", not a SentencePiece piece type (1..6)");
    v.types.push_back(static_cast<PieceType>(t));
  }
  if (v.scores.size() != v.pieces.size() || v.types.size() != v.pieces.size())
    throw InputError(where(f) + ": tokenizer.ggml.tokens has " + std::to_string(v.pieces.size()) +
                     " entries but tokenizer.ggml.scores " + std::to_string(v.scores.size()) +
                     " and tokenizer.ggml.token_type " + std::to_string(v.types.size()));
  v.unk = static_cast<TokenId>(f.find_uint("tokenizer.ggml.unknown_token_id").value_or(0));
  v.bos = c.bos_token_id;
  v.eos = c.eos_token_id;
  v.add_dummy_prefix = f.find_bool("tokenizer.ggml.add_space_prefix").value_or(true);
  v.remove_extra_whitespaces = f.find_bool("tokenizer.ggml.remove_extra_whitespaces").value_or(false);
  return make_sentencepiece_tokenizer(v, c.vocab_size, where(f) + ": tokenizer.ggml.tokens");
}

// A tensor's values as float32, exactly (f32, f16 and bf16 tensors).
std::vector<float> float_values(const gguf::TensorInfo& t) {
  std::vector<float> v(static_cast<std::size_t>(t.elements()));
  gguf::dequantize_row(t.type, t.data, v.data(), t.elements());
  return v;
}

// Builds the matrices of the named tensors (each `in` wide, rows stacked
// in order), checking each is rows × in: quantized tensors of one type
// become one zero-copy QuantMatrix, float ones one PackedMatrix.
class MatrixBuilder {
 public:
  MatrixBuilder(const gguf::File& f, std::optional<WeightType> float_type) : f_(f), float_type_(float_type) {}

  WeightMatrix build(const std::vector<std::pair<std::string, std::int64_t>>& tensors,
                     std::int64_t in) const {
    std::vector<WeightMatrix> parts;
    std::size_t i = 0;
    while (i < tensors.size()) {
      const auto& first = tensor(tensors[i].first, tensors[i].second, in);
      std::size_t j = i + 1;
      while (j < tensors.size() && same_kind(first, tensor(tensors[j].first, tensors[j].second, in)))
        ++j;
      parts.push_back(gguf::is_quantized(first.type) ? quantized(tensors, i, j, in)
                                                     : packed(tensors, i, j, in));
      i = j;
    }
    return WeightMatrix::stack(std::move(parts));
  }

 private:
  const gguf::TensorInfo& tensor(const std::string& name, std::int64_t rows, std::int64_t in) const {
    const auto& t = f_.tensor(name);
    if (t.dims.size() != 2 || t.row_length() != in || t.rows() != rows)
      throw InputError(where(f_) + ": tensor '" + name + "' has shape " + shape(t) +
                       " but the metadata makes it [" + std::to_string(in) + ", " + std::to_string(rows) +
                       "]");
    switch (t.type) {
      case GgmlType::F32:
      case GgmlType::F16:
      case GgmlType::BF16:
      case GgmlType::Q8_0:
      case GgmlType::Q4_0:
      case GgmlType::Q4_K:
      case GgmlType::Q6_K:
        return t;
      default:
        throw InputError(where(f_) + ": tensor '" + name + "' is " + std::string(gguf::type_name(t.type)) +
                         ", which the llama plugin does not compute with");
    }
  }
  static std::string shape(const gguf::TensorInfo& t) {
    std::string s = "[";
    for (std::size_t d = 0; d < t.dims.size(); ++d)
      s += (d ? ", " : "") + std::to_string(t.dims[d]);
    return s + "]";
  }
  WeightType packed_type(GgmlType t) const {
    if (t == GgmlType::BF16) return WeightType::bf16;
    return float_type_.value_or(WeightType::f32);
  }
  bool same_kind(const gguf::TensorInfo& a, const gguf::TensorInfo& b) const {
    if (gguf::is_quantized(a.type) || gguf::is_quantized(b.type)) return a.type == b.type;
    return packed_type(a.type) == packed_type(b.type);
  }
  WeightMatrix quantized(const std::vector<std::pair<std::string, std::int64_t>>& tensors, std::size_t i,
                         std::size_t j, std::int64_t in) const {
    std::vector<QuantMatrix::Segment> segments;
    GgmlType type = GgmlType::Q8_0;
    for (std::size_t k = i; k < j; ++k) {
      const auto& t = f_.tensor(tensors[k].first);
      type = t.type;
      segments.push_back({t.data, t.rows()});
    }
    return WeightMatrix(QuantMatrix(type, in, std::move(segments)));
  }
  WeightMatrix packed(const std::vector<std::pair<std::string, std::int64_t>>& tensors, std::size_t i,
                      std::size_t j, std::int64_t in) const {
    // Row o of the stack: its tensor and row within it.
    std::vector<std::pair<const gguf::TensorInfo*, std::int64_t>> rows;
    for (std::size_t k = i; k < j; ++k) {
      const auto& t = f_.tensor(tensors[k].first);
      for (std::int64_t r = 0; r < t.rows(); ++r)
        rows.emplace_back(&t, r);
    }
    const WeightType type = packed_type(f_.tensor(tensors[i].first).type);
    WeightMatrix m(
        PackedMatrix(static_cast<std::int64_t>(rows.size()), in, type, [&](std::int64_t o, float* row) {
          const auto& [t, r] = rows[static_cast<std::size_t>(o)];
          const std::size_t row_bytes = gguf::row_bytes(t->type, in);
          gguf::dequantize_row(t->type, t->data + static_cast<std::size_t>(r) * row_bytes, row, in);
          // A panel's rows read, their mapped pages go: resident memory
          // stays near one copy of the weights while the largest is packed.
          if (r % PackedMatrix::kPanel == PackedMatrix::kPanel - 1) {
            gguf::TensorInfo done = *t;
            done.data = t->data + static_cast<std::size_t>(r + 1 - PackedMatrix::kPanel) * row_bytes;
            done.bytes = static_cast<std::size_t>(PackedMatrix::kPanel) * row_bytes;
            f_.release(done);
          }
        }));
    // The packed copy replaces the mapped pages.
    for (std::size_t k = i; k < j; ++k)
      f_.release(f_.tensor(tensors[k].first));
    return m;
  }

  const gguf::File& f_;
  std::optional<WeightType> float_type_;
};

// A vector tensor (a norm's weights, a bias) as float32.
std::vector<float> vector_tensor(const gguf::File& f, const std::string& name, std::int64_t n) {
  const auto& t = f.tensor(name);
  if (t.elements() != n || gguf::is_quantized(t.type))
    throw InputError(where(f) + ": tensor '" + name + "' must hold " + std::to_string(n) +
                     " float weights (it holds " + std::to_string(t.elements()) + " " +
                     std::string(gguf::type_name(t.type)) + ")");
  return float_values(t);
}

std::string weight_types_detail(const gguf::File& f) {
  std::map<std::string, std::int64_t> count;
  for (const auto& t : f.tensors())
    ++count[std::string(gguf::type_name(t.type))];
  std::string s;
  for (const auto& [type, n] : count)
    s += (s.empty() ? "" : ", ") + type + " × " + std::to_string(n);
  return s;
}

}  // namespace

bool is_gguf_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string_view(magic, 4) == "GGUF";
}

std::unique_ptr<LlamaModel> load_gguf_model(const std::filesystem::path& path, int threads,
                                            std::int32_t context, std::optional<WeightType> float_type) {
  auto file = std::make_shared<const gguf::File>(path);
  const gguf::File& f = *file;
  const LlamaConfig c = read_config(f);
  auto tokenizer = read_tokenizer(f, c);
  const std::int64_t h = c.hidden_size, ff = c.intermediate_size, v = c.vocab_size;
  const std::int64_t q_dim = std::int64_t{c.num_heads} * c.head_dim,
                     kv_dim = std::int64_t{c.num_kv_heads} * c.head_dim;
  const MatrixBuilder build(f, float_type);
  ModelMatrices m;
  for (std::int32_t l = 0; l < c.num_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    LayerMatrices layer;
    layer.attn_norm = vector_tensor(f, b + "attn_norm.weight", h);
    layer.ffn_norm = vector_tensor(f, b + "ffn_norm.weight", h);
    layer.qkv = build.build(
        {{b + "attn_q.weight", q_dim}, {b + "attn_k.weight", kv_dim}, {b + "attn_v.weight", kv_dim}}, h);
    if (c.qkv_bias) {
      for (const auto& [tensor, n] :
           {std::pair{"attn_q.bias", q_dim}, {"attn_k.bias", kv_dim}, {"attn_v.bias", kv_dim}}) {
        const auto bias = vector_tensor(f, b + tensor, n);
        layer.qkv_bias.insert(layer.qkv_bias.end(), bias.begin(), bias.end());
      }
    }
    layer.wo = build.build({{b + "attn_output.weight", h}}, q_dim);
    layer.gate_up = build.build({{b + "ffn_gate.weight", ff}, {b + "ffn_up.weight", ff}}, h);
    layer.down = build.build({{b + "ffn_down.weight", h}}, ff);
    m.layers.push_back(std::move(layer));
  }
  m.final_norm = vector_tensor(f, "output_norm.weight", h);
  m.output = build.build({{c.tie_word_embeddings ? "token_embd.weight" : "output.weight", v}}, h);
  m.embed = build.build({{"token_embd.weight", v}}, h);
  m.storage = file;
  const WeightType dtype = float_type.value_or(WeightType::f32);
  auto model = std::make_unique<LlamaModel>(c, std::move(m), std::move(tokenizer), threads, context, dtype);
  model->add_detail("checkpoint", path.string());
  model->add_detail("format", "GGUF v" + std::to_string(f.version()));
  if (const auto name = f.find_string("general.name")) model->add_detail("name", *name);
  model->add_detail("weights on disk", weight_types_detail(f));
  // The file's own metadata, as llama.cpp's tools list it (arrays shortened).
  for (const auto& [key, value] : f.metadata())
    model->add_detail("gguf " + key, value.to_string());
  const std::string vocabulary = f.find_string("tokenizer.ggml.model").value_or("none");
  model->add_detail("tokenizer", vocabulary == "llama" ? "sentencepiece (from the GGUF vocabulary)"
                                 : vocabulary == "gpt2"
                                     ? "BPE byte-level (from the GGUF vocabulary, pre-tokenizer " +
                                           f.find_string("tokenizer.ggml.pre").value_or("gpt2") + ")"
                                     : "ids only (no vocabulary in the file)");
  return model;
}

}  // namespace ralm::llama
