// One decode step of B sequences through one eval_batch (each weight read
// once for the batch) against the same B sequences evaluated one at a time:
// what continuous batching gains per step. Interleaved A/B/A/B per batch size,
// on the shipped model (or any checkpoint), median of the repetitions.
//
//   build/bin/batch_decode_bench [--model DIR] [--batches 1,4,16,64] [--context 128]
//                                [--steps 16] [--repeat 5] [--threads 2] [--json FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llama_checkpoint.hpp"
#include "llama_model.hpp"
#include "ralm/kernels/kernels.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  std::string model = RALM_SHIPPED_MODEL_DIR;
  std::vector<int> batches = {1, 4, 16, 64};
  int context = 128;
  int steps = 16;
  int repeat = 5;
  int threads = 2;
  std::string json_path = "batch_decode_bench.json";
};

std::vector<int> split_ints(const std::string& s) {
  std::vector<int> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = std::min(s.find(',', start), s.size());
    out.push_back(std::stoi(s.substr(start, comma - start)));
    start = comma + 1;
  }
  return out;
}

// Seconds for `steps` decode steps of `batch` sequences, each first filled
// with `context` tokens: through one eval_batch per step, or one eval per
// sequence per step.
double decode_seconds(ralm::llama::LlamaModel& model, const Options& o, int batch, bool batched) {
  const auto vocab = model.info().vocab_size;
  std::vector<std::unique_ptr<ralm::Sequence>> seqs;
  std::vector<ralm::Sequence*> ptrs;
  for (int b = 0; b < batch; ++b) {
    std::vector<ralm::TokenId> prompt(static_cast<std::size_t>(o.context));
    for (int i = 0; i < o.context; ++i)
      prompt[static_cast<std::size_t>(i)] = (i * 7919 + b * 104729) % vocab;
    seqs.push_back(model.new_sequence());
    model.eval(*seqs.back(), prompt, {});
    ptrs.push_back(seqs.back().get());
  }
  std::vector<ralm::TokenId> next(static_cast<std::size_t>(batch));
  const auto start = Clock::now();
  for (int step = 0; step < o.steps; ++step) {
    for (int b = 0; b < batch; ++b)
      next[static_cast<std::size_t>(b)] = (step * 31 + b) % vocab;
    if (batched) {
      std::vector<std::span<const ralm::TokenId>> tokens;
      for (int b = 0; b < batch; ++b)
        tokens.emplace_back(&next[static_cast<std::size_t>(b)], 1);
      model.eval_batch(ptrs, tokens, {});
    } else {
      for (int b = 0; b < batch; ++b)
        model.eval(*ptrs[static_cast<std::size_t>(b)], std::span(&next[static_cast<std::size_t>(b)], 1), {});
    }
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr,
                   "usage: batch_decode_bench [--model DIR] [--batches 1,4,16,64] [--context N] [--steps N] "
                   "[--repeat N] [--threads N] [--json FILE]\n");
      return 2;
    }
    const std::string v = argv[++i];
    if (a == "--model") {
      o.model = v;
    } else if (a == "--batches") {
      o.batches = split_ints(v);
    } else if (a == "--context") {
      o.context = std::stoi(v);
    } else if (a == "--steps") {
      o.steps = std::stoi(v);
    } else if (a == "--repeat") {
      o.repeat = std::stoi(v);
    } else if (a == "--threads") {
      o.threads = std::stoi(v);
    } else if (a == "--json") {
      o.json_path = v;
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  const int longest = o.context + o.steps + 1;
  auto model = ralm::llama::load_llama_model(o.model, o.threads, longest);
  std::printf(
      "%s: %d threads, kernels %s, %d-token contexts, %d decode steps, median of %d (A/B interleaved)\n",
      o.model.c_str(), o.threads, ralm::llama::kernel_set_name(model->kernel_set()), o.context, o.steps,
      o.repeat);
  std::printf("%6s %16s %16s %8s\n", "BATCH", "batched tok/s", "one-by-one tok/s", "RATIO");
  json rows = json::array();
  for (const int batch : o.batches) {
    std::vector<double> together, alone;
    for (int r = 0; r < o.repeat; ++r) {
      together.push_back(decode_seconds(*model, o, batch, true));
      alone.push_back(decode_seconds(*model, o, batch, false));
    }
    const double tokens = static_cast<double>(batch) * o.steps;
    const double a = tokens / median(together), b = tokens / median(alone);
    std::printf("%6d %16.1f %16.1f %7.2fx\n", batch, a, b, a / b);
    rows.push_back({{"batch", batch}, {"batched_tokens_per_s", a}, {"one_by_one_tokens_per_s", b}});
  }
  std::ofstream(o.json_path) << json{{"model", o.model},
                                     {"kernels", ralm::llama::kernel_set_name(model->kernel_set())},
                                     {"threads", o.threads},
                                     {"context", o.context},
                                     {"rows", rows}}
                                    .dump(2)
                             << "\n";
  return 0;
}
