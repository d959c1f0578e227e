#include "llama_graph.hpp"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "ralm/error.hpp"
#include "token_windows.hpp"

namespace ralm::llama_train {

std::int64_t TokenBatch::target_count() const {
  return std::count_if(targets.begin(), targets.end(), [](TokenId t) { return t != kIgnore; });
}

namespace {

using i64 = std::int64_t;

inline std::size_t sz(i64 v) {
  return static_cast<std::size_t>(v);
}

// Threads for a loop of `work` element operations: starting and joining a
// team costs more than small loops take (tiny models, the tests).
inline int team(int threads, i64 work) {
  return work >= (i64{1} << 16) ? threads : 1;
}

// C = alpha · op(A) · op(B) + beta · C, row-major.
void gemm(bool ta, bool tb, i64 m, i64 n, i64 k, float alpha, const float* a, i64 lda, const float* b,
          i64 ldb, float beta, float* c, i64 ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda),
              b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}
void gemm(bool ta, bool tb, i64 m, i64 n, i64 k, double alpha, const double* a, i64 lda, const double* b,
          i64 ldb, double beta, double* c, i64 ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda),
              b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

// y = x · Wᵀ, W stored out × in as Hugging Face stores it.
template <class T>
void linear(const T* x, i64 rows, const T* w, i64 out, i64 in, T* y) {
  gemm(false, true, rows, out, in, T(1), x, in, w, in, T(0), y, out);
}

// Backward of linear(): dx (+)= dy · W, dW += dyᵀ · x (no dW when null: frozen).
template <class T>
void linear_backward(const T* dy, const T* x, i64 rows, const T* w, i64 out, i64 in, T* dx,
                     bool accumulate_dx, T* dw) {
  gemm(false, false, rows, in, out, T(1), dy, out, w, in, accumulate_dx ? T(1) : T(0), dx, in);
  if (dw) gemm(true, false, out, in, rows, T(1), dy, out, x, in, T(1), dw, in);
}

// As the llama plugin: the mean square summed in double, the scale rounded
// to T, then weight · (x · scale).
template <class T>
void rms_norm(const T* x, i64 rows, const T* weight, i64 n, double eps, T* out, T* rstd, int threads) {
#pragma omp parallel for schedule(static) num_threads(team(threads, rows* n))
  for (i64 r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    double sum = 0.0;
    for (i64 i = 0; i < n; ++i)
      sum += static_cast<double>(xr[i]) * static_cast<double>(xr[i]);
    const auto scale = static_cast<T>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
    rstd[r] = scale;
    for (i64 i = 0; i < n; ++i)
      out[r * n + i] = weight[i] * (xr[i] * scale);
  }
}

// dx += the gradient through y = g · x · rstd(x); dg += Σ_rows dy · x · rstd.
template <class T>
void rms_norm_backward(const T* x, const T* rstd, i64 rows, const T* weight, i64 n, const T* dy, T* dx, T* dg,
                       int threads) {
#pragma omp parallel for schedule(static) num_threads(team(threads, rows* n))
  for (i64 r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    const T* dyr = dy + r * n;
    const T s = rstd[r];
    T dot = 0;
    for (i64 i = 0; i < n; ++i)
      dot += dyr[i] * weight[i] * xr[i];
    const T k = dot * s * s / static_cast<T>(n);
    for (i64 i = 0; i < n; ++i)
      dx[r * n + i] += s * (dyr[i] * weight[i] - xr[i] * k);
  }
  if (!dg)
    return;  // a frozen gain
             // Columns in parallel, rows in order: the same sum on any thread count.
#pragma omp parallel for schedule(static) num_threads(team(threads, rows* n))
  for (i64 i = 0; i < n; ++i) {
    T sum = 0;
    for (i64 r = 0; r < rows; ++r)
      sum += dy[r * n + i] * x[r * n + i] * rstd[r];
    dg[i] += sum;
  }
}

// Rotary tables, position × half: the angle in double, cos and sin rounded
// to T, as the llama plugin does.
template <class T>
void rope_tables(const std::vector<double>& inv_freq, i64 length, std::vector<T>& cos_t,
                 std::vector<T>& sin_t) {
  const i64 half = static_cast<i64>(inv_freq.size());
  cos_t.resize(sz(length * half));
  sin_t.resize(sz(length * half));
  for (i64 p = 0; p < length; ++p) {
    for (i64 i = 0; i < half; ++i) {
      const double angle = static_cast<double>(p) * inv_freq[sz(i)];
      cos_t[sz(p * half + i)] = static_cast<T>(std::cos(angle));
      sin_t[sz(p * half + i)] = static_cast<T>(std::sin(angle));
    }
  }
}

// Rotates each head of each row (rotate-half: dimension i pairs with
// i + d/2); `inverse` applies the transpose, which is the backward pass.
template <class T>
void rope(T* x, i64 rows, i64 length, i64 heads, i64 head_dim, const std::vector<T>& cos_t,
          const std::vector<T>& sin_t, bool inverse, int threads) {
  const i64 half = head_dim / 2;
#pragma omp parallel for schedule(static) num_threads(team(threads, rows* heads* head_dim))
  for (i64 r = 0; r < rows; ++r) {
    const i64 pos = r % length;
    const T* c = &cos_t[sz(pos * half)];
    const T* s = &sin_t[sz(pos * half)];
    for (i64 h = 0; h < heads; ++h) {
      T* v = x + (r * heads + h) * head_dim;
      for (i64 i = 0; i < half; ++i) {
        const T a = v[i], b = v[i + half];
        if (inverse) {
          v[i] = a * c[i] + b * s[i];
          v[i + half] = b * c[i] - a * s[i];
        } else {
          v[i] = a * c[i] - b * s[i];
          v[i + half] = b * c[i] + a * s[i];
        }
      }
    }
  }
}

// Row i of the len × len scores keeps columns 0..i: softmax over them, zero after.
template <class T>
void causal_softmax(T* p, i64 len, int threads) {
#pragma omp parallel for schedule(static) num_threads(team(threads, len* len))
  for (i64 i = 0; i < len; ++i) {
    T* row = p + i * len;
    T m = -std::numeric_limits<T>::infinity();
    for (i64 j = 0; j <= i; ++j)
      m = std::max(m, row[j]);
    T sum = 0;
    for (i64 j = 0; j <= i; ++j) {
      row[j] = std::exp(row[j] - m);
      sum += row[j];
    }
    const T inv = T(1) / sum;
    for (i64 j = 0; j <= i; ++j)
      row[j] *= inv;
    std::fill(row + i + 1, row + len, T(0));
  }
}

// dP (in `d`) becomes dS = P ⊙ (dP - Σ_j P ⊙ dP), row by row.
template <class T>
void causal_softmax_backward(const T* p, T* d, i64 len, int threads) {
#pragma omp parallel for schedule(static) num_threads(team(threads, len* len))
  for (i64 i = 0; i < len; ++i) {
    const T* pr = p + i * len;
    T* dr = d + i * len;
    T weighted = 0;
    for (i64 j = 0; j <= i; ++j)
      weighted += pr[j] * dr[j];
    for (i64 j = 0; j <= i; ++j)
      dr[j] = pr[j] * (dr[j] - weighted);
    std::fill(dr + i + 1, dr + len, T(0));
  }
}

// One adapted layer's saved inputs: the dropout factors (empty: none) and
// x_d·Aᵀ.
template <class T>
struct LoraSaved {
  std::vector<T> drop, xa;
};

// y += scale · (dropout(x)·Aᵀ)·Bᵀ.
template <class T>
void lora_forward(const T* x, i64 rows, const LoraLayout::Site& site, const T* lora, i64 r, T scale, double p,
                  std::uint64_t seed, T* y, LoraSaved<T>& saved, int threads) {
  const i64 in = site.in, out = site.out;
  const T* xin = x;
  std::vector<T> xd;
  saved.drop.clear();
  if (p > 0 && seed != 0) {
    saved.drop.resize(sz(rows * in));
    xd.resize(sz(rows * in));
    const T keep = T(1) / static_cast<T>(1 - p);
#pragma omp parallel for schedule(static) num_threads(team(threads, rows* in))
    for (i64 i = 0; i < rows * in; ++i) {
      std::uint64_t state = seed ^ (0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(i + 1));
      const double u = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
      saved.drop[sz(i)] = u < p ? T(0) : keep;
      xd[sz(i)] = x[i] * saved.drop[sz(i)];
    }
    xin = xd.data();
  }
  saved.xa.resize(sz(rows * r));
  gemm(false, true, rows, r, in, T(1), xin, in, lora + site.a, in, T(0), saved.xa.data(), r);
  gemm(false, true, rows, out, r, scale, saved.xa.data(), r, lora + site.b, r, T(1), y, out);
}

// dA, dB from dy; dx += the gradient through the adapter.
template <class T>
void lora_backward(const T* x, const T* dy, i64 rows, const LoraLayout::Site& site, const T* lora, i64 r,
                   T scale, const LoraSaved<T>& saved, T* dx, T* grad_lora, int threads) {
  const i64 in = site.in, out = site.out;
  std::vector<T> xd;
  const T* xin = x;
  if (!saved.drop.empty()) {
    xd.resize(sz(rows * in));
    for (i64 i = 0; i < rows * in; ++i)
      xd[sz(i)] = x[i] * saved.drop[sz(i)];
    xin = xd.data();
  }
  std::vector<T> dxa(sz(rows * r)), dxin(sz(rows * in));
  gemm(true, false, out, r, rows, scale, dy, out, saved.xa.data(), r, T(1), grad_lora + site.b, r);
  gemm(false, false, rows, r, out, scale, dy, out, lora + site.b, r, T(0), dxa.data(), r);
  gemm(true, false, r, in, rows, T(1), dxa.data(), r, xin, in, T(1), grad_lora + site.a, in);
  gemm(false, false, rows, in, r, T(1), dxa.data(), r, lora + site.a, in, T(0), dxin.data(), in);
#pragma omp parallel for schedule(static) num_threads(team(threads, rows* in))
  for (i64 i = 0; i < rows * in; ++i)
    dx[i] += saved.drop.empty() ? dxin[sz(i)] : dxin[sz(i)] * saved.drop[sz(i)];
}

}  // namespace

template <class T>
struct LlamaGraph<T>::LayerActivations {
  std::vector<T> x, rstd1, xn1, q, k, v, probs, attn, x_mid, rstd2, xn2, gate, up, act;
  std::array<LoraSaved<T>, kLoraModules.size()> lora;
};

template <class T>
struct LlamaGraph<T>::Activations {
  std::vector<LayerActivations> layers;
  std::vector<T> x_final, rstd_final, xf, logits;
  std::vector<T> cos_t, sin_t;
  std::vector<T> embed;    // the base embedding with the trainable token rows in place (LoRA only)
  std::vector<T> x, proj;  // the residual stream and a product, while going forward
  std::vector<T> dxf, dx, dact, dgate, dup, dxn, dattn, dq, dk, dv, ds;  // the backward pass's
};

template <class T>
LlamaGraph<T>::LlamaGraph(const llama::LlamaConfig& config, int threads, const LoraLayout* lora)
    : config_(config),
      layout_(config),
      lora_(lora),
      threads_(std::max(1, threads)),
      inv_freq_(llama::rope_inverse_frequencies(config)),
      activations_(std::make_unique<Activations>()) {}

template <class T>
LlamaGraph<T>::~LlamaGraph() = default;

template <class T>
void LlamaGraph<T>::forward(const T* params, const T* lora, std::uint64_t dropout_seed,
                            const TokenBatch& batch, Activations& a) {
  const auto& c = config_;
  const i64 len = batch.length, n = i64{batch.sequences} * len;
  if (len <= 0 || batch.sequences <= 0 || batch.inputs.size() != sz(n) || batch.targets.size() != sz(n))
    throw Error("llama_train: a malformed batch");
  if (len > c.max_position_embeddings) {
    throw InputError("llama_train: sequences of " + std::to_string(len) +
                     " tokens exceed max_position_embeddings " + std::to_string(c.max_position_embeddings));
  }
  const i64 h = c.hidden_size, hd = c.head_dim, nh = c.num_heads, nkv = c.num_kv_heads;
  const i64 qd = nh * hd, kvd = nkv * hd, ff = c.intermediate_size, vocab = c.vocab_size;
  const i64 group = nh / nkv, nseq = batch.sequences;
  const T scale = T(1) / std::sqrt(static_cast<T>(hd));
  const int th = threads_;
  rope_tables(inv_freq_, len, a.cos_t, a.sin_t);

  const T* embed = params + layout_.embed();
  if (lora && !lora_->config().trainable_tokens.empty()) {
    a.embed.assign(embed, embed + sz(vocab * h));
    const auto& ids = lora_->config().trainable_tokens;
    for (std::size_t k = 0; k < ids.size(); ++k)
      std::copy_n(lora + lora_->token_rows() + k * sz(h), h, &a.embed[sz(i64{ids[k]} * h)]);
    embed = a.embed.data();
  }
  const T lora_scale = lora ? static_cast<T>(lora_->config().scale()) : T(0);
  const i64 rank = lora ? lora_->config().r : 0;
  const double dropout = lora ? lora_->config().dropout : 0.0;
  // The adapter of (layer, module), if any, after the base product into y.
  auto adapt = [&](std::int32_t l, int m, const T* x, T* y, LayerActivations& la) {
    if (!lora) return;
    const LoraLayout::Site& site = lora_->site(l, m);
    if (!site.on) return;
    const std::uint64_t seed =
        dropout_seed == 0
            ? 0
            : dropout_seed ^ (0xd6e8feb86659fd93ull * static_cast<std::uint64_t>(l * 8 + m + 1));
    lora_forward(x, n, site, lora, rank, lora_scale, dropout, seed, y, la.lora[sz(m)], th);
  };

  std::vector<T>& x = a.x;
  std::vector<T>& proj = a.proj;
  x.resize(sz(n * h));
  proj.resize(sz(n * h));
  for (i64 r = 0; r < n; ++r) {
    const TokenId t = batch.inputs[sz(r)];
    if (t < 0 || t >= c.vocab_size)
      throw Error("llama_train: token id " + std::to_string(t) + " out of range");
    std::copy_n(embed + sz(i64{t} * h), h, &x[sz(r * h)]);
  }
  a.layers.resize(sz(c.num_layers));
  for (std::int32_t l = 0; l < c.num_layers; ++l) {
    const LayerOffsets& o = layout_.layer(l);
    LayerActivations& la = a.layers[sz(l)];
    la.x = x;
    la.rstd1.resize(sz(n));
    la.xn1.resize(sz(n * h));
    rms_norm(x.data(), n, params + o.attn_norm, h, c.rms_norm_eps, la.xn1.data(), la.rstd1.data(), th);
    la.q.resize(sz(n * qd));
    la.k.resize(sz(n * kvd));
    la.v.resize(sz(n * kvd));
    linear(la.xn1.data(), n, params + o.wq, qd, h, la.q.data());
    adapt(l, kQ, la.xn1.data(), la.q.data(), la);
    linear(la.xn1.data(), n, params + o.wk, kvd, h, la.k.data());
    adapt(l, kK, la.xn1.data(), la.k.data(), la);
    linear(la.xn1.data(), n, params + o.wv, kvd, h, la.v.data());
    adapt(l, kV, la.xn1.data(), la.v.data(), la);
    rope(la.q.data(), n, len, nh, hd, a.cos_t, a.sin_t, false, th);
    rope(la.k.data(), n, len, nkv, hd, a.cos_t, a.sin_t, false, th);

    // Causal attention per (sequence, head), the products on BLAS: S = QKᵀ·scale,
    // row-wise causal softmax into P (zero above the diagonal), O = P·V.
    la.probs.resize(sz(nseq * nh * len * len));
    la.attn.resize(sz(n * qd));
    for (i64 b = 0; b < nseq; ++b) {
      for (i64 head = 0; head < nh; ++head) {
        const i64 kvh = head / group;
        T* p = &la.probs[sz((b * nh + head) * len * len)];
        gemm(false, true, len, len, hd, scale, &la.q[sz(b * len * qd + head * hd)], qd,
             &la.k[sz(b * len * kvd + kvh * hd)], kvd, T(0), p, len);
        causal_softmax(p, len, th);
        gemm(false, false, len, hd, len, T(1), p, len, &la.v[sz(b * len * kvd + kvh * hd)], kvd, T(0),
             &la.attn[sz(b * len * qd + head * hd)], qd);
      }
    }
    linear(la.attn.data(), n, params + o.wo, h, qd, proj.data());
    adapt(l, kO, la.attn.data(), proj.data(), la);
    for (i64 i = 0; i < n * h; ++i)
      x[sz(i)] += proj[sz(i)];

    la.x_mid = x;
    la.rstd2.resize(sz(n));
    la.xn2.resize(sz(n * h));
    rms_norm(x.data(), n, params + o.ffn_norm, h, c.rms_norm_eps, la.xn2.data(), la.rstd2.data(), th);
    la.gate.resize(sz(n * ff));
    la.up.resize(sz(n * ff));
    la.act.resize(sz(n * ff));
    linear(la.xn2.data(), n, params + o.w_gate, ff, h, la.gate.data());
    adapt(l, kGate, la.xn2.data(), la.gate.data(), la);
    linear(la.xn2.data(), n, params + o.w_up, ff, h, la.up.data());
    adapt(l, kUp, la.xn2.data(), la.up.data(), la);
#pragma omp parallel for schedule(static) num_threads(team(th, n* ff))
    for (i64 i = 0; i < n * ff; ++i) {
      const T g = la.gate[sz(i)];
      la.act[sz(i)] = g / (T(1) + std::exp(-g)) * la.up[sz(i)];
    }
    linear(la.act.data(), n, params + o.w_down, h, ff, proj.data());
    adapt(l, kDown, la.act.data(), proj.data(), la);
    for (i64 i = 0; i < n * h; ++i)
      x[sz(i)] += proj[sz(i)];
  }
  a.x_final = x;
  a.rstd_final.resize(sz(n));
  a.xf.resize(sz(n * h));
  rms_norm(a.x_final.data(), n, params + layout_.final_norm(), h, c.rms_norm_eps, a.xf.data(),
           a.rstd_final.data(), th);
  a.logits.resize(sz(n * vocab));
  const T* out_w = c.tie_word_embeddings ? embed : params + layout_.lm_head();
  linear(a.xf.data(), n, out_w, vocab, h, a.logits.data());
}

template <class T>
std::vector<T> LlamaGraph<T>::logits(const T* params, const TokenBatch& batch, const T* lora) {
  Activations& a = *activations_;
  forward(params, lora, 0, batch, a);
  return std::move(a.logits);
}

template <class T>
LossSum LlamaGraph<T>::run(const T* params, const TokenBatch& batch, T* grad, double grad_scale) {
  Activations& a = *activations_;
  forward(params, nullptr, 0, batch, a);
  const LossSum l = loss(batch, a, grad != nullptr, grad_scale);
  if (grad) backward(params, nullptr, batch, a, grad, nullptr);
  return l;
}

template <class T>
LossSum LlamaGraph<T>::run_lora(const T* params, const T* lora, const TokenBatch& batch, T* grad_lora,
                                double grad_scale, std::uint64_t dropout_seed) {
  if (!lora_) throw Error("llama_train: run_lora() on a graph built without a LoRA layout");
  Activations& a = *activations_;
  forward(params, lora, dropout_seed, batch, a);
  const LossSum l = loss(batch, a, grad_lora != nullptr, grad_scale);
  if (grad_lora) backward(params, lora, batch, a, nullptr, grad_lora);
  return l;
}

template <class T>
LossSum LlamaGraph<T>::loss(const TokenBatch& batch, Activations& a, bool gradient, double grad_scale) {
  const i64 n = i64{batch.sequences} * batch.length, vocab = config_.vocab_size;
  std::vector<double> row_loss(sz(n), 0.0);
  // Cross-entropy; with a gradient to compute, the logits become dLoss/dlogits in place.
#pragma omp parallel for schedule(static) num_threads(team(threads_, n* vocab))
  for (i64 r = 0; r < n; ++r) {
    T* z = &a.logits[sz(r * vocab)];
    const TokenId target = batch.targets[sz(r)];
    if (target == TokenBatch::kIgnore) {
      if (gradient) std::fill_n(z, vocab, T(0));
      continue;
    }
    const T m = *std::max_element(z, z + vocab);
    const T z_target = z[target];
    // One exp per logit, kept for the gradient; the sum in double.
    double sum = 0.0;
    for (i64 v = 0; v < vocab; ++v) {
      const T e = std::exp(z[v] - m);
      sum += static_cast<double>(e);
      if (gradient) z[v] = e;
    }
    row_loss[sz(r)] = static_cast<double>(m) + std::log(sum) - static_cast<double>(z_target);
    if (gradient) {
      const T factor = static_cast<T>(grad_scale / sum);
      for (i64 v = 0; v < vocab; ++v)
        z[v] *= factor;
      z[target] -= static_cast<T>(grad_scale);
    }
  }
  LossSum total;
  for (i64 r = 0; r < n; ++r) {
    if (batch.targets[sz(r)] == TokenBatch::kIgnore) continue;
    total.sum += row_loss[sz(r)];
    ++total.count;
  }
  return total;
}

// With `grad` (full training) every parameter's gradient; with `grad_lora`
// (base frozen) only the adapters' and the trainable token rows'.
template <class T>
void LlamaGraph<T>::backward(const T* params, const T* lora, const TokenBatch& batch, Activations& a, T* grad,
                             T* grad_lora) {
  const auto& c = config_;
  const i64 len = batch.length, n = i64{batch.sequences} * len, nseq = batch.sequences;
  const i64 h = c.hidden_size, hd = c.head_dim, nh = c.num_heads, nkv = c.num_kv_heads;
  const i64 qd = nh * hd, kvd = nkv * hd, ff = c.intermediate_size, vocab = c.vocab_size;
  const i64 group = nh / nkv;
  const T scale = T(1) / std::sqrt(static_cast<T>(hd));
  const int th = threads_;
  auto g = [&](std::size_t offset) -> T* { return grad ? grad + offset : nullptr; };
  const T lora_scale = lora ? static_cast<T>(lora_->config().scale()) : T(0);
  const i64 rank = lora ? lora_->config().r : 0;
  auto adapt_back = [&](std::int32_t l, int m, const T* x, const T* dy, T* dx, LayerActivations& la) {
    if (!lora) return;
    const LoraLayout::Site& site = lora_->site(l, m);
    if (!site.on) return;
    lora_backward(x, dy, n, site, lora, rank, lora_scale, la.lora[sz(m)], dx, grad_lora, th);
  };
  const bool token_rows = lora && !lora_->config().trainable_tokens.empty();
  const T* embed = token_rows ? a.embed.data() : params + layout_.embed();
  const T* out_w = c.tie_word_embeddings ? embed : params + layout_.lm_head();

  // Scratch kept between calls: fresh allocations this large would cost page faults each step.
  std::vector<T>&dxf = a.dxf, &dx = a.dx, &dact = a.dact, &dgate = a.dgate, &dup = a.dup, &dxn = a.dxn,
  &dattn = a.dattn, &dq = a.dq, &dk = a.dk, &dv = a.dv, &ds = a.ds;
  dxf.resize(sz(n * h));
  dx.assign(sz(n * h), T(0));
  dact.resize(sz(n * ff));
  dgate.resize(sz(n * ff));
  dup.resize(sz(n * ff));
  dxn.resize(sz(n * h));
  dattn.resize(sz(n * qd));
  dq.resize(sz(n * qd));
  dk.resize(sz(n * kvd));
  dv.resize(sz(n * kvd));
  ds.resize(sz(len * len));
  linear_backward(a.logits.data(), a.xf.data(), n, out_w, vocab, h, dxf.data(), false, g(layout_.lm_head()));
  if (token_rows && c.tie_word_embeddings) {
    // The output's rows of the trainable tokens are theirs: Σ_rows dlogits[r, id] · xf[r].
    const auto& ids = lora_->config().trainable_tokens;
    for (std::size_t k = 0; k < ids.size(); ++k) {
      T* row = grad_lora + lora_->token_rows() + k * sz(h);
      for (i64 r = 0; r < n; ++r) {
        const T d = a.logits[sz(r * vocab + ids[k])];
        for (i64 i = 0; i < h; ++i)
          row[i] += d * a.xf[sz(r * h + i)];
      }
    }
  }
  rms_norm_backward(a.x_final.data(), a.rstd_final.data(), n, params + layout_.final_norm(), h, dxf.data(),
                    dx.data(), g(layout_.final_norm()), th);

  for (std::int32_t l = c.num_layers - 1; l >= 0; --l) {
    const LayerOffsets& o = layout_.layer(l);
    LayerActivations& la = a.layers[sz(l)];
    // x_out = x_mid + down(silu(gate) · up); dx holds dLoss/dx_out and becomes dLoss/dx_mid.
    linear_backward(dx.data(), la.act.data(), n, params + o.w_down, h, ff, dact.data(), false, g(o.w_down));
    adapt_back(l, kDown, la.act.data(), dx.data(), dact.data(), la);
#pragma omp parallel for schedule(static) num_threads(team(th, n* ff))
    for (i64 i = 0; i < n * ff; ++i) {
      const T gt = la.gate[sz(i)];
      const T s = T(1) / (T(1) + std::exp(-gt));
      dup[sz(i)] = dact[sz(i)] * gt * s;
      dgate[sz(i)] = dact[sz(i)] * la.up[sz(i)] * s * (T(1) + gt * (T(1) - s));
    }
    linear_backward(dgate.data(), la.xn2.data(), n, params + o.w_gate, ff, h, dxn.data(), false, g(o.w_gate));
    adapt_back(l, kGate, la.xn2.data(), dgate.data(), dxn.data(), la);
    linear_backward(dup.data(), la.xn2.data(), n, params + o.w_up, ff, h, dxn.data(), true, g(o.w_up));
    adapt_back(l, kUp, la.xn2.data(), dup.data(), dxn.data(), la);
    rms_norm_backward(la.x_mid.data(), la.rstd2.data(), n, params + o.ffn_norm, h, dxn.data(), dx.data(),
                      g(o.ffn_norm), th);

    // x_mid = x + o_proj(attention); dx becomes dLoss/dx.
    linear_backward(dx.data(), la.attn.data(), n, params + o.wo, h, qd, dattn.data(), false, g(o.wo));
    adapt_back(l, kO, la.attn.data(), dx.data(), dattn.data(), la);
    std::fill(dk.begin(), dk.end(), T(0));
    std::fill(dv.begin(), dv.end(), T(0));
    // Per (sequence, head), in order (the heads sharing a KV head add into its
    // dK and dV one after the other): dP = dO·Vᵀ, dS = P ⊙ (dP - rowsum(P ⊙ dP)),
    // dQ = dS·K·scale, dK += dSᵀ·Q·scale, dV += Pᵀ·dO.
    for (i64 b = 0; b < nseq; ++b) {
      for (i64 head = 0; head < nh; ++head) {
        const i64 kvh = head / group;
        const T* p = &la.probs[sz((b * nh + head) * len * len)];
        const T* dob = &dattn[sz(b * len * qd + head * hd)];
        const T* qb = &la.q[sz(b * len * qd + head * hd)];
        const T* kb = &la.k[sz(b * len * kvd + kvh * hd)];
        gemm(false, true, len, len, hd, T(1), dob, qd, &la.v[sz(b * len * kvd + kvh * hd)], kvd, T(0),
             ds.data(), len);
        causal_softmax_backward(p, ds.data(), len, th);
        gemm(false, false, len, hd, len, scale, ds.data(), len, kb, kvd, T(0),
             &dq[sz(b * len * qd + head * hd)], qd);
        gemm(true, false, len, hd, len, scale, ds.data(), len, qb, qd, T(1),
             &dk[sz(b * len * kvd + kvh * hd)], kvd);
        gemm(true, false, len, hd, len, T(1), p, len, dob, qd, T(1), &dv[sz(b * len * kvd + kvh * hd)], kvd);
      }
    }
    rope(dq.data(), n, len, nh, hd, a.cos_t, a.sin_t, true, th);
    rope(dk.data(), n, len, nkv, hd, a.cos_t, a.sin_t, true, th);
    linear_backward(dq.data(), la.xn1.data(), n, params + o.wq, qd, h, dxn.data(), false, g(o.wq));
    adapt_back(l, kQ, la.xn1.data(), dq.data(), dxn.data(), la);
    linear_backward(dk.data(), la.xn1.data(), n, params + o.wk, kvd, h, dxn.data(), true, g(o.wk));
    adapt_back(l, kK, la.xn1.data(), dk.data(), dxn.data(), la);
    linear_backward(dv.data(), la.xn1.data(), n, params + o.wv, kvd, h, dxn.data(), true, g(o.wv));
    adapt_back(l, kV, la.xn1.data(), dv.data(), dxn.data(), la);
    rms_norm_backward(la.x.data(), la.rstd1.data(), n, params + o.attn_norm, h, dxn.data(), dx.data(),
                      g(o.attn_norm), th);
  }
  // Rows in order, so repeated tokens add up the same way every time.
  for (i64 r = 0; r < n; ++r) {
    const TokenId t = batch.inputs[sz(r)];
    T* row = nullptr;
    if (grad) {
      row = grad + layout_.embed() + sz(i64{t} * h);
    } else if (token_rows) {
      const std::int64_t k = lora_->token_index(t);
      if (k >= 0) row = grad_lora + lora_->token_rows() + sz(k * h);
    }
    if (!row) continue;
    for (i64 i = 0; i < h; ++i)
      row[i] += dx[sz(r * h + i)];
  }
}

template class LlamaGraph<float>;
template class LlamaGraph<double>;

}  // namespace ralm::llama_train
