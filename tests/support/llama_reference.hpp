// A plain double-precision Llama, written from the architecture's definition
// with naive loops: the reference the llama plugin's tests compare against.
#pragma once

#include <cmath>
#include <vector>

#include "ralm/llama_format/config.hpp"
#include "ralm/llama_format/weights.hpp"
#include "ralm/types.hpp"

namespace ralm::test {

// The tests' small grouped-query model: 4 heads over 2 KV heads of 10, odd
// hidden and feed-forward sizes (no kernel may assume multiples of 16).
inline llama::LlamaConfig small_gqa_config(std::int32_t vocab_size = 61, bool tied = false) {
  llama::LlamaConfig c;
  c.vocab_size = vocab_size;
  c.hidden_size = 40;
  c.intermediate_size = 53;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 10;
  c.max_position_embeddings = 48;
  c.tie_word_embeddings = tied;
  return c;
}

// The last position's logits for `ids` under weights `w`.
inline std::vector<double> reference_logits(const llama::LlamaConfig& c, const llama::LlamaWeights& w,
                                            const std::vector<TokenId>& ids) {
  const std::size_t n = ids.size(), h = static_cast<std::size_t>(c.hidden_size),
                    hd = static_cast<std::size_t>(c.head_dim), nh = static_cast<std::size_t>(c.num_heads),
                    nkv = static_cast<std::size_t>(c.num_kv_heads),
                    ff = static_cast<std::size_t>(c.intermediate_size),
                    v = static_cast<std::size_t>(c.vocab_size);
  const auto inv = llama::rope_inverse_frequencies(c);
  using Mat = std::vector<std::vector<double>>;
  auto linear = [](const Mat& x, const std::vector<float>& wt, std::size_t out) {
    Mat y(x.size(), std::vector<double>(out));
    for (std::size_t r = 0; r < x.size(); ++r)
      for (std::size_t o = 0; o < out; ++o)
        for (std::size_t i = 0; i < x[r].size(); ++i)
          y[r][o] += x[r][i] * wt[o * x[r].size() + i];
    return y;
  };
  auto norm = [&](const Mat& x, const std::vector<float>& wt) {
    Mat y = x;
    for (auto& row : y) {
      double ms = 0;
      for (double e : row)
        ms += e * e;
      ms = 1 / std::sqrt(ms / static_cast<double>(row.size()) + c.rms_norm_eps);
      for (std::size_t i = 0; i < row.size(); ++i)
        row[i] *= ms * wt[i];
    }
    return y;
  };
  auto rope = [&](Mat& x, std::size_t heads) {
    for (std::size_t p = 0; p < x.size(); ++p)
      for (std::size_t hh = 0; hh < heads; ++hh)
        for (std::size_t i = 0; i < hd / 2; ++i) {
          const double a = x[p][hh * hd + i], b = x[p][hh * hd + i + hd / 2],
                       ang = static_cast<double>(p) * inv[i];
          x[p][hh * hd + i] = a * std::cos(ang) - b * std::sin(ang);
          x[p][hh * hd + i + hd / 2] = b * std::cos(ang) + a * std::sin(ang);
        }
  };
  Mat x(n, std::vector<double>(h));
  for (std::size_t p = 0; p < n; ++p)
    for (std::size_t i = 0; i < h; ++i)
      x[p][i] = w.embed[static_cast<std::size_t>(ids[p]) * h + i];
  for (const auto& l : w.layers) {
    const Mat xn = norm(x, l.attn_norm);
    Mat q = linear(xn, l.wq, nh * hd), k = linear(xn, l.wk, nkv * hd), vv = linear(xn, l.wv, nkv * hd);
    rope(q, nh);
    rope(k, nkv);
    Mat att(n, std::vector<double>(nh * hd));
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t hh = 0; hh < nh; ++hh) {
        const std::size_t kvh = hh / (nh / nkv);
        std::vector<double> s(p + 1);
        double mx = -1e300, sum = 0;
        for (std::size_t j = 0; j <= p; ++j) {
          for (std::size_t d = 0; d < hd; ++d)
            s[j] += q[p][hh * hd + d] * k[j][kvh * hd + d];
          s[j] /= std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[j]);
        }
        for (auto& e : s)
          sum += (e = std::exp(e - mx));
        for (std::size_t j = 0; j <= p; ++j)
          for (std::size_t d = 0; d < hd; ++d)
            att[p][hh * hd + d] += s[j] / sum * vv[j][kvh * hd + d];
      }
    const Mat o = linear(att, l.wo, h);
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t i = 0; i < h; ++i)
        x[p][i] += o[p][i];
    const Mat xn2 = norm(x, l.ffn_norm);
    Mat g = linear(xn2, l.w_gate, ff);
    const Mat u = linear(xn2, l.w_up, ff);
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t i = 0; i < ff; ++i)
        g[p][i] = g[p][i] / (1 + std::exp(-g[p][i])) * u[p][i];
    const Mat d = linear(g, l.w_down, h);
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t i = 0; i < h; ++i)
        x[p][i] += d[p][i];
  }
  const Mat final_rows = norm(Mat{x.back()}, w.final_norm);
  return linear(final_rows, w.output_matrix(), v)[0];
}

}  // namespace ralm::test
