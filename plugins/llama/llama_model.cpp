#include "llama_model.hpp"

#include <algorithm>
#include <cmath>

#include "kernels.hpp"
#include "ralm/error.hpp"

namespace ralm::llama {

LlamaSequence::LlamaSequence(const LlamaConfig& c, std::int32_t context)
    : context_(context),
      layer_stride_(static_cast<std::size_t>(context) * static_cast<std::size_t>(c.num_kv_heads) *
                    static_cast<std::size_t>(c.head_dim)),
      k_(layer_stride_ * static_cast<std::size_t>(c.num_layers)),
      v_(layer_stride_ * static_cast<std::size_t>(c.num_layers)) {}

void LlamaSequence::truncate(std::int32_t n) {
  if (n < 0 || n > length()) {
    throw Error("truncate to " + std::to_string(n) + " tokens, but the sequence holds " +
                std::to_string(length()));
  }
  // Keys and values past n are simply overwritten by the next evaluation.
  tokens_.resize(static_cast<std::size_t>(n));
}

std::unique_ptr<Sequence> LlamaSequence::clone() const {
  return std::make_unique<LlamaSequence>(*this);
}

namespace {

// Frees a weight vector once it is packed, so loading peaks near one copy.
void release(std::vector<float>& v) {
  std::vector<float>().swap(v);
}

}  // namespace

LlamaModel::LlamaModel(LlamaConfig config, LlamaWeights weights, std::unique_ptr<Tokenizer> tokenizer,
                       int threads, std::int32_t context, WeightType dtype)
    : config_(std::move(config)),
      tokenizer_(std::move(tokenizer)),
      threads_(std::max(1, threads)),
      context_(context > 0 ? context : config_.max_position_embeddings),
      dtype_(dtype),
      kernels_(default_kernel_set()),
      inv_freq_(rope_inverse_frequencies(config_)) {
  const std::int64_t h = config_.hidden_size, ff = config_.intermediate_size;
  const std::int64_t q_dim = std::int64_t{config_.num_heads} * config_.head_dim;
  for (auto& w : weights.layers) {
    Layer l;
    l.attn_norm = std::move(w.attn_norm);
    l.ffn_norm = std::move(w.ffn_norm);
    const std::span<const float> qkv[] = {w.wq, w.wk, w.wv};
    l.qkv = PackedMatrix(qkv, h, dtype);
    const std::span<const float> gate_up[] = {w.w_gate, w.w_up};
    l.gate_up = PackedMatrix(gate_up, h, dtype);
    l.wo = PackedMatrix(w.wo, h, q_dim, dtype);
    l.down = PackedMatrix(w.w_down, h, ff, dtype);
    for (auto* v : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down})
      release(*v);
    layers_.push_back(std::move(l));
  }
  output_ = PackedMatrix(weights.output_matrix(), config_.vocab_size, h, dtype);
  release(weights.lm_head);
  if (dtype == WeightType::bf16) {
    embed_bf16_.resize(weights.embed.size());
    for (std::size_t i = 0; i < weights.embed.size(); ++i)
      embed_bf16_[i] = f32_to_bf16(weights.embed[i]);
    release(weights.embed);
  } else {
    embed_f32_ = std::move(weights.embed);
  }
  final_norm_ = std::move(weights.final_norm);
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

std::size_t LlamaModel::weight_bytes() const {
  std::size_t bytes =
      streamed_weight_bytes() + embed_f32_.size() * 4 + embed_bf16_.size() * 2 + final_norm_.size() * 4;
  for (const auto& l : layers_)
    bytes += (l.attn_norm.size() + l.ffn_norm.size()) * 4;
  return bytes;
}

void LlamaModel::embed(TokenId token, float* out) const {
  const auto h = static_cast<std::size_t>(config_.hidden_size);
  const std::size_t row = static_cast<std::size_t>(token) * h;
  if (dtype_ == WeightType::bf16) {
    for (std::size_t i = 0; i < h; ++i)
      out[i] = bf16_to_f32(embed_bf16_[row + i]);
  } else {
    std::copy_n(embed_f32_.begin() + static_cast<std::ptrdiff_t>(row), h, out);
  }
}

ModelInfo LlamaModel::info() const {
  ModelInfo i;
  i.architecture = "llama";
  i.vocab_size = config_.vocab_size;
  i.context_length = context_;
  i.hidden_size = config_.hidden_size;
  i.num_layers = config_.num_layers;
  i.key_dim = config_.hidden_size;
  i.parameters = config_.parameter_count();
  i.kv_bytes_per_token = std::int64_t{2} * config_.num_layers * config_.num_kv_heads * config_.head_dim * 4;
  return i;
}

std::unique_ptr<Sequence> LlamaModel::new_sequence() {
  return std::make_unique<LlamaSequence>(config_, context_);
}

namespace {

// Hugging Face's rotate-half layout: dimension i pairs with i + d/2.
void apply_rope(float* x, std::int32_t heads, std::int32_t head_dim, const std::vector<double>& inv_freq,
                std::int64_t position) {
  const std::int32_t half = head_dim / 2;
  for (std::int32_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(position) * inv_freq[static_cast<std::size_t>(i)];
    const auto c = static_cast<float>(std::cos(angle));
    const auto s = static_cast<float>(std::sin(angle));
    for (std::int32_t h = 0; h < heads; ++h) {
      float* v = x + static_cast<std::size_t>(h) * static_cast<std::size_t>(head_dim);
      const float a = v[i], b = v[i + half];
      v[i] = a * c - b * s;
      v[i + half] = b * c + a * s;
    }
  }
}

}  // namespace

EvalResult LlamaModel::eval(Sequence& base_seq, std::span<const TokenId> tokens, const EvalOptions& options) {
  auto* seq = dynamic_cast<LlamaSequence*>(&base_seq);
  if (!seq) throw Error("llama: eval() was given a sequence made by another model");
  const auto& c = config_;
  const std::int64_t n = static_cast<std::int64_t>(tokens.size());
  if (n == 0) throw InputError("llama: eval() needs at least one new token");
  const std::int64_t start = seq->length();
  if (start + n > seq->context()) {
    throw InputError("llama: " + std::to_string(start + n) + " tokens exceed the context length of " +
                     std::to_string(seq->context()));
  }
  for (TokenId t : tokens) {
    if (t < 0 || t >= c.vocab_size) {
      throw InputError("llama: token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                       std::to_string(c.vocab_size - 1) + ")");
    }
  }

  const std::int64_t h = c.hidden_size, hd = c.head_dim, nh = c.num_heads, nkv = c.num_kv_heads;
  const std::int64_t q_dim = nh * hd, kv_dim = nkv * hd, ff = c.intermediate_size;
  const std::int64_t qkv_dim = q_dim + 2 * kv_dim;
  const std::int64_t group = nh / nkv;
  const auto sz = [](std::int64_t v) { return static_cast<std::size_t>(v); };

  // qkv: each row is q, then k, then v; gate_up: gate, then up.
  std::vector<float> x(sz(n * h)), xn(sz(n * h)), qkv(sz(n * qkv_dim));
  std::vector<float> attn(sz(n * q_dim)), proj(sz(n * h)), gate_up(sz(n * 2 * ff));
  EvalResult result;

  for (std::int64_t r = 0; r < n; ++r)
    embed(tokens[sz(r)], &x[sz(r * h)]);

  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const KernelSet ks = kernels_;
  for (std::int32_t l = 0; l < c.num_layers; ++l) {
    const Layer& w = layers_[sz(l)];
    rms_norm(x.data(), n, w.attn_norm.data(), h, c.rms_norm_eps, xn.data(), threads_);
    matmul(ks, xn.data(), n, w.qkv, qkv.data(), threads_);
    float* k_cache = seq->keys(l);
    float* v_cache = seq->values(l);
    const std::int64_t head_stride = std::int64_t{seq->context()} * hd;  // one KV head's cache
    for (std::int64_t r = 0; r < n; ++r) {
      float* row = &qkv[sz(r * qkv_dim)];
      apply_rope(row, static_cast<std::int32_t>(nh), static_cast<std::int32_t>(hd), inv_freq_, start + r);
      apply_rope(row + q_dim, static_cast<std::int32_t>(nkv), static_cast<std::int32_t>(hd), inv_freq_,
                 start + r);
      for (std::int64_t j = 0; j < nkv; ++j) {
        std::copy_n(row + q_dim + j * hd, hd, k_cache + j * head_stride + (start + r) * hd);
        std::copy_n(row + q_dim + kv_dim + j * hd, hd, v_cache + j * head_stride + (start + r) * hd);
      }
    }
    // Causal attention: new token r sees positions 0 .. start + r. A task is
    // one token and up to 4 query heads of one KV head (read once for them);
    // each head's output is computed alone, so threads, grouping and batching
    // cannot change it. Round-robin over tasks balances the causal rows'
    // growing lengths.
    const std::int64_t per_task = std::min<std::int64_t>(group, 4),
                       chunks = (group + per_task - 1) / per_task;
    const std::int64_t tasks = n * nkv * chunks;
    const bool parallel = threads_ > 1 && tasks > 1 && n * nh * (start + n) * hd >= (std::int64_t{1} << 15);
#pragma omp parallel num_threads(threads_) if (parallel)
    {
      std::vector<float> scores(sz(per_task * ((start + n + 15) / 16 * 16)));
#pragma omp for schedule(static, 1)
      for (std::int64_t t = 0; t < tasks; ++t) {
        const std::int64_t r = t / (nkv * chunks), j = t / chunks % nkv, chunk = t % chunks;
        const std::int64_t head = j * group + chunk * per_task,
                           heads = std::min(per_task, group - chunk * per_task);
        attend(ks, &qkv[sz(r * qkv_dim + head * hd)], heads, k_cache + j * head_stride,
               v_cache + j * head_stride, hd, start + r + 1, hd, scale, scores.data(),
               &attn[sz(r * q_dim + head * hd)]);
      }
    }
    matmul(ks, attn.data(), n, w.wo, proj.data(), threads_);
    for (std::int64_t i = 0; i < n * h; ++i)
      x[sz(i)] += proj[sz(i)];

    rms_norm(x.data(), n, w.ffn_norm.data(), h, c.rms_norm_eps, xn.data(), threads_);
    if (options.keys && l == c.num_layers - 1) result.keys = xn;  // kNN-LM's key: the last FFN's normed input
    matmul(ks, xn.data(), n, w.gate_up, gate_up.data(), threads_);
    silu_mul(ks, gate_up.data(), gate_up.data() + ff, n, ff, 2 * ff, threads_);
    matmul(ks, gate_up.data(), n, 2 * ff, w.down, proj.data(), h, threads_);
    for (std::int64_t i = 0; i < n * h; ++i)
      x[sz(i)] += proj[sz(i)];
  }

  rms_norm(x.data(), n, final_norm_.data(), h, c.rms_norm_eps, xn.data(), threads_);
  if (options.hidden) result.hidden = xn;
  const std::int64_t first = options.all_logits ? 0 : n - 1;
  result.rows = static_cast<std::int32_t>(n - first);
  result.logits.resize(sz(result.rows * c.vocab_size));
  matmul(ks, &xn[sz(first * h)], result.rows, output_, result.logits.data(), threads_);

  auto& held = seq->mutable_tokens();
  held.insert(held.end(), tokens.begin(), tokens.end());
  return result;
}

}  // namespace ralm::llama
