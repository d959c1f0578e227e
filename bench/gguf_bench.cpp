// One GGUF model's prefill and decode speed in the llama plugin, as
// llama.cpp's llama-bench measures them (bench/gguf_compare.py runs both,
// interleaved): prefill is one evaluation of N tokens from an empty
// sequence, logits for the last; decode is M tokens evaluated one at a time
// from an empty sequence. Also the process's peak resident memory, and, with
// --probe, the memory bandwidth of a streaming read on the same threads.
//
//   gguf_bench MODEL.gguf [--threads 2] [--prefill 512] [--decode 128]
//   gguf_bench --probe [--threads 2]
//
// Prints one JSON object. Not a test: nothing here asserts on time.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_limits.hpp"
#include "gguf_model.hpp"
#include "ralm/kernels/kernels.hpp"

namespace {

using namespace ralm::llama;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // kilobytes on Linux
}

// A 2 GiB streaming read, best of three: what decode's weight reads compete
// for. 2 GiB is far past any cache, so it measures memory.
double probe_gbps(int threads) {
  const std::int64_t n = std::int64_t{1} << 29;
  std::vector<float, AlignedAllocator<float>> data(static_cast<std::size_t>(n), 1.0f);
  double best = 0;
  for (int i = 0; i < 3; ++i)
    best = std::max(best, ralm::bench::stream_read_gbps(data.data(), n, threads));
  return best;
}

int usage() {
  std::cerr << "usage: gguf_bench MODEL.gguf [--threads N] [--prefill N] [--decode N]\n"
               "       gguf_bench --probe [--threads N]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path;
  int threads = 2, prefill = 512, decode = 128;
  bool probe = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> int {
      if (i + 1 >= argc) std::exit(usage());
      return std::atoi(argv[++i]);
    };
    if (a == "--threads") {
      threads = next();
    } else if (a == "--prefill") {
      prefill = next();
    } else if (a == "--decode") {
      decode = next();
    } else if (a == "--probe") {
      probe = true;
    } else if (!a.empty() && a[0] != '-' && model_path.empty()) {
      model_path = a;
    } else {
      return usage();
    }
  }
  nlohmann::ordered_json out;
  if (probe) {
    out["stream_read_gbps"] = probe_gbps(threads);
    std::cout << out.dump() << "\n";
    return 0;
  }
  if (model_path.empty() || prefill < 1 || decode < 1) return usage();
  try {
    // The context llama-bench gives its runs: the tokens they evaluate.
    auto model = load_gguf_model(model_path, threads, std::max(prefill, decode), std::nullopt);
    const auto vocab = model->config().vocab_size;
    std::vector<ralm::TokenId> tokens(static_cast<std::size_t>(std::max(prefill, decode)));
    for (std::size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = static_cast<ralm::TokenId>((i * 7919 + 3) % static_cast<std::size_t>(vocab));
    // One untimed pass faults in the mapped weights, as llama-bench's warm-up does.
    {
      auto seq = model->new_sequence();
      model->eval(*seq, std::span(tokens.data(), 16), {});
    }
    auto seq = model->new_sequence();
    auto t = Clock::now();
    model->eval(*seq, std::span(tokens.data(), static_cast<std::size_t>(prefill)), {});
    const double prefill_s = seconds_since(t);
    seq = model->new_sequence();
    t = Clock::now();
    for (int i = 0; i < decode; ++i)
      model->eval(*seq, std::span(tokens.data() + i, 1), {});
    const double decode_s = seconds_since(t);
    const auto info = model->info();
    out["model"] = model_path;
    out["file_bytes"] = std::filesystem::file_size(model_path);
    out["weights"] = model->weight_types();
    out["kernels"] = kernel_set_name(model->kernel_set());
    out["threads"] = threads;
    out["prefill_tokens"] = prefill;
    out["prefill_tps"] = prefill / prefill_s;
    out["decode_tokens"] = decode;
    out["decode_tps"] = decode / decode_s;
    out["streamed_bytes_per_token"] = model->streamed_weight_bytes();
    out["kv_bytes"] = info.kv_bytes_per_token * std::max(prefill, decode);
    out["peak_rss_mb"] = peak_rss_mb();
  } catch (const std::exception& e) {
    std::cerr << "gguf_bench: " << e.what() << "\n";
    return 1;
  }
  std::cout << out.dump() << "\n";
  return 0;
}
