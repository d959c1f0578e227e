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
      kv_dim_(static_cast<std::size_t>(c.num_kv_heads) * static_cast<std::size_t>(c.head_dim)),
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

LlamaModel::LlamaModel(LlamaConfig config, LlamaWeights weights, std::unique_ptr<Tokenizer> tokenizer,
                       int threads, std::int32_t context)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      tokenizer_(std::move(tokenizer)),
      threads_(std::max(1, threads)),
      context_(context > 0 ? context : config_.max_position_embeddings),
      inv_freq_(rope_inverse_frequencies(config_)) {}

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
  const std::int64_t group = nh / nkv;
  const auto sz = [](std::int64_t v) { return static_cast<std::size_t>(v); };

  std::vector<float> x(sz(n * h)), xn(sz(n * h)), q(sz(n * q_dim)), k(sz(n * kv_dim)), v(sz(n * kv_dim));
  std::vector<float> attn(sz(n * q_dim)), proj(sz(n * h)), gate(sz(n * ff)), up(sz(n * ff));
  std::vector<float> scores(sz(start + n));
  EvalResult result;

  for (std::int64_t r = 0; r < n; ++r) {
    std::copy_n(weights_.embed.begin() + static_cast<std::ptrdiff_t>(tokens[sz(r)] * h), h,
                x.begin() + r * h);
  }

  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (std::int32_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& w = weights_.layers[sz(l)];
    for (std::int64_t r = 0; r < n; ++r)
      rms_norm(&x[sz(r * h)], w.attn_norm.data(), h, c.rms_norm_eps, &xn[sz(r * h)]);
    matmul_transposed(xn.data(), n, h, w.wq.data(), q_dim, q.data(), threads_);
    matmul_transposed(xn.data(), n, h, w.wk.data(), kv_dim, k.data(), threads_);
    matmul_transposed(xn.data(), n, h, w.wv.data(), kv_dim, v.data(), threads_);
    float* k_cache = seq->keys(l);
    float* v_cache = seq->values(l);
    for (std::int64_t r = 0; r < n; ++r) {
      apply_rope(&q[sz(r * q_dim)], static_cast<std::int32_t>(nh), static_cast<std::int32_t>(hd), inv_freq_,
                 start + r);
      apply_rope(&k[sz(r * kv_dim)], static_cast<std::int32_t>(nkv), static_cast<std::int32_t>(hd), inv_freq_,
                 start + r);
      std::copy_n(&k[sz(r * kv_dim)], kv_dim, k_cache + (start + r) * kv_dim);
      std::copy_n(&v[sz(r * kv_dim)], kv_dim, v_cache + (start + r) * kv_dim);
    }
    // Causal attention: new token r sees positions 0 .. start + r.
    for (std::int64_t r = 0; r < n; ++r) {
      const std::int64_t visible = start + r + 1;
      for (std::int64_t head = 0; head < nh; ++head) {
        const float* qh = &q[sz(r * q_dim + head * hd)];
        const std::int64_t kv_head = head / group;
        float max_score = -INFINITY;
        for (std::int64_t p = 0; p < visible; ++p) {
          scores[sz(p)] = dot(qh, k_cache + p * kv_dim + kv_head * hd, hd) * scale;
          max_score = std::max(max_score, scores[sz(p)]);
        }
        float sum = 0.0f;
        for (std::int64_t p = 0; p < visible; ++p) {
          scores[sz(p)] = std::exp(scores[sz(p)] - max_score);
          sum += scores[sz(p)];
        }
        float* out = &attn[sz(r * q_dim + head * hd)];
        std::fill_n(out, hd, 0.0f);
        for (std::int64_t p = 0; p < visible; ++p) {
          const float weight = scores[sz(p)] / sum;
          const float* vp = v_cache + p * kv_dim + kv_head * hd;
          for (std::int64_t d = 0; d < hd; ++d)
            out[d] += weight * vp[d];
        }
      }
    }
    matmul_transposed(attn.data(), n, q_dim, w.wo.data(), h, proj.data(), threads_);
    for (std::int64_t i = 0; i < n * h; ++i)
      x[sz(i)] += proj[sz(i)];

    for (std::int64_t r = 0; r < n; ++r)
      rms_norm(&x[sz(r * h)], w.ffn_norm.data(), h, c.rms_norm_eps, &xn[sz(r * h)]);
    if (options.keys && l == c.num_layers - 1) result.keys = xn;  // kNN-LM's key: the last FFN's normed input
    matmul_transposed(xn.data(), n, h, w.w_gate.data(), ff, gate.data(), threads_);
    matmul_transposed(xn.data(), n, h, w.w_up.data(), ff, up.data(), threads_);
    silu_mul(gate.data(), up.data(), n * ff);
    matmul_transposed(gate.data(), n, ff, w.w_down.data(), h, proj.data(), threads_);
    for (std::int64_t i = 0; i < n * h; ++i)
      x[sz(i)] += proj[sz(i)];
  }

  for (std::int64_t r = 0; r < n; ++r) {
    rms_norm(&x[sz(r * h)], weights_.final_norm.data(), h, c.rms_norm_eps, &xn[sz(r * h)]);
  }
  if (options.hidden) result.hidden = xn;
  const std::int64_t first = options.all_logits ? 0 : n - 1;
  result.rows = static_cast<std::int32_t>(n - first);
  result.logits.resize(sz(result.rows * c.vocab_size));
  matmul_transposed(&xn[sz(first * h)], result.rows, h, weights_.output_matrix().data(), c.vocab_size,
                    result.logits.data(), threads_);

  auto& held = seq->mutable_tokens();
  held.insert(held.end(), tokens.begin(), tokens.end());
  return result;
}

}  // namespace ralm::llama
