#include "gguf_export.hpp"

#include <algorithm>

#include "ralm/error.hpp"
#include "ralm/gguf/gguf_writer.hpp"
#include "ralm/gguf/quants.hpp"
#include "ralm/llama_format/sentencepiece_vocab.hpp"
#include "ralm/progress.hpp"
#include "shared_kernels.hpp"

namespace ralm::llama {
namespace {

using gguf::GgmlType;
using gguf::Value;

struct FileType {
  std::string name;
  std::uint32_t llama_ftype;  // llama.h's llama_ftype, stored as general.file_type
  GgmlType base;              // the type of most matrices
};

const std::vector<FileType>& file_types() {
  static const std::vector<FileType> types = {
      {"f32", 0, GgmlType::F32},   {"f16", 1, GgmlType::F16},   {"bf16", 32, GgmlType::BF16},
      {"q8_0", 7, GgmlType::Q8_0}, {"q4_0", 2, GgmlType::Q4_0}, {"q4_k_m", 15, GgmlType::Q4_K},
  };
  return types;
}

// llama.cpp's use_more_bits (llama-quant.cpp): the layers q4_k_m gives six
// bits in attn_v and ffn_down, the first and last eighth and every third.
bool more_bits(std::int64_t layer, std::int64_t layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

// The type llama-quantize (without an importance matrix) gives a matrix
// `in` wide; `layer` is -1 outside the blocks.
GgmlType matrix_type(const FileType& ft, const std::string& name, std::int64_t layer, std::int64_t layers,
                     std::int64_t in) {
  GgmlType t = ft.base;
  if (!gguf::is_quantized(t)) return t;
  if (name == "output.weight") {
    if (in % gguf::kQK_K != 0) return GgmlType::Q8_0;
    if (t != GgmlType::Q8_0) t = GgmlType::Q6_K;
  } else if (ft.name == "q4_k_m" && (name.ends_with("attn_v.weight") || name.ends_with("ffn_down.weight")) &&
             more_bits(layer, layers)) {
    t = GgmlType::Q6_K;
  }
  // A k-quant needs rows of whole 256-weight super-blocks; llama.cpp falls
  // back to types this project does not compute with, this writer to q8_0.
  if (in % gguf::traits(t).block_size != 0) t = in % gguf::kQK8_0 == 0 ? GgmlType::Q8_0 : GgmlType::F16;
  return t;
}

std::string file_type_list() {
  std::string s;
  for (const auto& t : file_types())
    s += (s.empty() ? "" : ", ") + t.name;
  return s;
}

}  // namespace

const std::vector<std::string>& gguf_file_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& t : file_types())
      n.push_back(t.name);
    return n;
  }();
  return names;
}

void save_gguf_model(const std::filesystem::path& file, const LlamaConfig& c, const LlamaWeights& w,
                     const Tokenizer& tokenizer, const std::vector<AddedToken>& added,
                     const std::string& type, bool overwrite, int threads) {
  const auto ft = std::find_if(file_types().begin(), file_types().end(),
                               [&](const FileType& t) { return t.name == type; });
  if (ft == file_types().end())
    throw InputError(file.string() + ": unknown GGUF type '" + type + "'; choose one of " + file_type_list());
  if (!overwrite && std::filesystem::exists(file))
    throw InputError(
        file.string() +
        ": the file exists; choose another name, or replace it (ralm model convert|quantize --force)");
  if (c.rope_scaling.factor > 0 || c.rope_scaling.linear_factor > 0 || !c.rope_scaling.freq_divisors.empty())
    throw InputError(file.string() + ": writing rotary scaling to GGUF is not supported yet");
  if (c.architecture != Architecture::llama)
    throw InputError(file.string() + ": this writer makes GGUF files of the llama architecture; a " +
                     architecture_name(c.architecture) +
                     " model (its biases or sliding window) cannot be written to one yet; save it as a "
                     "Hugging Face folder");

  gguf::Writer out;
  const std::string a = "llama.";
  out.set("general.architecture", Value::string("llama"));
  out.set("general.name", Value::string(file.stem().string()));
  out.set("general.file_type", Value::uint32(ft->llama_ftype));
  if (gguf::is_quantized(ft->base)) out.set("general.quantization_version", Value::uint32(2));
  out.set(a + "vocab_size", Value::uint32(static_cast<std::uint32_t>(c.vocab_size)));
  out.set(a + "context_length", Value::uint32(static_cast<std::uint32_t>(c.max_position_embeddings)));
  out.set(a + "embedding_length", Value::uint32(static_cast<std::uint32_t>(c.hidden_size)));
  out.set(a + "block_count", Value::uint32(static_cast<std::uint32_t>(c.num_layers)));
  out.set(a + "feed_forward_length", Value::uint32(static_cast<std::uint32_t>(c.intermediate_size)));
  out.set(a + "rope.dimension_count", Value::uint32(static_cast<std::uint32_t>(c.head_dim)));
  out.set(a + "attention.head_count", Value::uint32(static_cast<std::uint32_t>(c.num_heads)));
  out.set(a + "attention.head_count_kv", Value::uint32(static_cast<std::uint32_t>(c.num_kv_heads)));
  out.set(a + "attention.layer_norm_rms_epsilon", Value::float32(static_cast<float>(c.rms_norm_eps)));
  out.set(a + "rope.freq_base", Value::float32(static_cast<float>(c.rope_theta)));
  if (c.head_dim * c.num_heads != c.hidden_size)
    out.set(a + "attention.key_length", Value::uint32(static_cast<std::uint32_t>(c.head_dim)));
  if (auto vocab = sentencepiece_vocab(tokenizer)) {
    // Ids past the SentencePiece model's: the added tokens, and unused
    // pieces for ids nothing names.
    for (auto id = static_cast<TokenId>(vocab->pieces.size()); id < c.vocab_size; ++id) {
      const auto named =
          std::find_if(added.begin(), added.end(), [&](const AddedToken& t) { return t.id == id; });
      vocab->pieces.push_back(named != added.end() ? named->content : "<unused" + std::to_string(id) + ">");
      vocab->scores.push_back(0.0f);
      vocab->types.push_back(named != added.end() ? PieceType::user_defined : PieceType::unused);
    }
    out.set("tokenizer.ggml.model", Value::string("llama"));
    out.set("tokenizer.ggml.tokens", Value::string_array(vocab->pieces));
    out.set("tokenizer.ggml.scores", Value::float32_array(vocab->scores));
    std::vector<std::int32_t> types;
    for (const auto t : vocab->types)
      types.push_back(static_cast<std::int32_t>(t));
    out.set("tokenizer.ggml.token_type", Value::int32_array(types));
    out.set("tokenizer.ggml.unknown_token_id", Value::uint32(static_cast<std::uint32_t>(vocab->unk)));
    out.set("tokenizer.ggml.add_space_prefix", Value::boolean(vocab->add_dummy_prefix));
  } else {
    out.set("tokenizer.ggml.model", Value::string("none"));
  }
  out.set("tokenizer.ggml.bos_token_id", Value::uint32(static_cast<std::uint32_t>(c.bos_token_id)));
  out.set("tokenizer.ggml.eos_token_id", Value::uint32(static_cast<std::uint32_t>(c.eos_token_id)));
  out.set("tokenizer.ggml.add_bos_token", Value::boolean(true));

  // Each tensor is converted when the writer reaches it, its rows on
  // `threads`: nothing is copied ahead. llama.cpp's converter reorders q's
  // and k's rows for GGML's rotary embedding (config.hpp's RopePairs):
  // `rope_heads` > 0 reorders them here.
  std::size_t tensors = 0;
  const auto matrix = [&](const std::string& name, const std::vector<float>& values, std::int64_t rows,
                          std::int64_t in, std::int64_t layer, std::int64_t rope_heads = 0) {
    const GgmlType t = matrix_type(*ft, name, layer, c.num_layers, in);
    const std::size_t row_bytes = gguf::row_bytes(t, in);
    const std::int64_t head_dim = c.head_dim;
    out.add_tensor(name, t, {in, rows},
                   [&values, t, row_bytes, rows, in, rope_heads, head_dim, threads](std::byte* dst) {
                     std::vector<float> reordered;
                     if (rope_heads > 0)
                       reordered = reorder_rope_rows(values, rope_heads, head_dim, in, RopePairs::half_split,
                                                     RopePairs::adjacent);
                     const float* src = rope_heads > 0 ? reordered.data() : values.data();
                     parallel_for(rows * in >= kMinParallelWork ? threads : 1, rows, [&](std::int64_t r) {
                       gguf::quantize_row(t, src + r * in, dst + static_cast<std::size_t>(r) * row_bytes, in);
                     });
                   });
    ++tensors;
  };
  const auto vector = [&](const std::string& name, const std::vector<float>& values) {
    const auto n = static_cast<std::int64_t>(values.size());
    out.add_tensor(name, GgmlType::F32, {n}, [&values, n](std::byte* dst) {
      gguf::quantize_row(GgmlType::F32, values.data(), dst, n);
    });
    ++tensors;
  };
  const std::int64_t h = c.hidden_size, ff = c.intermediate_size;
  const std::int64_t q_dim = std::int64_t{c.num_heads} * c.head_dim,
                     kv_dim = std::int64_t{c.num_kv_heads} * c.head_dim;
  matrix("token_embd.weight", w.embed, c.vocab_size, h, -1);
  for (std::int64_t l = 0; l < c.num_layers; ++l) {
    const auto& lw = w.layers[static_cast<std::size_t>(l)];
    const std::string b = "blk." + std::to_string(l) + ".";
    vector(b + "attn_norm.weight", lw.attn_norm);
    matrix(b + "attn_q.weight", lw.wq, q_dim, h, l, c.num_heads);
    matrix(b + "attn_k.weight", lw.wk, kv_dim, h, l, c.num_kv_heads);
    matrix(b + "attn_v.weight", lw.wv, kv_dim, h, l);
    matrix(b + "attn_output.weight", lw.wo, h, q_dim, l);
    vector(b + "ffn_norm.weight", lw.ffn_norm);
    matrix(b + "ffn_gate.weight", lw.w_gate, ff, h, l);
    matrix(b + "ffn_up.weight", lw.w_up, ff, h, l);
    matrix(b + "ffn_down.weight", lw.w_down, h, ff, l);
  }
  vector("output_norm.weight", w.final_norm);
  if (!c.tie_word_embeddings) matrix("output.weight", w.output_matrix(), c.vocab_size, h, -1);

  Progress progress("writing " + file.filename().string(), static_cast<std::int64_t>(tensors), "tensors");
  out.write(file, [&](std::size_t done, std::size_t) { progress.set(static_cast<std::int64_t>(done)); });
  progress.finish();
}

}  // namespace ralm::llama
