// The dense plugin's bert encoder: passages per second at BERT base's shape
// (110M: hidden 768, 12 layers, 12 heads, ff 3072, vocabulary 30522) and a
// small one (MiniLM-L6's: hidden 384, 6 layers, 12 heads, ff 1536), batch 1
// and 32, f32 and bf16 weights, beside each passage's FLOP count and, in the
// same run, what our matrix product reaches at its best on the shape of the
// feed-forward's first product (256 rows).
//
// Each forward pass (one batch) is timed alone: passages/s is the batch
// size over the median pass and over the fastest one. On a machine others
// share, the fastest pass is the one least interrupted, which is what the
// matrix product's best is too; the two compare like with like. "per
// CPU-s" divides by the CPU time the pass took on all its threads instead:
// the cost of a pass, whoever else ran meanwhile.
//
//   bert_bench throughput THREADS [TOKENS] [SHAPE...]
//       times the encoder on random-weight checkpoints it writes to a
//       temporary folder (TOKENS per passage, [CLS] and [SEP] included;
//       default 128; shapes small and base by default)
//   bert_bench checkpoint OUT_DIR SHAPE [VOCAB]
//       writes a random-weight checkpoint (config.json, model.safetensors)
//       of the shape, with VOCAB rows (to match a tokenizer.json) for
//       `ralm index build` runs
//   bert_bench corpus-tokens CORPUS TOKENIZER_JSON [PREFIX]
//       the tokens per passage (title, newline, text, as the index encodes
//       them) a tokenizer.json gives a passage store: mean and percentiles
//
// The weights are random (uniform, small), which changes no timing: every
// step's cost depends on the shape alone.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "bert_model.hpp"
#include "model_shapes.hpp"
#include "ralm/hf_tokenizer/hf_tokenizer.hpp"
#include "ralm/kernels/kernels.hpp"
#include "ralm/passage_store.hpp"
#include "ralm/safetensors.hpp"

namespace {

namespace fs = std::filesystem;
using ralm::bench::Clock;
using ralm::bench::seconds_since;
using ralm::kernels::WeightType;

struct BertShape {
  std::string name;
  std::int64_t hidden, layers, heads, ff, vocab;
};

const std::vector<BertShape> kShapes = {
    {"small", 384, 6, 12, 1536, 30522},
    {"base", 768, 12, 12, 3072, 30522},
};

const BertShape& shape_named(const std::string& name) {
  for (const BertShape& s : kShapes)
    if (s.name == name) return s;
  std::fprintf(stderr, "bert_bench: no shape %s (small, base)\n", name.c_str());
  std::exit(2);
}

void write_checkpoint(const fs::path& dir, const BertShape& s) {
  fs::create_directories(dir);
  const nlohmann::json config = {
      {"model_type", "bert"},      {"architectures", {"BertModel"}}, {"vocab_size", s.vocab},
      {"hidden_size", s.hidden},   {"num_hidden_layers", s.layers},  {"num_attention_heads", s.heads},
      {"intermediate_size", s.ff}, {"max_position_embeddings", 512}, {"type_vocab_size", 2},
      {"layer_norm_eps", 1e-12},   {"hidden_act", "gelu"},           {"pad_token_id", 0}};
  std::ofstream(dir / "config.json") << config.dump(2) << "\n";
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  const std::int64_t h = s.hidden;
  std::vector<ralm::safetensors::TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, float scale, float offset = 0) {
    std::int64_t n = 1;
    for (std::int64_t d : shape)
      n *= d;
    std::vector<float> values = ralm::bench::random_floats(n, state, scale);
    for (float& v : values)
      v += offset;
    tensors.push_back({name, ralm::safetensors::DType::F32, std::move(shape), std::move(values)});
  };
  add("embeddings.word_embeddings.weight", {s.vocab, h}, 0.05f);
  add("embeddings.position_embeddings.weight", {512, h}, 0.05f);
  add("embeddings.token_type_embeddings.weight", {2, h}, 0.05f);
  add("embeddings.LayerNorm.weight", {h}, 0.05f, 1.0f);
  add("embeddings.LayerNorm.bias", {h}, 0.05f);
  for (std::int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* m : {"query", "key", "value"}) {
      add(p + "attention.self." + m + ".weight", {h, h}, 0.05f);
      add(p + "attention.self." + m + ".bias", {h}, 0.05f);
    }
    add(p + "attention.output.dense.weight", {h, h}, 0.05f);
    add(p + "attention.output.dense.bias", {h}, 0.05f);
    add(p + "attention.output.LayerNorm.weight", {h}, 0.05f, 1.0f);
    add(p + "attention.output.LayerNorm.bias", {h}, 0.05f);
    add(p + "intermediate.dense.weight", {s.ff, h}, 0.05f);
    add(p + "intermediate.dense.bias", {s.ff}, 0.05f);
    add(p + "output.dense.weight", {h, s.ff}, 0.05f);
    add(p + "output.dense.bias", {h}, 0.05f);
    add(p + "output.LayerNorm.weight", {h}, 0.05f, 1.0f);
    add(p + "output.LayerNorm.bias", {h}, 0.05f);
  }
  ralm::safetensors::write_file(dir / "model.safetensors", tensors);
}

// Multiply-adds x 2 per passage of `tokens` tokens: the four attention
// projections and the two feed-forward products per token, and the
// attention's scores and weighted sums (tokens^2 per head dimension, twice).
double flops_per_passage(const BertShape& s, std::int64_t tokens) {
  const double t = static_cast<double>(tokens), h = static_cast<double>(s.hidden),
               f = static_cast<double>(s.ff);
  const double per_layer = 2 * t * (4 * h * h + 2 * h * f) + 2 * 2 * t * t * h;
  return per_layer * static_cast<double>(s.layers);
}

// Our matrix product's best GFLOP/s: x (rows x in) by a packed (out x in)
// matrix, on `threads` threads, the shape of the feed-forward's first product.
double matmul_gflops(const BertShape& s, WeightType type, int threads) {
  const std::int64_t rows = 256, in = s.hidden, out = s.ff;
  std::uint64_t state = 7;
  const std::vector<float> w = ralm::bench::random_floats(out * in, state, 0.05f);
  const std::vector<float> x = ralm::bench::random_floats(rows * in, state, 1.0f);
  std::vector<float> y(static_cast<std::size_t>(rows * out));
  const ralm::kernels::PackedMatrix packed(w, out, in, type);
  const auto set = ralm::kernels::default_kernel_set();
  double best = 1e30;
  for (int rep = 0; rep < 20; ++rep) {
    const auto t0 = Clock::now();
    ralm::kernels::matmul(set, x.data(), rows, packed, y.data(), threads);
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * static_cast<double>(rows * in * out) / best / 1e9;
}

// CPU time of every thread of the process: what a pass costs however
// long others held the cores meanwhile.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::vector<ralm::Tokens> random_passages(std::int64_t n, std::int64_t tokens, std::int64_t vocab) {
  std::uint64_t state = 42;
  std::vector<ralm::Tokens> passages(static_cast<std::size_t>(n));
  for (ralm::Tokens& p : passages) {
    p.push_back(101);
    for (std::int64_t i = 2; i < tokens; ++i) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      p.push_back(static_cast<ralm::TokenId>(1000 + state % static_cast<std::uint64_t>(vocab - 1000)));
    }
    p.push_back(102);
  }
  return passages;
}

int throughput(int threads, std::int64_t tokens, std::vector<std::string> shapes) {
  if (shapes.empty()) shapes = {"small", "base"};
  const fs::path dir = fs::temp_directory_path() / ("ralm-bert-bench-" + std::to_string(::getpid()));
  std::printf("kernels %s, %d threads, %lld tokens per passage\n",
              ralm::kernels::kernel_set_name(ralm::kernels::default_kernel_set()), threads,
              static_cast<long long>(tokens));
  std::printf("%-6s %-5s %6s %10s %10s %10s %11s %13s %15s %14s\n", "shape", "dtype", "batch", "median/s",
              "best/s", "per CPU-s", "GFLOP/pass", "best GFLOP/s", "matmul GFLOP/s", "of matmul best");
  for (const std::string& name : shapes) {
    const BertShape& s = shape_named(name);
    const fs::path checkpoint = dir / name;
    write_checkpoint(checkpoint, s);
    const double flops = flops_per_passage(s, tokens);
    for (WeightType type : {WeightType::f32, WeightType::bf16}) {
      const ralm::dense::BertModel model(checkpoint, type);
      const double peak = matmul_gflops(s, type, threads);
      for (std::int64_t batch : {1, 32}) {
        // Enough passages for a few seconds at either batch size.
        const std::int64_t n = batch == 1 ? (name == "base" ? 12 : 48) : (name == "base" ? 96 : 192);
        const std::vector<ralm::Tokens> passages = random_passages(n, tokens, s.vocab);
        std::vector<float> out(static_cast<std::size_t>(batch * s.hidden));
        model.pool(std::span(passages).subspan(0, static_cast<std::size_t>(batch)),
                   ralm::dense::BertPooling::cls, out.data(), threads);  // warm-up: pages, pool threads
        std::vector<double> passes, cpu;
        for (std::int64_t first = 0; first < n; first += batch) {
          const double c0 = process_cpu_seconds();
          const auto t0 = Clock::now();
          model.pool(
              std::span(passages).subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(batch)),
              ralm::dense::BertPooling::cls, out.data(), threads);
          passes.push_back(seconds_since(t0));
          cpu.push_back(process_cpu_seconds() - c0);
        }
        const double b = static_cast<double>(batch);
        const double median_rate = b / ralm::bench::median(passes);
        const double best_rate = b / *std::min_element(passes.begin(), passes.end());
        const double gflops = best_rate * flops / 1e9;
        const double cpu_rate = b / ralm::bench::median(cpu);
        std::printf("%-6s %-5s %6lld %10.1f %10.1f %10.1f %11.2f %13.1f %15.1f %13.0f%%\n", name.c_str(),
                    ralm::kernels::weight_type_name(type), static_cast<long long>(batch), median_rate,
                    best_rate, cpu_rate, flops / 1e9, gflops, peak, 100 * gflops / peak);
        std::fflush(stdout);
      }
    }
  }
  fs::remove_all(dir);
  return 0;
}

int corpus_tokens(const fs::path& corpus, const fs::path& tokenizer_json, const std::string& prefix) {
  const auto store = ralm::PassageStore::open(corpus);
  const auto tokenizer = ralm::hf::load_tokenizer_json(tokenizer_json);
  std::vector<double> lengths;
  for (ralm::PassageId id = 0; id < store->size(); ++id) {
    const std::string text = prefix + std::string(store->title(id)) + "\n" + std::string(store->text(id));
    lengths.push_back(static_cast<double>(tokenizer->encode(text, true).size()));
  }
  std::sort(lengths.begin(), lengths.end());
  double sum = 0;
  for (double l : lengths)
    sum += l;
  auto at = [&](double q) {
    return lengths[static_cast<std::size_t>(q * static_cast<double>(lengths.size() - 1))];
  };
  std::printf("%zu passages: mean %.1f tokens, median %.0f, p90 %.0f, p99 %.0f, max %.0f\n", lengths.size(),
              sum / static_cast<double>(lengths.size()), at(0.5), at(0.9), at(0.99), lengths.back());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "throughput" && argc >= 3) {
    const std::int64_t tokens = argc >= 4 ? std::atoll(argv[3]) : 128;
    return throughput(std::atoi(argv[2]), tokens,
                      std::vector<std::string>(argv + std::min(argc, 4), argv + argc));
  }
  if (command == "checkpoint" && argc >= 4) {
    BertShape s = shape_named(argv[3]);
    if (argc >= 5) s.vocab = std::atoll(argv[4]);
    write_checkpoint(argv[2], s);
    std::printf("%s: a random %s BERT, vocabulary %lld\n", argv[2], s.name.c_str(),
                static_cast<long long>(s.vocab));
    return 0;
  }
  if (command == "corpus-tokens" && argc >= 4)
    return corpus_tokens(argv[2], argv[3], argc >= 5 ? argv[4] : "");
  std::fprintf(stderr,
               "usage: bert_bench throughput THREADS [TOKENS] [SHAPE...]\n"
               "       bert_bench checkpoint OUT_DIR SHAPE [VOCAB]\n"
               "       bert_bench corpus-tokens CORPUS TOKENIZER_JSON [PREFIX]\n");
  return 2;
}
