#include "llama_model.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

#include "ralm/error.hpp"
#include "shared_kernels.hpp"

namespace ralm::llama {

namespace {

// Bytes of one layer's keys (or values) for a sequence of `context` positions.
std::size_t kv_layer_bytes(const LlamaConfig& c, std::int32_t context, KvCacheType type) {
  return static_cast<std::size_t>(context) * static_cast<std::size_t>(c.num_kv_heads) *
         static_cast<std::size_t>(c.head_dim) * kv_cache_element_bytes(type);
}

// Bytes of a sequence's keys (or values), all layers: a buffer of the pool.
std::size_t kv_buffer_bytes(const LlamaConfig& c, std::int32_t context, KvCacheType type) {
  return static_cast<std::size_t>(c.num_layers) * kv_layer_bytes(c, context, type);
}

}  // namespace

LlamaSequence::LlamaSequence(const LlamaConfig& c, std::int32_t context, KvCacheType kv_type,
                             std::shared_ptr<KvBufferPool> pool)
    : context_(context),
      head_dim_(c.head_dim),
      kv_type_(kv_type),
      layer_bytes_(kv_layer_bytes(c, context, kv_type)),
      pool_(std::move(pool)),
      k_(pool_->take()),
      v_(pool_->take()) {}

LlamaSequence::~LlamaSequence() {
  pool_->give_back(std::move(k_));
  pool_->give_back(std::move(v_));
}

void LlamaSequence::truncate(std::int32_t n) {
  if (n < 0 || n > length()) {
    throw Error("truncate to " + std::to_string(n) + " tokens, but the sequence holds " +
                std::to_string(length()));
  }
  // Keys and values past n are simply overwritten by the next evaluation.
  tokens_.resize(static_cast<std::size_t>(n));
}

// The same tokens and cache in buffers of its own: per layer and KV head,
// the positions written so far (the rest of a buffer is never read).
std::unique_ptr<Sequence> LlamaSequence::clone() const {
  auto copy = std::unique_ptr<LlamaSequence>(new LlamaSequence(*this, pool_));
  const std::size_t element = kv_cache_element_bytes(kv_type_);
  const std::size_t written = tokens_.size() * static_cast<std::size_t>(head_dim_) * element;
  const std::size_t run = static_cast<std::size_t>(context_) * static_cast<std::size_t>(head_dim_) * element;
  for (std::size_t at = 0; at < pool_->bytes(); at += run) {
    std::copy_n(k_.get() + at, written, copy->k_.get() + at);
    std::copy_n(v_.get() + at, written, copy->v_.get() + at);
  }
  return copy;
}

LlamaSequence::LlamaSequence(const LlamaSequence& other, std::shared_ptr<KvBufferPool> pool)
    : context_(other.context_),
      head_dim_(other.head_dim_),
      kv_type_(other.kv_type_),
      layer_bytes_(other.layer_bytes_),
      tokens_(other.tokens_),
      pool_(std::move(pool)),
      k_(pool_->take()),
      v_(pool_->take()) {}

namespace {

// Frees a weight vector once it is packed, so loading peaks near one copy.
void release(std::vector<float>& v) {
  std::vector<float>().swap(v);
}

}  // namespace

ModelMatrices pack_weights(const LlamaConfig& config, LlamaWeights weights, WeightType dtype) {
  const std::int64_t h = config.hidden_size, ff = config.intermediate_size;
  const std::int64_t q_dim = std::int64_t{config.num_heads} * config.head_dim;
  ModelMatrices m;
  for (auto& w : weights.layers) {
    LayerMatrices l;
    l.attn_norm = std::move(w.attn_norm);
    l.ffn_norm = std::move(w.ffn_norm);
    const std::span<const float> qkv[] = {w.wq, w.wk, w.wv};
    l.qkv = WeightMatrix(PackedMatrix(qkv, h, dtype));
    // Biases stay f32 whatever the weights' dtype, as norms do.
    for (const auto* b : {&w.bq, &w.bk, &w.bv})
      l.qkv_bias.insert(l.qkv_bias.end(), b->begin(), b->end());
    const std::span<const float> gate_up[] = {w.w_gate, w.w_up};
    l.gate_up = WeightMatrix(PackedMatrix(gate_up, h, dtype));
    l.wo = WeightMatrix(PackedMatrix(w.wo, h, q_dim, dtype));
    l.down = WeightMatrix(PackedMatrix(w.w_down, h, ff, dtype));
    for (auto* v : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down})
      release(*v);
    m.layers.push_back(std::move(l));
  }
  m.output = WeightMatrix(PackedMatrix(weights.output_matrix(), config.vocab_size, h, dtype));
  release(weights.lm_head);
  m.embed = WeightMatrix(PackedMatrix(weights.embed, config.vocab_size, h, dtype));
  release(weights.embed);
  m.final_norm = std::move(weights.final_norm);
  return m;
}

LlamaModel::LlamaModel(LlamaConfig config, LlamaWeights weights, std::unique_ptr<Tokenizer> tokenizer,
                       int threads, std::int32_t context, WeightType dtype)
    : LlamaModel(config, pack_weights(config, std::move(weights), dtype), std::move(tokenizer), threads,
                 context, dtype) {}

LlamaModel::LlamaModel(LlamaConfig config, ModelMatrices matrices, std::unique_ptr<Tokenizer> tokenizer,
                       int threads, std::int32_t context, WeightType dtype)
    : config_(std::move(config)),
      tokenizer_(std::make_unique<AddedTokensTokenizer>(std::move(tokenizer), config_.vocab_size)),
      threads_(std::max(1, threads)),
      context_(context > 0 ? context : config_.max_position_embeddings),
      kv_pool_(std::make_shared<KvBufferPool>(kv_buffer_bytes(config_, context_, kv_type_))),
      dtype_(dtype),
      kernels_(default_kernel_set()),
      inv_freq_(rope_inverse_frequencies(config_)) {
  // Cosines and sines per position, computed once: up to 2^20 floats (4 MiB);
  // positions past the table are computed per call, the same way.
  const std::int64_t row = 2 * static_cast<std::int64_t>(inv_freq_.size());
  const std::int64_t positions =
      std::min<std::int64_t>(context_, (std::int64_t{1} << 20) / std::max<std::int64_t>(row, 1));
  rope_table_.resize(static_cast<std::size_t>(positions * row));
  for (std::int64_t p = 0; p < positions; ++p)
    rope_angles_into(p, rope_table_.data() + p * row);
  const std::int64_t h = config_.hidden_size, ff = config_.intermediate_size;
  const std::int64_t q_dim = std::int64_t{config_.num_heads} * config_.head_dim;
  const std::int64_t kv_dim = std::int64_t{config_.num_kv_heads} * config_.head_dim;
  const auto expect = [&](const WeightMatrix& w, std::int64_t out, std::int64_t in, const std::string& what) {
    if (w.out() != out || w.in() != in)
      throw InputError("llama: " + what + " is " + std::to_string(w.out()) + " × " + std::to_string(w.in()) +
                       " but the config makes it " + std::to_string(out) + " × " + std::to_string(in));
  };
  if (static_cast<std::int64_t>(matrices.layers.size()) != config_.num_layers)
    throw InputError("llama: " + std::to_string(matrices.layers.size()) + " layers of weights for " +
                     std::to_string(config_.num_layers) + " layers");
  for (std::size_t i = 0; i < matrices.layers.size(); ++i) {
    const auto& l = matrices.layers[i];
    const std::string at = "layer " + std::to_string(i) + "'s ";
    expect(l.qkv, q_dim + 2 * kv_dim, h, at + "q, k and v");
    const std::size_t biases = config_.qkv_bias ? static_cast<std::size_t>(q_dim + 2 * kv_dim) : 0;
    if (l.qkv_bias.size() != biases)
      throw InputError("llama: " + at + "q, k and v biases are " + std::to_string(l.qkv_bias.size()) +
                       " values but the config makes them " + std::to_string(biases));
    expect(l.wo, h, q_dim, at + "output projection");
    expect(l.gate_up, 2 * ff, h, at + "gate and up projections");
    expect(l.down, h, ff, at + "down projection");
  }
  expect(matrices.embed, config_.vocab_size, h, "the embedding table");
  expect(matrices.output, config_.vocab_size, h, "the output matrix");
  layers_ = std::move(matrices.layers);
  embed_ = std::move(matrices.embed);
  output_ = std::move(matrices.output);
  final_norm_ = std::move(matrices.final_norm);
  storage_ = std::move(matrices.storage);
}

void LlamaModel::set_kv_cache_type(KvCacheType type) {
  if (type == kv_type_) return;
  kv_type_ = type;
  // A pool of the new size; sequences made before keep theirs.
  kv_pool_ = std::make_shared<KvBufferPool>(kv_buffer_bytes(config_, context_, kv_type_));
}

void LlamaModel::set_kernel_set(KernelSet set) {
  if (!kernel_set_supported(set)) {
    throw Error(std::string("llama: the ") + kernel_set_name(set) +
                " kernels are not available in this build or on this CPU");
  }
  kernels_ = set;
}

std::size_t LlamaModel::streamed_weight_bytes() const {
  std::size_t bytes = output_.bytes();
  for (const auto& l : layers_)
    bytes += l.qkv.bytes() + l.wo.bytes() + l.gate_up.bytes() + l.down.bytes();
  return bytes;
}

std::string LlamaModel::weight_types() const {
  std::vector<std::string> names;
  const auto add = [&](const WeightMatrix& m) {
    for (auto& n : m.type_names())
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(std::move(n));
  };
  add(embed_);
  for (const auto& l : layers_)
    for (const auto* m : {&l.qkv, &l.wo, &l.gate_up, &l.down})
      add(*m);
  add(output_);
  std::string s;
  for (const auto& n : names)
    s += (s.empty() ? "" : ", ") + n;
  return s;
}

std::size_t LlamaModel::weight_bytes() const {
  std::size_t bytes = streamed_weight_bytes() + embed_.bytes() + final_norm_.size() * 4;
  for (const auto& l : layers_)
    bytes += (l.attn_norm.size() + l.ffn_norm.size()) * 4;
  return bytes;
}

void LlamaModel::embed(TokenId token, float* out) const {
  const auto h = static_cast<std::size_t>(config_.hidden_size);
  if (active_ && !active_->embed_rows.empty()) {
    if (const auto it = active_->embed_rows.find(token); it != active_->embed_rows.end()) {
      std::copy_n(it->second.begin(), h, out);
      return;
    }
  }
  embed_.row_into(token, out);
}

TokenId LlamaModel::add_special_token(std::string_view name) {
  if (const auto id = tokenizer_->special(name)) return *id;
  if (name.empty()) throw InputError("llama: a special token needs a non-empty name");
  for (const auto& [adapter, loaded] : adapters_) {
    if (loaded.carries_vocabulary) {
      throw InputError(
          "llama: cannot add " + std::string(name) + " after loading adapter '" + adapter +
          "', which carries embedding rows for the current vocabulary; add special tokens first");
    }
  }
  const std::int64_t h = config_.hidden_size, v = config_.vocab_size;
  const auto sz = [](std::int64_t x) { return static_cast<std::size_t>(x); };
  // Means in double, over the rows as the model holds them.
  std::vector<double> mean(sz(h));
  std::vector<float> row(sz(h));
  for (std::int64_t t = 0; t < v; ++t) {
    embed(static_cast<TokenId>(t), row.data());
    for (std::int64_t i = 0; i < h; ++i)
      mean[sz(i)] += row[sz(i)];
  }
  std::vector<float> new_embed(sz(h));
  for (std::int64_t i = 0; i < h; ++i)
    new_embed[sz(i)] = static_cast<float>(mean[sz(i)] / static_cast<double>(v));
  embed_.append_rows(new_embed);
  if (config_.tie_word_embeddings) {
    output_.append_rows(new_embed);
  } else {
    std::fill(mean.begin(), mean.end(), 0.0);
    for (std::int64_t t = 0; t < v; ++t) {
      output_.row_into(t, row.data());
      for (std::int64_t i = 0; i < h; ++i)
        mean[sz(i)] += row[sz(i)];
    }
    for (std::int64_t i = 0; i < h; ++i)
      row[sz(i)] = static_cast<float>(mean[sz(i)] / static_cast<double>(v));
    output_.append_rows(row);
  }
  config_.vocab_size = static_cast<std::int32_t>(v + 1);
  const auto id = static_cast<TokenId>(v);
  tokenizer_->add(std::string(name), id);
  return id;
}

void LlamaModel::register_added_token(const AddedToken& token) {
  if (token.id < 0 || token.id >= config_.vocab_size) {
    throw InputError("llama: added token " + token.content + " has id " + std::to_string(token.id) +
                     ", outside the vocabulary of " + std::to_string(config_.vocab_size));
  }
  tokenizer_->add(token.content, token.id);
}

LlamaWeights LlamaModel::weights() const {
  if (!merged_originals_.empty())
    throw Error("llama: weights() while merged adapter '" + active_name_ +
                "' is active; deactivate it first");
  return unpacked_weights(false);
}

namespace {
// Rows [r0, r1) of a row-major matrix `in` wide.
std::vector<float> row_range(const std::vector<float>& w, std::int64_t r0, std::int64_t r1, std::int64_t in) {
  return {w.begin() + static_cast<std::ptrdiff_t>(r0 * in), w.begin() + static_cast<std::ptrdiff_t>(r1 * in)};
}
}  // namespace

LlamaWeights LlamaModel::unpacked_weights(bool fold_unmerged) const {
  const std::int64_t h = config_.hidden_size, q_dim = std::int64_t{config_.num_heads} * config_.head_dim,
                     kv_dim = std::int64_t{config_.num_kv_heads} * config_.head_dim,
                     ff = config_.intermediate_size;
  LlamaWeights w;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    const LayerLora* lora = fold_unmerged ? unmerged(static_cast<std::int32_t>(i)) : nullptr;
    auto matrix = [&](const WeightMatrix& m, LoraDelta LayerLora::*delta) {
      std::vector<float> v = m.unpack();
      if (lora && !(lora->*delta).empty()) (lora->*delta).merge_into(v);
      return v;
    };
    const std::vector<float> qkv = matrix(l.qkv, &LayerLora::qkv),
                             gate_up = matrix(l.gate_up, &LayerLora::gate_up);
    LayerWeights lw;
    lw.attn_norm = l.attn_norm;
    lw.ffn_norm = l.ffn_norm;
    // Checkpoints hold q and k in Hugging Face's rotary layout.
    const auto pairs = config_.rope_pairs;
    lw.wq = reorder_rope_rows(row_range(qkv, 0, q_dim, h), config_.num_heads, config_.head_dim, h, pairs,
                              RopePairs::half_split);
    lw.wk = reorder_rope_rows(row_range(qkv, q_dim, q_dim + kv_dim, h), config_.num_kv_heads,
                              config_.head_dim, h, pairs, RopePairs::half_split);
    lw.wv = row_range(qkv, q_dim + kv_dim, q_dim + 2 * kv_dim, h);
    if (!l.qkv_bias.empty()) {
      lw.bq = reorder_rope_rows(row_range(l.qkv_bias, 0, q_dim, 1), config_.num_heads, config_.head_dim, 1,
                                pairs, RopePairs::half_split);
      lw.bk = reorder_rope_rows(row_range(l.qkv_bias, q_dim, q_dim + kv_dim, 1), config_.num_kv_heads,
                                config_.head_dim, 1, pairs, RopePairs::half_split);
      lw.bv = row_range(l.qkv_bias, q_dim + kv_dim, q_dim + 2 * kv_dim, 1);
    }
    lw.wo = matrix(l.wo, &LayerLora::wo);
    lw.w_gate = row_range(gate_up, 0, ff, h);
    lw.w_up = row_range(gate_up, ff, 2 * ff, h);
    lw.w_down = matrix(l.down, &LayerLora::down);
    w.layers.push_back(std::move(lw));
  }
  w.embed = embed_.unpack();
  w.final_norm = final_norm_;
  if (!config_.tie_word_embeddings) w.lm_head = output_.unpack();
  return w;
}

LlamaWeights LlamaModel::merged_weights() const {
  if (!active_) return weights();
  // Merged mode: the packed matrices already hold W + scale · B·A.
  LlamaWeights w = unpacked_weights(true);
  const auto h = static_cast<std::size_t>(config_.hidden_size);
  for (const auto& [id, row] : active_->embed_rows)
    std::copy_n(row.begin(), h,
                w.embed.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(id) * h));
  // Tied embeddings: the embedding rows just placed serve the output too, as
  // in PEFT; untied: the adapter's output matrix.
  if (active_->output && !config_.tie_word_embeddings) w.lm_head = active_->output->unpack();
  return w;
}

void LlamaModel::add_detail(std::string key, std::string value) {
  loader_details_.emplace_back(std::move(key), std::move(value));
}

void LlamaModel::rope_angles_into(std::int64_t position, float* out) const {
  const std::size_t half = inv_freq_.size();
  for (std::size_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(position) * inv_freq_[i];
    out[i] = static_cast<float>(std::cos(angle));
    out[half + i] = static_cast<float>(std::sin(angle));
  }
}

const float* LlamaModel::rope_angles(std::int64_t position, float* scratch) const {
  const std::size_t row = inv_freq_.size() * 2;
  if (static_cast<std::size_t>(position) * row < rope_table_.size())
    return rope_table_.data() + static_cast<std::size_t>(position) * row;
  rope_angles_into(position, scratch);
  return scratch;
}

namespace {

// "none", or the window and the layers it applies to ("8 positions, all
// layers", "4096 positions, layers 2, 3").
std::string sliding_window_detail(const LlamaConfig& c) {
  if (c.sliding_window == 0) return "none";
  std::string layers;
  std::int32_t count = 0;
  for (std::int32_t l = 0; l < c.num_layers; ++l) {
    if (c.window(l) == 0) continue;
    layers += (layers.empty() ? "" : ", ") + std::to_string(l);
    ++count;
  }
  return std::to_string(c.sliding_window) + " positions, " +
         (count == c.num_layers ? std::string("all layers")
          : count == 0          ? std::string("no layer")
                                : "layers " + layers);
}

}  // namespace

ModelInfo LlamaModel::info() const {
  ModelInfo i;
  i.architecture = architecture_name(config_.architecture);
  i.vocab_size = config_.vocab_size;
  i.context_length = context_;
  i.hidden_size = config_.hidden_size;
  i.num_layers = config_.num_layers;
  i.key_dim = config_.hidden_size;
  i.parameters = config_.parameter_count();
  i.kv_bytes_per_token = std::int64_t{2} * config_.num_layers * config_.num_kv_heads * config_.head_dim *
                         static_cast<std::int64_t>(kv_cache_element_bytes(kv_type_));
  const auto number = [](double v) {
    std::ostringstream out;
    out << v;
    return out.str();
  };
  const auto token = [&](TokenId id) {
    return std::to_string(id) + (id >= 0 && id < tokenizer_->vocab_size() ? " " + tokenizer_->piece(id) : "");
  };
  const auto& c = config_;
  auto& d = i.details;
  d = {{"heads", std::to_string(c.num_heads)},
       {"kv heads", std::to_string(c.num_kv_heads)},
       {"head size", std::to_string(c.head_dim)},
       {"intermediate size", std::to_string(c.intermediate_size)},
       {"max position embeddings", std::to_string(c.max_position_embeddings)},
       {"rope base", number(c.rope_theta)},
       {"rope pairs", c.rope_pairs == RopePairs::adjacent ? "adjacent (GGUF)" : "half split (Hugging Face)"},
       {"rope scaling",
        !c.rope_scaling.freq_divisors.empty() ? "per-frequency divisors (rope_freqs)"
        : c.rope_scaling.linear_factor > 0    ? "linear factor " + number(c.rope_scaling.linear_factor)
        : c.rope_scaling.factor > 0           ? "llama3 factor " + number(c.rope_scaling.factor) + ", low " +
                                          number(c.rope_scaling.low_freq_factor) + ", high " +
                                          number(c.rope_scaling.high_freq_factor) + ", original context " +
                                          std::to_string(c.rope_scaling.original_max_position_embeddings)
                                    : "none"},
       {"attention biases", c.qkv_bias ? "q, k, v" : "none"},
       {"sliding window", sliding_window_detail(c)},
       {"norm eps", number(c.rms_norm_eps)},
       {"tied embeddings", c.tie_word_embeddings ? "yes" : "no"},
       {"weights in memory", weight_types()},
       {"weight bytes", std::to_string(weight_bytes())},
       {"kv cache", kv_cache_type_name(kv_type_)},
       {"kernels", kernel_set_name(kernels_)},
       {"threads", std::to_string(threads_)},
       {"bos", token(tokenizer_->bos())},
       {"eos", token(tokenizer_->eos())}};
  d.insert(d.end(), loader_details_.begin(), loader_details_.end());
  std::string added;
  for (const auto& a : tokenizer_->added())
    added += (added.empty() ? "" : ", ") + a.content + " " + std::to_string(a.id);
  d.emplace_back("added tokens", added.empty() ? "none" : added);
  std::string adapters;
  for (const auto& name : adapter_names())
    adapters += (adapters.empty() ? "" : ", ") + name + (name == active_name_ ? " (active)" : "");
  d.emplace_back("adapters", adapters.empty() ? "none" : adapters);
  if (!adapters.empty()) d.emplace_back("adapter mode", merge_ ? "merged" : "unmerged");
  return i;
}

std::unique_ptr<Sequence> LlamaModel::new_sequence() {
  return std::make_unique<LlamaSequence>(config_, context_, kv_type_, kv_pool_);
}

namespace {

// Turns each pair of a head's dimensions by the angle whose cosine and sine
// are cs[i] and cs[half + i]: pair i is (i, i + d/2) in Hugging Face's
// rotate-half layout, (2i, 2i + 1) in GGUF's (config.hpp's RopePairs).
void apply_rope(float* x, std::int32_t heads, std::int32_t head_dim, const float* cs, RopePairs pairs) {
  const std::int32_t half = head_dim / 2;
  const std::int32_t first_step = pairs == RopePairs::adjacent ? 2 : 1;
  const std::int32_t second_offset = pairs == RopePairs::adjacent ? 1 : half;
  for (std::int32_t i = 0; i < half; ++i) {
    const float c = cs[i], s = cs[half + i];
    for (std::int32_t h = 0; h < heads; ++h) {
      float* v = x + static_cast<std::size_t>(h) * static_cast<std::size_t>(head_dim) +
                 static_cast<std::size_t>(i * first_step);
      const float a = v[0], b = v[second_offset];
      v[0] = a * c - b * s;
      v[second_offset] = b * c + a * s;
    }
  }
}

// Writes n values at element `at` of a layer's keys or values: as they are
// in an f32 cache, rounded to nearest even in a bf16 one.
void store_in_cache(std::byte* cache, KvCacheType type, std::int64_t at, const float* x, std::int64_t n) {
  if (type == KvCacheType::bf16) {
    std::uint16_t* out = reinterpret_cast<std::uint16_t*>(cache) + at;
    for (std::int64_t i = 0; i < n; ++i)
      out[i] = f32_to_bf16(x[i]);
  } else {
    std::copy_n(x, n, reinterpret_cast<float*>(cache) + at);
  }
}

// Each of n rows of `width` gets `bias` added, by rows on the pool when large.
void add_bias(float* x, const float* bias, std::int64_t n, std::int64_t width, int threads) {
  parallel_for(n * width >= kMinParallelWork / 4 ? threads : 1, n, [&](std::int64_t r) {
    float* row = x + r * width;
    for (std::int64_t i = 0; i < width; ++i)
      row[i] += bias[i];
  });
}

// x += y over n rows of h, by rows on the pool when large.
void add_rows(float* x, const float* y, std::int64_t n, std::int64_t h, int threads) {
  parallel_for(n * h >= kMinParallelWork / 4 ? threads : 1, n, [&](std::int64_t r) {
    for (std::int64_t i = r * h; i < (r + 1) * h; ++i)
      x[i] += y[i];
  });
}

}  // namespace

EvalResult LlamaModel::eval(Sequence& seq, std::span<const TokenId> tokens, const EvalOptions& options) {
  Sequence* one = &seq;
  return eval_batch(std::span(&one, 1), std::span(&tokens, 1), options).front();
}

std::vector<EvalResult> LlamaModel::eval_batch(std::span<Sequence* const> seqs,
                                               std::span<const std::span<const TokenId>> tokens,
                                               const EvalOptions& options) {
  if (seqs.size() != tokens.size()) {
    throw Error("llama: eval_batch() was given " + std::to_string(seqs.size()) + " sequences but " +
                std::to_string(tokens.size()) + " token lists");
  }
  const auto& c = config_;
  const auto sz = [](std::int64_t v) { return static_cast<std::size_t>(v); };
  // Each sequence's new tokens are a run of rows; every row-wise step below
  // (norms, products, the feed-forward block) runs once over all the rows, so
  // each weight is read once for the whole batch. A row's bits do not depend
  // on the other rows (kernels.hpp), so a sequence gets what eval() alone
  // gives it.
  struct Segment {
    LlamaSequence* seq;
    std::span<const TokenId> tokens;
    std::int64_t start;  // the sequence's length before this call
    std::int64_t row;    // its first row
  };
  std::vector<Segment> segments;
  std::int64_t n = 0;
  for (std::size_t s = 0; s < seqs.size(); ++s) {
    auto* seq = dynamic_cast<LlamaSequence*>(seqs[s]);
    if (!seq) throw Error("llama: eval() was given a sequence made by another model");
    for (std::size_t other = 0; other < s; ++other) {
      if (segments[other].seq == seq) throw Error("llama: eval_batch() was given the same sequence twice");
    }
    const std::int64_t count = static_cast<std::int64_t>(tokens[s].size());
    if (count == 0) throw InputError("llama: eval() needs at least one new token");
    const std::int64_t start = seq->length();
    if (start + count > seq->context()) {
      throw InputError("llama: " + std::to_string(start + count) + " tokens exceed the context length of " +
                       std::to_string(seq->context()));
    }
    for (TokenId t : tokens[s]) {
      if (t < 0 || t >= c.vocab_size) {
        throw InputError("llama: token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                         std::to_string(c.vocab_size - 1) + ")");
      }
    }
    segments.push_back({seq, tokens[s], start, n});
    n += count;
  }
  if (segments.empty()) return {};

  const std::int64_t h = c.hidden_size, hd = c.head_dim, nh = c.num_heads, nkv = c.num_kv_heads;
  const std::int64_t q_dim = nh * hd, kv_dim = nkv * hd, ff = c.intermediate_size;
  const std::int64_t qkv_dim = q_dim + 2 * kv_dim;
  const std::int64_t group = nh / nkv;

  // Each row's sequence and position.
  std::vector<std::int32_t> row_segment(sz(n));
  for (std::size_t s = 0; s < segments.size(); ++s)
    std::fill_n(row_segment.begin() + segments[s].row, segments[s].tokens.size(),
                static_cast<std::int32_t>(s));

  // qkv: each row is q, then k, then v; gate_up: gate, then up.
  std::vector<float> x(sz(n * h)), xn(sz(n * h)), qkv(sz(n * qkv_dim));
  std::vector<float> attn(sz(n * q_dim)), proj(sz(n * h)), gate_up(sz(n * 2 * ff));
  std::vector<EvalResult> results(segments.size());

  for (std::int64_t r = 0; r < n; ++r) {
    const Segment& g = segments[sz(row_segment[sz(r)])];
    embed(g.tokens[sz(r - g.row)], &x[sz(r * h)]);
  }

  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const KernelSet ks = kernels_;
  for (std::int32_t l = 0; l < c.num_layers; ++l) {
    const Layer& w = layers_[sz(l)];
    rms_norm(x.data(), n, w.attn_norm.data(), h, c.rms_norm_eps, xn.data(), threads_);
    w.qkv.matmul(ks, xn.data(), n, qkv.data(), threads_);
    const LayerLora* lora = unmerged(l);
    if (lora) lora->qkv.apply(ks, xn.data(), n, h, qkv.data(), qkv_dim, threads_);
    if (!w.qkv_bias.empty()) add_bias(qkv.data(), w.qkv_bias.data(), n, qkv_dim, threads_);
    const std::int64_t window = c.window(l);
    // Row by row (each row alone, so threads change no bit): a long prefill
    // would otherwise spend several percent of its time here on one thread.
    parallel_for(n * qkv_dim >= kMinParallelWork / 16 ? threads_ : 1, n, [&](std::int64_t r) {
      thread_local std::vector<float> rope_row;  // for positions past the table
      rope_row.resize(sz(hd));
      const Segment& g = segments[sz(row_segment[sz(r)])];
      const std::int64_t position = g.start + (r - g.row);
      const std::int64_t head_stride = std::int64_t{g.seq->context()} * hd;  // one KV head's cache
      float* row = &qkv[sz(r * qkv_dim)];
      const float* cs = rope_angles(position, rope_row.data());
      apply_rope(row, static_cast<std::int32_t>(nh), static_cast<std::int32_t>(hd), cs, c.rope_pairs);
      apply_rope(row + q_dim, static_cast<std::int32_t>(nkv), static_cast<std::int32_t>(hd), cs,
                 c.rope_pairs);
      for (std::int64_t j = 0; j < nkv; ++j) {
        const std::int64_t at = j * head_stride + position * hd;
        store_in_cache(g.seq->keys(l), g.seq->kv_cache_type(), at, row + q_dim + j * hd, hd);
        store_in_cache(g.seq->values(l), g.seq->kv_cache_type(), at, row + q_dim + kv_dim + j * hd, hd);
      }
    });
    // Causal attention, each sequence over its own cache: new token r sees
    // positions 0 .. start + r (the last `window` of them in a windowed
    // layer; the cache keeps every position, so truncating, cloning and
    // batching need nothing more). A task is up to 4 query heads of one KV head
    // (read once for them), for one token or, when the group has fewer
    // heads, for consecutive tokens of one sequence (2 tokens of 2 heads, 4
    // of 1), so that 4 queries share each key and value loaded. Each head's
    // output is computed alone, so threads, grouping and batching cannot
    // change it. Tasks are handed out one at a time, which balances the
    // causal rows' growing lengths.
    const std::int64_t per_task = std::min<std::int64_t>(group, 4),
                       chunks = (group + per_task - 1) / per_task;
    const std::int64_t block = std::max<std::int64_t>(1, 4 / per_task);
    struct Blocks {
      std::int64_t first_task;  // the segment's first task
      std::int64_t blocks;
    };
    std::vector<Blocks> task_of(segments.size());
    std::int64_t tasks = 0, work = 0, longest = 0;
    for (std::size_t s = 0; s < segments.size(); ++s) {
      const std::int64_t count = static_cast<std::int64_t>(segments[s].tokens.size());
      task_of[s] = {tasks, (count + block - 1) / block};
      tasks += task_of[s].blocks * nkv * chunks;
      work += count * nh * (segments[s].start + count) * hd;
      longest = std::max(longest, segments[s].start + count);
    }
    const std::int64_t scores_size = std::max<std::int64_t>(per_task, 4) * ((longest + 15) / 16 * 16);
    parallel_for(work >= kMinParallelWork / 4 ? threads_ : 1, tasks, [&](std::int64_t t) {
      thread_local std::vector<float> scores;
      if (static_cast<std::int64_t>(scores.size()) < scores_size) scores.resize(sz(scores_size));
      std::size_t s = 0;
      while (s + 1 < segments.size() && task_of[s + 1].first_task <= t)
        ++s;
      const Segment& g = segments[s];
      const std::int64_t count = static_cast<std::int64_t>(g.tokens.size());
      const std::int64_t local = t - task_of[s].first_task;
      const std::int64_t b = local / (nkv * chunks) * block, j = local / chunks % nkv, chunk = local % chunks;
      const std::int64_t head = j * group + chunk * per_task,
                         heads = std::min(per_task, group - chunk * per_task);
      const std::int64_t r = g.row + b;
      const std::int64_t head_stride = std::int64_t{g.seq->context()} * hd;
      const std::int64_t tokens_here = std::min(block, count - b);
      const auto attend_over = [&](const auto* keys, const auto* values) {
        keys += j * head_stride;
        values += j * head_stride;
        // Under a sliding window, a block whose last token still sees
        // position 0 attends as without one; otherwise each token attends
        // alone over its own window (attend() gives it the bits
        // attend_tokens() would).
        if (window == 0 || g.start + b + tokens_here <= window) {
          attend_tokens(ks, &qkv[sz(r * qkv_dim + head * hd)], qkv_dim, tokens_here, heads, keys, values, hd,
                        g.start + b + 1, hd, scale, scores.data(), &attn[sz(r * q_dim + head * hd)], q_dim);
          return;
        }
        for (std::int64_t i = 0; i < tokens_here; ++i) {
          const std::int64_t position = g.start + b + i;
          const std::int64_t first = std::max<std::int64_t>(0, position - window + 1);
          attend(ks, &qkv[sz((r + i) * qkv_dim + head * hd)], heads, keys + first * hd, values + first * hd,
                 hd, position + 1 - first, hd, scale, scores.data(), &attn[sz((r + i) * q_dim + head * hd)]);
        }
      };
      if (g.seq->kv_cache_type() == KvCacheType::bf16) {
        attend_over(reinterpret_cast<const std::uint16_t*>(g.seq->keys(l)),
                    reinterpret_cast<const std::uint16_t*>(g.seq->values(l)));
      } else {
        attend_over(reinterpret_cast<const float*>(g.seq->keys(l)),
                    reinterpret_cast<const float*>(g.seq->values(l)));
      }
    });
    w.wo.matmul(ks, attn.data(), n, proj.data(), threads_);
    if (lora) lora->wo.apply(ks, attn.data(), n, q_dim, proj.data(), h, threads_);
    add_rows(x.data(), proj.data(), n, h, threads_);

    rms_norm(x.data(), n, w.ffn_norm.data(), h, c.rms_norm_eps, xn.data(), threads_);
    if (options.keys && l == c.num_layers - 1) {
      // kNN-LM's key: the last FFN's normed input.
      for (std::size_t s = 0; s < segments.size(); ++s) {
        const auto begin = xn.begin() + segments[s].row * h;
        results[s].keys.assign(begin, begin + static_cast<std::ptrdiff_t>(segments[s].tokens.size()) * h);
      }
    }
    w.gate_up.matmul(ks, xn.data(), n, gate_up.data(), threads_);
    if (lora) lora->gate_up.apply(ks, xn.data(), n, h, gate_up.data(), 2 * ff, threads_);
    silu_mul(ks, gate_up.data(), gate_up.data() + ff, n, ff, 2 * ff, threads_);
    w.down.matmul(ks, gate_up.data(), n, 2 * ff, proj.data(), h, threads_);
    if (lora) lora->down.apply(ks, gate_up.data(), n, 2 * ff, proj.data(), h, threads_);
    add_rows(x.data(), proj.data(), n, h, threads_);
  }

  rms_norm(x.data(), n, final_norm_.data(), h, c.rms_norm_eps, xn.data(), threads_);
  // The rows that give logits: every new row, or each sequence's last; one
  // product for all of them. They lie together in xn when every row is
  // wanted or there is one sequence, and a single sequence's logits are
  // written in place: eval() copies nothing on its way.
  std::vector<float> gathered;
  const float* wanted = &xn[sz((n - 1) * h)];
  std::int64_t rows = 0;
  for (std::size_t s = 0; s < segments.size(); ++s) {
    const Segment& g = segments[s];
    const std::int64_t count = static_cast<std::int64_t>(g.tokens.size());
    const std::int64_t first = options.all_logits ? 0 : count - 1;
    results[s].rows = static_cast<std::int32_t>(count - first);
    if (options.hidden) {
      const auto begin = xn.begin() + g.row * h;
      results[s].hidden.assign(begin, begin + count * h);
    }
    if (!options.all_logits && segments.size() > 1)
      gathered.insert(gathered.end(), xn.begin() + (g.row + first) * h, xn.begin() + (g.row + count) * h);
    rows += count - first;
  }
  if (options.all_logits) wanted = xn.data();
  if (!gathered.empty()) wanted = gathered.data();
  std::vector<float> logits(sz(rows * c.vocab_size));
  output().matmul(ks, wanted, rows, logits.data(), threads_);
  if (segments.size() == 1) {
    results[0].logits = std::move(logits);
  } else {
    std::int64_t at = 0;
    for (std::size_t s = 0; s < segments.size(); ++s) {
      const auto begin = logits.begin() + at * c.vocab_size;
      results[s].logits.assign(begin, begin + std::int64_t{results[s].rows} * c.vocab_size);
      at += results[s].rows;
    }
  }
  for (const Segment& g : segments) {
    auto& held = g.seq->mutable_tokens();
    held.insert(held.end(), g.tokens.begin(), g.tokens.end());
  }
  return results;
}

const LlamaModel::LayerLora* LlamaModel::unmerged(std::int32_t layer) const {
  if (!active_ || merge_ || active_->layers.empty()) return nullptr;
  return &active_->layers[static_cast<std::size_t>(layer)];
}

void LlamaModel::load_adapter(const std::string& name, const std::filesystem::path& dir) {
  load_adapter(name, read_peft_adapter(dir, config_));
}

void LlamaModel::load_adapter(const std::string& name, LoraAdapter a) {
  if (name.empty()) throw InputError("llama: an adapter needs a non-empty name");
  if (name == active_name_)
    throw InputError("llama: adapter '" + name + "' is active; deactivate it to replace it");
  const auto& c = config_;
  const std::int64_t h = c.hidden_size, q_dim = std::int64_t{c.num_heads} * c.head_dim,
                     kv_dim = std::int64_t{c.num_kv_heads} * c.head_dim, ff = c.intermediate_size;
  // Each target's place in the fused matrices: q, k, v in qkv; gate, up in gate_up.
  auto offset = [&](LoraTarget t) -> std::int64_t {
    switch (t) {
      case LoraTarget::k_proj:
        return q_dim;
      case LoraTarget::v_proj:
        return q_dim + kv_dim;
      case LoraTarget::up_proj:
        return ff;
      default:
        return 0;
    }
  };
  std::vector<std::array<std::vector<LoraDelta::Part>, 4>> parts(static_cast<std::size_t>(c.num_layers));
  for (auto& f : a.factors) {
    if (f.layer < 0 || f.layer >= c.num_layers)
      throw InputError("llama: adapter '" + name + "' has a bad layer");
    const auto [out, in] = lora_target_shape(c, f.target);
    if (static_cast<std::int64_t>(f.a.size()) != a.r * in ||
        static_cast<std::int64_t>(f.b.size()) != out * a.r)
      throw InputError("llama: adapter '" + name + "': " + peft_lora_key(f.layer, f.target, false) +
                       " does not fit the model with r = " + std::to_string(a.r));
    // B's rows follow q's and k's rows as the model holds them.
    if (f.target == LoraTarget::q_proj || f.target == LoraTarget::k_proj) {
      const std::int32_t heads = f.target == LoraTarget::q_proj ? c.num_heads : c.num_kv_heads;
      f.b = reorder_rope_rows(f.b, heads, c.head_dim, a.r, RopePairs::half_split, c.rope_pairs);
    }
    const int slot = f.target <= LoraTarget::v_proj      ? 0
                     : f.target == LoraTarget::o_proj    ? 1
                     : f.target == LoraTarget::down_proj ? 3
                                                         : 2;
    parts[static_cast<std::size_t>(f.layer)][static_cast<std::size_t>(slot)].push_back(
        {offset(f.target), out, std::move(f.a), std::move(f.b)});
  }
  LoadedAdapter loaded;
  const double scale = a.scale();
  if (!a.factors.empty()) {
    for (auto& p : parts) {
      LayerLora ll;
      ll.qkv = LoraDelta(std::move(p[0]), a.r, h, scale);
      ll.wo = LoraDelta(std::move(p[1]), a.r, q_dim, scale);
      ll.gate_up = LoraDelta(std::move(p[2]), a.r, h, scale);
      ll.down = LoraDelta(std::move(p[3]), a.r, ff, scale);
      loaded.layers.push_back(std::move(ll));
    }
  }
  auto check_rows = [&](const TokenRows& t, const char* what) {
    if (t.rows.size() != t.ids.size() * static_cast<std::size_t>(h))
      throw InputError("llama: adapter '" + name + "': " + what + " rows do not match hidden_size");
    for (TokenId id : t.ids)
      if (id < 0 || id >= c.vocab_size)
        throw InputError("llama: adapter '" + name + "': " + what + " row for token " + std::to_string(id) +
                         " is outside the vocabulary of " + std::to_string(c.vocab_size));
  };
  check_rows(a.embed_tokens, "embed_tokens");
  check_rows(a.lm_head, "lm_head");
  for (std::size_t i = 0; i < a.embed_tokens.ids.size(); ++i) {
    const auto* row = a.embed_tokens.rows.data() + i * static_cast<std::size_t>(h);
    std::vector<float> v(row, row + h);
    // The model's embedding precision: bf16 weights see bf16 rows.
    if (dtype_ == WeightType::bf16)
      for (float& e : v)
        e = round_to_bf16(e);
    loaded.embed_rows[a.embed_tokens.ids[i]] = std::move(v);
  }
  // Output rows: the adapter's lm_head rows, or (tied) its embedding rows.
  const TokenRows& out_rows = !a.lm_head.empty()      ? a.lm_head
                              : c.tie_word_embeddings ? a.embed_tokens
                                                      : a.lm_head;
  if (!out_rows.empty()) {
    std::vector<float> out = output_.unpack();
    for (std::size_t i = 0; i < out_rows.ids.size(); ++i)
      std::copy_n(out_rows.rows.begin() + static_cast<std::ptrdiff_t>(i * static_cast<std::size_t>(h)), h,
                  out.begin() + static_cast<std::ptrdiff_t>(out_rows.ids[i] * h));
    loaded.output = WeightMatrix(PackedMatrix(out, c.vocab_size, h, dtype_));
  }
  loaded.carries_vocabulary = !a.embed_tokens.empty() || !a.lm_head.empty();
  adapters_[name] = std::move(loaded);
}

std::vector<std::string> LlamaModel::adapter_names() const {
  std::vector<std::string> names;
  for (const auto& [name, a] : adapters_)
    names.push_back(name);
  return names;
}

void LlamaModel::set_active_adapter(const std::string& name) {
  if (!name.empty() && adapters_.count(name) == 0) {
    std::string known;
    for (const auto& n : adapter_names())
      known += (known.empty() ? "" : ", ") + n;
    throw InputError("llama: no adapter named '" + name + "' is loaded" +
                     (known.empty() ? std::string(" (none is)") : " (loaded: " + known + ")"));
  }
  deactivate();
  if (!name.empty()) activate(name);
}

void LlamaModel::set_merge_adapters(bool merge) {
  if (merge == merge_) return;
  const std::string name = active_name_;
  deactivate();
  merge_ = merge;
  if (!name.empty()) activate(name);
}

void LlamaModel::activate(const std::string& name) {
  const LoadedAdapter& a = adapters_.at(name);
  active_ = &a;
  active_name_ = name;
  if (!merge_) return;
  for (std::size_t l = 0; l < a.layers.size(); ++l) {
    const LayerLora& ll = a.layers[l];
    const std::pair<const LoraDelta*, WeightMatrix Layer::*> targets[] = {{&ll.qkv, &Layer::qkv},
                                                                          {&ll.wo, &Layer::wo},
                                                                          {&ll.gate_up, &Layer::gate_up},
                                                                          {&ll.down, &Layer::down}};
    for (const auto& [delta, member] : targets) {
      if (delta->empty()) continue;
      WeightMatrix& m = layers_[l].*member;
      std::vector<float> w = m.unpack();
      delta->merge_into(w);
      WeightMatrix merged(PackedMatrix(w, m.out(), m.in(), dtype_));
      merged_originals_.push_back({l, member, std::move(m)});
      m = std::move(merged);
    }
  }
}

void LlamaModel::deactivate() {
  for (auto& saved : merged_originals_)
    layers_[saved.layer].*saved.matrix = std::move(saved.original);
  merged_originals_.clear();
  active_ = nullptr;
  active_name_.clear();
}

}  // namespace ralm::llama
