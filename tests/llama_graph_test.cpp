// The trainer's forward and backward passes: every parameter tensor's
// gradient against central finite differences (in double precision, where
// rounding cannot hide a wrong gradient), on tiny shapes covering GQA, tied
// and untied outputs and ignored targets; and the forward logits against the
// llama plugin and against what Hugging Face transformers computed.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "llama_graph.hpp"
#include "llama_model.hpp"
#include "ralm/llama_format/config.hpp"
#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/llama_format/weights.hpp"

namespace {

using namespace ralm::llama;
using namespace ralm::llama_train;
namespace fs = std::filesystem;

LlamaConfig tiny_config(bool tied, std::int32_t kv_heads) {
  LlamaConfig c;
  c.vocab_size = 11;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = kv_heads;
  c.head_dim = 4;
  c.max_position_embeddings = 16;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 100.0;  // fast-turning rotations, so a wrong rotary shows at 5 positions
  c.tie_word_embeddings = tied;
  return c;
}

TokenBatch tiny_batch(const LlamaConfig& c, bool ignore_some) {
  TokenBatch b;
  b.sequences = 2;
  b.length = 5;
  std::mt19937 rng(3);
  for (int i = 0; i < b.sequences * b.length; ++i) {
    b.inputs.push_back(static_cast<ralm::TokenId>(rng() % static_cast<unsigned>(c.vocab_size)));
    b.targets.push_back(static_cast<ralm::TokenId>(rng() % static_cast<unsigned>(c.vocab_size)));
  }
  if (ignore_some) {
    b.targets[0] = TokenBatch::kIgnore;
    b.targets[6] = TokenBatch::kIgnore;
  }
  return b;
}

std::vector<double> random_params(const ParamLayout& layout, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 0.5);
  std::vector<double> p(layout.total());
  for (const auto& t : layout.tensors()) {
    for (std::size_t i = 0; i < t.size; ++i) {
      // Norm gains near 1 but not 1, so a gain the backward pass ignored shows.
      p[t.offset + i] = t.shape.size() == 1 ? 1.0 + 0.2 * normal(rng) : normal(rng);
    }
  }
  return p;
}

// Checks every entry of every tensor (the shapes are tiny) against a central
// difference of the mean loss.
void check_gradients(const LlamaConfig& c, bool ignore_some) {
  LlamaGraph<double> graph(c, 1);  // thousands of tiny passes: threads would only add overhead
  const TokenBatch batch = tiny_batch(c, ignore_some);
  std::vector<double> params = random_params(graph.layout(), 11);
  std::vector<double> grad(params.size(), 0.0);
  const auto count = static_cast<double>(batch.target_count());
  const LossSum loss = graph.run(params.data(), batch, grad.data(), 1.0 / count);
  ASSERT_EQ(loss.count, batch.target_count());
  const double h = 1e-5;
  for (const auto& t : graph.layout().tensors()) {
    double worst = 0.0, largest = 0.0;
    for (std::size_t i = 0; i < t.size; ++i) {
      const std::size_t k = t.offset + i;
      const double saved = params[k];
      params[k] = saved + h;
      const double up = graph.run(params.data(), batch).sum / count;
      params[k] = saved - h;
      const double down = graph.run(params.data(), batch).sum / count;
      params[k] = saved;
      const double numeric = (up - down) / (2 * h);
      worst = std::max(worst, std::abs(numeric - grad[k]));
      largest = std::max(largest, std::abs(numeric));
    }
    EXPECT_GT(largest, 1e-4) << t.name << ": a gradient of zero checks nothing";
    EXPECT_LT(worst, 1e-6 * std::max(1.0, largest)) << t.name;
  }
}

TEST(LlamaGraphGradient, EveryTensorMatchesFiniteDifferencesUntiedGqa) {
  check_gradients(tiny_config(false, 2), false);
}

TEST(LlamaGraphGradient, EveryTensorMatchesFiniteDifferencesTiedMhaIgnoredTargets) {
  check_gradients(tiny_config(true, 4), true);
}

TEST(LlamaGraphGradient, EveryTensorMatchesFiniteDifferencesMultiQuery) {
  check_gradients(tiny_config(false, 1), false);
}

TEST(LlamaGraphGradient, ThreadCountDoesNotChangeTheResult) {
  const LlamaConfig c = tiny_config(false, 2);
  LlamaGraph<float> one(c, 1), two(c, 2);
  const TokenBatch batch = tiny_batch(c, false);
  const std::vector<double> p64 = random_params(one.layout(), 5);
  const std::vector<float> p(p64.begin(), p64.end());
  std::vector<float> g1(p.size(), 0.0f), g2(p.size(), 0.0f);
  EXPECT_EQ(one.run(p.data(), batch, g1.data()).sum, two.run(p.data(), batch, g2.data()).sum);
  EXPECT_EQ(g1, g2);
}

// The same weights through the llama plugin's inference code and through the
// trainer's forward pass.
TEST(LlamaGraphForward, LogitsEqualTheLlamaPluginsWithin1e4) {
  LlamaConfig c;
  c.vocab_size = 300;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.max_position_embeddings = 64;
  for (const bool tied : {false, true}) {
    c.tie_word_embeddings = tied;
    LlamaWeights w = random_llama_weights(c, 9, 0.08);
    for (auto& l : w.layers) {
      for (std::size_t i = 0; i < l.ffn_norm.size(); ++i)
        l.ffn_norm[i] = 1.0f + 0.02f * static_cast<float>(i % 5);
    }
    LlamaGraph<float> graph(c, 2);
    const std::vector<float> flat = graph.layout().flatten(w);
    LlamaModel model(c, std::move(w), make_ids_only_tokenizer(c.vocab_size, 1, 2), 2);
    TokenBatch batch;
    batch.sequences = 2;
    batch.length = 24;
    for (int i = 0; i < 48; ++i) {
      batch.inputs.push_back((i * 37 + 11) % c.vocab_size);
      batch.targets.push_back(TokenBatch::kIgnore);
    }
    const std::vector<float> logits = graph.logits(flat.data(), batch);
    double worst = 0.0;
    for (int s = 0; s < 2; ++s) {
      auto seq = model.new_sequence();
      const std::span<const ralm::TokenId> ids(batch.inputs.data() + s * 24, 24);
      const auto out = model.eval(*seq, ids, {.all_logits = true});
      for (std::size_t i = 0; i < out.logits.size(); ++i)
        worst = std::max(worst, std::abs(double{out.logits[i]} - logits[s * 24 * 300 + i]));
    }
    EXPECT_LT(worst, 1e-4) << (tied ? "tied" : "untied");
  }
}

// The outside witness: logits transformers computed for a checkpoint it wrote.
TEST(LlamaGraphForward, LogitsMatchHuggingFaceWithin1e4) {
  const fs::path dir = RALM_SOURCE_DIR "/tests/fixtures/hf-llama-mha-tied-bf16";
  const LlamaConfig c = read_llama_config(dir);
  LlamaGraph<float> graph(c, 2);
  const std::vector<float> flat = graph.layout().flatten(load_llama_weights(dir, c));
  std::ifstream in(dir / "ref.json");
  const auto ref = nlohmann::json::parse(in);
  TokenBatch batch;
  batch.sequences = 1;
  batch.inputs = ref["input_ids"].get<std::vector<ralm::TokenId>>();
  batch.length = static_cast<std::int32_t>(batch.inputs.size());
  batch.targets.assign(batch.inputs.size(), TokenBatch::kIgnore);
  const std::vector<float> logits = graph.logits(flat.data(), batch);
  const auto last = ref["logits_last"].get<std::vector<double>>();
  const std::size_t row = static_cast<std::size_t>(batch.length - 1) * static_cast<std::size_t>(c.vocab_size);
  double worst = 0.0;
  for (std::size_t i = 0; i < last.size(); ++i)
    worst = std::max(worst, std::abs(logits[row + i] - last[i]));
  EXPECT_LT(worst, 1e-4);
}

}  // namespace

namespace {

// LoRA over a frozen base: every factor's and token row's gradient against
// central differences, with dropout on (the mask is a function of the seed,
// so the loss is a fixed function of the factors).
void check_lora_gradients(const LlamaConfig& c, const LoraConfig& lc) {
  const LoraLayout lora(c, lc);
  LlamaGraph<double> graph(c, 1, &lora);
  const TokenBatch batch = tiny_batch(c, true);
  const std::vector<double> base = random_params(graph.layout(), 13);
  std::mt19937_64 rng(17);
  std::normal_distribution<double> normal(0.0, 0.4);
  std::vector<double> factors(lora.total());
  for (auto& v : factors)
    v = normal(rng);  // B non-zero, so A's gradient is not zero
  std::vector<double> grad(factors.size(), 0.0);
  const auto count = static_cast<double>(batch.target_count());
  const std::uint64_t seed = 99;
  graph.run_lora(base.data(), factors.data(), batch, grad.data(), 1.0 / count, seed);
  const double h = 1e-5;
  for (const auto& t : lora.tensors()) {
    double worst = 0.0, largest = 0.0;
    for (std::size_t i = 0; i < t.size; ++i) {
      const std::size_t k = t.offset + i;
      const double saved = factors[k];
      factors[k] = saved + h;
      const double up = graph.run_lora(base.data(), factors.data(), batch, nullptr, 1.0, seed).sum / count;
      factors[k] = saved - h;
      const double down = graph.run_lora(base.data(), factors.data(), batch, nullptr, 1.0, seed).sum / count;
      factors[k] = saved;
      const double numeric = (up - down) / (2 * h);
      worst = std::max(worst, std::abs(numeric - grad[k]));
      largest = std::max(largest, std::abs(numeric));
    }
    EXPECT_GT(largest, 1e-4) << t.name << ": a gradient of zero checks nothing";
    EXPECT_LT(worst, 1e-6 * std::max(1.0, largest)) << t.name;
  }
}

LoraConfig every_module(double dropout, std::vector<ralm::TokenId> tokens) {
  LoraConfig lc;
  lc.r = 2;
  lc.alpha = 3.0;
  lc.dropout = dropout;
  lc.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  lc.trainable_tokens = std::move(tokens);
  return lc;
}

TEST(LoraGradient, EveryFactorAndTokenRowMatchesFiniteDifferencesTiedWithDropout) {
  check_lora_gradients(tiny_config(true, 2), every_module(0.3, {3, 7}));
}

TEST(LoraGradient, EveryFactorMatchesFiniteDifferencesUntiedWithoutDropout) {
  const LlamaConfig c = tiny_config(false, 4);
  // Untied, a token row gets a gradient only where it is an input.
  check_lora_gradients(c, every_module(0.0, {tiny_batch(c, true).inputs[3]}));
}

// LoRA's output equals the base model's with W + scale · B·A merged in.
TEST(LoraForward, MergedEqualsUnmerged) {
  const LlamaConfig c = tiny_config(false, 2);
  const LoraLayout lora(c, every_module(0.05, {}));
  LlamaGraph<float> adapted(c, 1, &lora);
  const std::vector<double> base64 = random_params(adapted.layout(), 21);
  const std::vector<float> base(base64.begin(), base64.end());
  std::mt19937_64 rng(4);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  std::vector<float> factors(lora.total());
  for (auto& v : factors)
    v = normal(rng);
  std::vector<float> merged = base;
  const float s = static_cast<float>(lora.config().scale());
  for (std::int32_t l = 0; l < c.num_layers; ++l) {
    const auto& o = adapted.layout().layer(l);
    const std::size_t weight[] = {o.wq, o.wk, o.wv, o.wo, o.w_gate, o.w_up, o.w_down};
    for (int m = 0; m < 7; ++m) {
      const auto& site = lora.site(l, m);
      for (std::int64_t i = 0; i < site.out; ++i) {
        for (std::int64_t j = 0; j < site.in; ++j) {
          float sum = 0;
          for (std::int64_t k = 0; k < lora.config().r; ++k)
            sum += factors[site.b + static_cast<std::size_t>(i * lora.config().r + k)] *
                   factors[site.a + static_cast<std::size_t>(k * site.in + j)];
          merged[weight[m] + static_cast<std::size_t>(i * site.in + j)] += s * sum;
        }
      }
    }
  }
  const TokenBatch batch = tiny_batch(c, false);
  const std::vector<float> unmerged_logits = adapted.logits(base.data(), batch, factors.data());
  const std::vector<float> merged_logits = adapted.logits(merged.data(), batch);
  ASSERT_EQ(unmerged_logits.size(), merged_logits.size());
  for (std::size_t i = 0; i < merged_logits.size(); ++i)
    EXPECT_NEAR(unmerged_logits[i], merged_logits[i], 1e-4) << i;
}

}  // namespace
