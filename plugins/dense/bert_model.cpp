#include "bert_model.hpp"

#include <algorithm>
#include <cmath>

#include "ralm/error.hpp"
#include "ralm/kernels/thread_pool.hpp"
#include "ralm/safetensors.hpp"

namespace ralm::dense {

namespace {

using kernels::kMinParallelWork;
using kernels::parallel_for;

// The prefixes transformers saves a BERT under: bare (BertModel), inside a
// task model (BertFor..., RobertaFor...), inside DPR's two encoders.
constexpr const char* kPrefixes[] = {"", "bert.", "roberta.", "question_encoder.bert_model.",
                                     "ctx_encoder.bert_model."};

// Steps below this much work run on the calling thread (thread_pool.hpp).
int threads_for(std::int64_t work, int threads) {
  return work >= kMinParallelWork / 4 ? threads : 1;
}

// x = LayerNorm(x + (y + bias)) row by row, as transformers orders the sums
// (the dense layer's output with its bias, then the residual); the mean and
// variance in double. y may be null (the embeddings: x alone).
void add_and_norm(float* x, const float* y, const float* bias, std::int64_t rows, std::int64_t n,
                  const std::vector<float>& weight, const std::vector<float>& shift, double eps,
                  int threads) {
  parallel_for(threads_for(rows * n, threads), rows, [&](std::int64_t r) {
    float* row = x + r * n;
    if (y) {
      const float* add = y + r * n;
      for (std::int64_t c = 0; c < n; ++c)
        row[c] = row[c] + (add[c] + bias[c]);
    }
    double mean = 0;
    for (std::int64_t c = 0; c < n; ++c)
      mean += row[c];
    mean /= static_cast<double>(n);
    double var = 0;
    for (std::int64_t c = 0; c < n; ++c)
      var += (row[c] - mean) * (row[c] - mean);
    const double inv = 1.0 / std::sqrt(var / static_cast<double>(n) + eps);
    for (std::int64_t c = 0; c < n; ++c)
      row[c] = static_cast<float>((row[c] - mean) * inv * weight[static_cast<std::size_t>(c)] +
                                  shift[static_cast<std::size_t>(c)]);
  });
}

// y = GELU(y + bias), the exact (erf) GELU, row by row.
void bias_gelu(float* y, const float* bias, std::int64_t rows, std::int64_t n, int threads) {
  parallel_for(threads_for(rows * n * 8, threads), rows, [&](std::int64_t r) {
    float* row = y + r * n;
    for (std::int64_t c = 0; c < n; ++c) {
      const float v = row[c] + bias[c];
      row[c] = 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
    }
  });
}

// y = x · Wᵀ, kRowBlock rows per kernel call. The kernel sweeps a call's
// rows once per 64-output panel, so a batch's thousands of rows would be
// streamed from memory once per panel; in blocks, a block's rows (at most
// 3 MiB at ff 1536) stay in cache across the panels. 32 passages of 128
// tokens, one thread, small shape: 31 passages per CPU-second unblocked,
// 38-39 in blocks of 256 to 1024 rows (bert_bench). Each row's bits do not
// depend on the rows called with it (kernels.hpp), so blocking changes none.
void matmul_blocked(kernels::KernelSet set, const float* x, std::int64_t rows, const kernels::PackedMatrix& w,
                    float* y, int threads) {
  constexpr std::int64_t kRowBlock = 512;
  for (std::int64_t r = 0; r < rows; r += kRowBlock)
    kernels::matmul(set, x + r * w.in(), std::min(kRowBlock, rows - r), w, y + r * w.out(), threads);
}

void add_bias(float* y, const float* bias, std::int64_t rows, std::int64_t n, int threads) {
  parallel_for(threads_for(rows * n, threads), rows, [&](std::int64_t r) {
    float* row = y + r * n;
    for (std::int64_t c = 0; c < n; ++c)
      row[c] += bias[c];
  });
}

}  // namespace

BertModel::BertModel(const std::filesystem::path& dir, kernels::WeightType weights, kernels::KernelSet set)
    : config_(read_bert_config(dir)), weight_type_(weights), set_(set) {
  const safetensors::Checkpoint checkpoint(dir);
  const char* const* found = std::find_if(std::begin(kPrefixes), std::end(kPrefixes), [&](const char* p) {
    return checkpoint.has(std::string(p) + "embeddings.word_embeddings.weight");
  });
  if (found == std::end(kPrefixes)) {
    throw InputError(checkpoint.describe() +
                     ": no tensor embeddings.word_embeddings.weight, bare or under bert., roberta., "
                     "question_encoder.bert_model. or ctx_encoder.bert_model.; not a BERT-family checkpoint");
  }
  prefix_ = *found;
  const std::int64_t h = config_.hidden_size, f = config_.intermediate_size;
  auto tensor = [&](const std::string& name, std::vector<std::int64_t> shape) {
    return checkpoint.get(prefix_ + name, shape, "config.json").to_f32();
  };
  word_ = tensor("embeddings.word_embeddings.weight", {config_.vocab_size, h});
  position_ = tensor("embeddings.position_embeddings.weight", {config_.max_position_embeddings, h});
  token_type_ = tensor("embeddings.token_type_embeddings.weight", {config_.type_vocab_size, h});
  embedding_norm_weight_ = tensor("embeddings.LayerNorm.weight", {h});
  embedding_norm_bias_ = tensor("embeddings.LayerNorm.bias", {h});
  for (std::int64_t l = 0; l < config_.num_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    Layer layer;
    const std::vector<float> q = tensor(p + "attention.self.query.weight", {h, h});
    const std::vector<float> k = tensor(p + "attention.self.key.weight", {h, h});
    const std::vector<float> v = tensor(p + "attention.self.value.weight", {h, h});
    const std::span<const float> stacked[] = {q, k, v};
    layer.qkv = kernels::PackedMatrix(stacked, h, weights);
    for (const char* name : {"query", "key", "value"}) {
      const std::vector<float> b = tensor(p + "attention.self." + name + ".bias", {h});
      layer.qkv_bias.insert(layer.qkv_bias.end(), b.begin(), b.end());
    }
    layer.attention_out =
        kernels::PackedMatrix(tensor(p + "attention.output.dense.weight", {h, h}), h, h, weights);
    layer.attention_out_bias = tensor(p + "attention.output.dense.bias", {h});
    layer.attention_norm_weight = tensor(p + "attention.output.LayerNorm.weight", {h});
    layer.attention_norm_bias = tensor(p + "attention.output.LayerNorm.bias", {h});
    layer.intermediate =
        kernels::PackedMatrix(tensor(p + "intermediate.dense.weight", {f, h}), f, h, weights);
    layer.intermediate_bias = tensor(p + "intermediate.dense.bias", {f});
    layer.output = kernels::PackedMatrix(tensor(p + "output.dense.weight", {h, f}), h, f, weights);
    layer.output_bias = tensor(p + "output.dense.bias", {h});
    layer.output_norm_weight = tensor(p + "output.LayerNorm.weight", {h});
    layer.output_norm_bias = tensor(p + "output.LayerNorm.bias", {h});
    layers_.push_back(std::move(layer));
  }
}

void BertModel::pool(std::span<const Tokens> texts, BertPooling pooling, float* out, int threads) const {
  const std::int64_t h = config_.hidden_size, f = config_.intermediate_size, d = config_.head_dim();
  const auto n = static_cast<std::int64_t>(texts.size());
  // Text i's rows are [start[i], start[i + 1]).
  std::vector<std::int64_t> start(static_cast<std::size_t>(n) + 1, 0);
  for (std::int64_t i = 0; i < n; ++i) {
    const Tokens& t = texts[static_cast<std::size_t>(i)];
    if (t.empty() || static_cast<std::int64_t>(t.size()) > config_.max_tokens()) {
      throw Error("bert: a text of " + std::to_string(t.size()) + " tokens; the model takes 1 to " +
                  std::to_string(config_.max_tokens()));
    }
    for (TokenId id : t) {
      if (id < 0 || id >= config_.vocab_size)
        throw Error("bert: token id " + std::to_string(id) + " is outside the vocabulary of " +
                    std::to_string(config_.vocab_size));
    }
    start[static_cast<std::size_t>(i) + 1] =
        start[static_cast<std::size_t>(i)] + static_cast<std::int64_t>(t.size());
  }
  const std::int64_t rows = start.back();
  if (rows == 0) return;

  std::vector<float> x(static_cast<std::size_t>(rows * h)), qkv(static_cast<std::size_t>(rows * 3 * h)),
      context(static_cast<std::size_t>(rows * h)), projected(static_cast<std::size_t>(rows * h)),
      inner(static_cast<std::size_t>(rows * f));
  parallel_for(threads_for(rows * h, threads), n, [&](std::int64_t i) {
    const Tokens& t = texts[static_cast<std::size_t>(i)];
    for (std::size_t p = 0; p < t.size(); ++p) {
      float* row = x.data() + (start[static_cast<std::size_t>(i)] + static_cast<std::int64_t>(p)) * h;
      const float* word = word_.data() + std::int64_t{t[p]} * h;
      const float* position = position_.data() + (config_.position_offset + static_cast<std::int64_t>(p)) * h;
      for (std::int64_t c = 0; c < h; ++c)
        row[c] = word[c] + position[c] + token_type_[static_cast<std::size_t>(c)];
    }
  });
  add_and_norm(x.data(), nullptr, nullptr, rows, h, embedding_norm_weight_, embedding_norm_bias_,
               config_.layer_norm_eps, threads);

  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const std::int64_t heads = config_.num_heads;
  for (const Layer& layer : layers_) {
    matmul_blocked(set_, x.data(), rows, layer.qkv, qkv.data(), threads);
    add_bias(qkv.data(), layer.qkv_bias.data(), rows, 3 * h, threads);
    // One task per (text, head): each of the text's queries attends to all
    // of the text's keys, and to nothing else.
    std::int64_t attention_work = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t len = start[static_cast<std::size_t>(i) + 1] - start[static_cast<std::size_t>(i)];
      attention_work += len * len * h;
    }
    parallel_for(threads_for(attention_work, threads), n * heads, [&](std::int64_t task) {
      const std::int64_t i = task / heads, head = task % heads;
      const std::int64_t first = start[static_cast<std::size_t>(i)];
      const std::int64_t len = start[static_cast<std::size_t>(i) + 1] - first;
      thread_local std::vector<float> scores;
      scores.resize(static_cast<std::size_t>(4 * ((len + 15) / 16 * 16)));
      const float* keys = qkv.data() + first * 3 * h + h + head * d;
      const float* values = keys + h;
      for (std::int64_t t = first; t < first + len; ++t) {
        kernels::attend(set_, qkv.data() + t * 3 * h + head * d, 1, keys, values, 3 * h, len, d, scale,
                        scores.data(), context.data() + t * h + head * d);
      }
    });
    matmul_blocked(set_, context.data(), rows, layer.attention_out, projected.data(), threads);
    add_and_norm(x.data(), projected.data(), layer.attention_out_bias.data(), rows, h,
                 layer.attention_norm_weight, layer.attention_norm_bias, config_.layer_norm_eps, threads);
    matmul_blocked(set_, x.data(), rows, layer.intermediate, inner.data(), threads);
    bias_gelu(inner.data(), layer.intermediate_bias.data(), rows, f, threads);
    matmul_blocked(set_, inner.data(), rows, layer.output, projected.data(), threads);
    add_and_norm(x.data(), projected.data(), layer.output_bias.data(), rows, h, layer.output_norm_weight,
                 layer.output_norm_bias, config_.layer_norm_eps, threads);
  }

  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t first = start[static_cast<std::size_t>(i)];
    const std::int64_t len = start[static_cast<std::size_t>(i) + 1] - first;
    float* row = out + i * h;
    if (pooling == BertPooling::cls) {
      std::copy_n(x.data() + first * h, h, row);
      continue;
    }
    // The mean over the text's tokens, summed in double in token order.
    for (std::int64_t c = 0; c < h; ++c) {
      double sum = 0;
      for (std::int64_t t = first; t < first + len; ++t)
        sum += x[static_cast<std::size_t>(t * h + c)];
      row[c] = static_cast<float>(sum / static_cast<double>(len));
    }
  }
}

}  // namespace ralm::dense
