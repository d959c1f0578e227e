// Training throughput of the llama trainer's graph: tokens/s of a training
// step (forward, backward, AdamW) and its FLOP/s beside the FLOP/s of the
// trainer's own forward pass and of the llama plugin's prefill on the same
// shape, same threads, same run (issue 6's target: a training step at 50% or
// more of the forward pass's FLOP/s).
//
//   build/bin/train_bench [threads=1] [reps=3] [hidden=256] [layers=4] [seq=256] [batch=8]
// The defaults are the shipped model's shape (models/configs/tiny.yaml).
// Prints a table and writes train_bench.json in the current folder.
#include <cblas.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "adamw.hpp"
#include "llama_graph.hpp"
#include "llama_model.hpp"
#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/llama_format/weights.hpp"

using namespace ralm::llama_train;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::stoi(argv[1]) : 1;
  const int reps = argc > 2 ? std::stoi(argv[2]) : 3;
  ralm::llama::LlamaConfig c;
  c.hidden_size = argc > 3 ? std::stoi(argv[3]) : 256;
  c.num_layers = argc > 4 ? std::stoi(argv[4]) : 4;
  const int seq = argc > 5 ? std::stoi(argv[5]) : 256;
  const int batch = argc > 6 ? std::stoi(argv[6]) : 8;
  c.vocab_size = 4096;
  c.intermediate_size = c.hidden_size * 688 / 256;
  c.num_heads = c.hidden_size / 64;
  c.num_kv_heads = c.num_heads;
  c.head_dim = 64;
  c.max_position_embeddings = seq;
  c.tie_word_embeddings = true;
  openblas_set_num_threads(threads);

  // FLOPs per token of the forward pass: every matrix product (2 per
  // multiply-add) and causal attention (on average seq/2 keys, QKᵀ and PV).
  const double h = c.hidden_size, q = c.num_heads * 64.0, kv = c.num_kv_heads * 64.0,
               ff = c.intermediate_size, v = c.vocab_size;
  const double per_token =
      c.num_layers * (2 * (h * q + 2 * h * kv + q * h + 3 * h * ff) + 2 * 2 * q * seq / 2.0) + 2 * h * v;
  const double tokens = static_cast<double>(seq) * batch;

  LlamaGraph<float> graph(c, threads);
  ralm::llama::LlamaWeights w = ralm::llama::random_llama_weights(c, 1);
  std::vector<float> params = graph.layout().flatten(w);
  TokenBatch b;
  b.sequences = batch;
  b.length = seq;
  for (int i = 0; i < batch * seq; ++i) {
    b.inputs.push_back((i * 7919) % c.vocab_size);
    b.targets.push_back((i * 104729 + 1) % c.vocab_size);
  }
  std::vector<float> grad(params.size());
  AdamW adam({}, graph.layout().tensors(), graph.layout().total(), threads);

  double forward = 1e30, step = 1e30, prefill = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t = Clock::now();
    graph.run(params.data(), b);
    forward = std::min(forward, seconds_since(t));
    t = Clock::now();
    std::fill(grad.begin(), grad.end(), 0.0f);
    graph.run(params.data(), b, grad.data(), 1.0 / tokens);
    clip_gradient_norm(grad.data(), grad.size(), 1.0);
    adam.step(params.data(), grad.data(), 1e-4);
    step = std::min(step, seconds_since(t));
  }
  {
    ralm::llama::LlamaModel model(c, std::move(w), ralm::llama::make_ids_only_tokenizer(c.vocab_size, 1, 2),
                                  threads);
    for (int r = 0; r < reps; ++r) {
      const auto t = Clock::now();
      for (int s = 0; s < batch; ++s) {
        auto sequence = model.new_sequence();
        model.eval(*sequence, std::span<const ralm::TokenId>(b.inputs.data() + s * seq, seq),
                   {.all_logits = true});
      }
      prefill = std::min(prefill, seconds_since(t));
    }
  }
  const double fwd_flops = per_token * tokens / forward, step_flops = 3 * per_token * tokens / step,
               prefill_flops = per_token * tokens / prefill;
  std::printf("shape: hidden %d, layers %d, vocab %d, %d x %d tokens, %d thread(s), best of %d\n",
              c.hidden_size, c.num_layers, c.vocab_size, batch, seq, threads, reps);
  std::printf("%-34s %10s %12s %10s\n", "PASS", "SECONDS", "TOKENS/S", "GFLOP/S");
  std::printf("%-34s %10.3f %12.0f %10.2f\n", "llama plugin prefill (f32)", prefill, tokens / prefill,
              prefill_flops / 1e9);
  std::printf("%-34s %10.3f %12.0f %10.2f\n", "trainer forward", forward, tokens / forward, fwd_flops / 1e9);
  std::printf("%-34s %10.3f %12.0f %10.2f\n", "trainer step (fwd+bwd+AdamW, 3x)", step, tokens / step,
              step_flops / 1e9);
  std::printf("training step FLOP/s / trainer forward FLOP/s: %.2f; / llama plugin prefill FLOP/s: %.2f\n",
              step_flops / fwd_flops, step_flops / prefill_flops);
  nlohmann::json j = {{"threads", threads},
                      {"hidden", c.hidden_size},
                      {"layers", c.num_layers},
                      {"seq", seq},
                      {"batch", batch},
                      {"flops_per_token", per_token},
                      {"prefill_s", prefill},
                      {"forward_s", forward},
                      {"step_s", step},
                      {"train_tokens_per_s", tokens / step},
                      {"step_over_forward", step_flops / fwd_flops},
                      {"step_over_prefill", step_flops / prefill_flops}};
  std::ofstream("train_bench.json") << j.dump(2) << "\n";
  return 0;
}
