// matmul_quant at TinyLlama-1.1B's matrix shapes, per GGML type, beside the
// limit this binary measures in the same run:
//
//   matvec   (decode, one row) weight bytes read per second, over a
//            streaming read on the same threads measured just before and
//            just after (bandwidth here swings within minutes), 5 such
//            pairs, the medians; each call reads a different copy of the
//            matrix, copies totalling 256 MiB or more, so the weights come
//            from memory, not the 32 MiB L3;
//   prefill  (512 rows by default) GFLOP/s, 2 · rows · in · out per call.
//
// Prints which kernel set ran and a table; writes the figures as JSON. Not a
// test: nothing here asserts on time.
//
//   quant_matmul_bench [--threads N] [--rows N] [--probe-gib G] [--pairs N] [--types q4_0,q8_0,q4_K,q6_K]
//                      [--shapes q/o,gate/up,down,head] [--json quant_matmul_bench.json]
//                      [--portable]   (also time the portable set)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench_limits.hpp"
#include "bench_timing.hpp"
#include "quant_kernels.hpp"
#include "quant_matrix.hpp"
#include "ralm/gguf/ggml_types.hpp"
#include "ralm/kernels/kernels.hpp"

namespace {

using namespace ralm::llama;
using ralm::bench::median;
using ralm::bench::time_median;
using ralm::gguf::GgmlType;

struct Shape {
  const char* name;
  std::int64_t out, in;
};
// TinyLlama-1.1B: q and o (2048 × 2048), gate and up (5632 × 2048), down
// (2048 × 5632), the output head (32000 × 2048); out × in.
constexpr Shape kShapes[] = {
    {"q/o", 2048, 2048}, {"gate/up", 5632, 2048}, {"down", 2048, 5632}, {"head", 32000, 2048}};

struct Options {
  int threads = 2;
  std::int64_t rows = 512;
  double probe_gib = 1.0;
  int pairs = 5;  // matvec timings per shape, each between two probes
  std::vector<GgmlType> types = {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K};
  std::vector<std::string> shapes;  // all when empty
  bool portable = false;
  std::string json_path = "quant_matmul_bench.json";
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "quant_matmul_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") {
      o.threads = std::stoi(next());
    } else if (a == "--rows") {
      o.rows = std::stoll(next());
    } else if (a == "--probe-gib") {
      o.probe_gib = std::stod(next());
    } else if (a == "--pairs") {
      o.pairs = std::max(1, std::stoi(next()));
    } else if (a == "--json") {
      o.json_path = next();
    } else if (a == "--portable") {
      o.portable = true;
    } else if (a == "--shapes") {
      std::stringstream list(next());
      std::string name;
      while (std::getline(list, name, ',')) {
        if (std::none_of(std::begin(kShapes), std::end(kShapes),
                         [&](const Shape& s) { return name == s.name; })) {
          std::fprintf(stderr, "quant_matmul_bench: --shapes: unknown shape %s (q/o, gate/up, down, head)\n",
                       name.c_str());
          std::exit(2);
        }
        o.shapes.push_back(name);
      }
    } else if (a == "--types") {
      o.types.clear();
      std::stringstream list(next());
      std::string name;
      while (std::getline(list, name, ',')) {
        bool found = false;
        for (const GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
          if (ralm::gguf::type_name(t) == name) {
            o.types.push_back(t);
            found = true;
          }
        }
        if (!found) {
          std::fprintf(stderr, "quant_matmul_bench: --types: unknown type %s (q4_0, q8_0, q4_K, q6_K)\n",
                       name.c_str());
          std::exit(2);
        }
      }
    } else {
      std::fprintf(stderr, "quant_matmul_bench: unknown option %s\n", a.c_str());
      std::exit(2);
    }
  }
  return o;
}

std::vector<float> random_floats(std::int64_t n, std::uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v)
    x = u(rng);
  return v;
}

// An out × in matrix of `type` in `copies` separate buffers: 256 random rows
// quantized once (the reference quantizer is slow), repeated.
struct Copies {
  std::vector<AlignedBuffer> buffers;
  std::vector<QuantMatrix> matrices;
};

Copies make_copies(GgmlType type, std::int64_t out, std::int64_t in, std::size_t copies) {
  const std::int64_t seed_rows = std::min<std::int64_t>(out, 256);
  const auto seed = QuantMatrix::quantize(type, random_floats(seed_rows * in, 42, 0.05f), seed_rows, in);
  const std::size_t rb = seed.row_bytes();
  Copies c;
  for (std::size_t i = 0; i < copies; ++i) {
    c.buffers.emplace_back(rb * static_cast<std::size_t>(out));
    auto* p = static_cast<std::byte*>(c.buffers.back().data());
    for (std::int64_t o = 0; o < out; ++o)
      std::memcpy(p + static_cast<std::size_t>(o) * rb, seed.row(o % seed_rows), rb);
    c.matrices.emplace_back(type, in, std::vector<QuantMatrix::Segment>{{p, out}});
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const bool avx512 = kernel_set_supported(KernelSet::avx512);
  if (!avx512) {
    std::fprintf(stderr, "quant_matmul_bench: this CPU lacks the avx512 kernel set; nothing to time\n");
    return 1;
  }
  std::vector<KernelSet> sets = {KernelSet::avx512};
  if (o.portable) sets.push_back(KernelSet::portable);
  std::printf("kernels: avx512 (AVX-512 F/BW/VL with VNNI vpdpbusd)%s; %d threads\n",
              o.portable ? " and portable" : "", o.threads);

  const auto probe_n = static_cast<std::int64_t>(o.probe_gib * (1 << 30)) / 4;
  AlignedBuffer probe_buffer(static_cast<std::size_t>(probe_n) * 4);
  {
    auto* p = static_cast<float*>(probe_buffer.data());
    for (std::int64_t i = 0; i < probe_n; ++i)
      p[i] = static_cast<float>(i & 1023);
  }
  const auto probe = [&] {
    return ralm::bench::stream_read_gbps(static_cast<const float*>(probe_buffer.data()), probe_n, o.threads);
  };

  std::printf("\n%-6s %-8s %6s %6s | %-8s | %8s %8s %8s %6s | %9s\n", "type", "shape", "out", "in", "set",
              "matvec", "probe", "of probe", "us", "prefill");
  std::printf("%-6s %-8s %6s %6s | %-8s | %8s %8s %8s %6s | %9s\n", "", "", "", "", "", "GB/s", "GB/s", "",
              "", "GFLOP/s");
  nlohmann::json results = nlohmann::json::array();
  for (const GgmlType type : o.types) {
    for (const Shape& s : kShapes) {
      if (!o.shapes.empty() && std::find(o.shapes.begin(), o.shapes.end(), s.name) == o.shapes.end())
        continue;
      const std::size_t bytes = ralm::gguf::row_bytes(type, s.in) * static_cast<std::size_t>(s.out);
      const auto copies = std::max<std::size_t>(2, (std::size_t{256} << 20) / bytes + 1);
      const Copies c = make_copies(type, s.out, s.in, copies);
      const auto x = random_floats(o.rows * s.in, 7, 1.0f);
      std::vector<float> y(static_cast<std::size_t>(o.rows * s.out));
      for (const KernelSet set : sets) {
        // Probe and product alternate, `pairs` times: each product's weight
        // GB/s over the mean of the probes either side of it; the medians.
        std::vector<double> gbps_runs, ratio_runs, time_runs;
        std::size_t next = 0;
        double before = probe();
        for (int i = 0; i < o.pairs; ++i) {
          const double t = time_median(
              [&] { matmul_quant(set, x.data(), 1, c.matrices[next++ % copies], y.data(), o.threads); }, 0.1);
          const double after = probe();
          const double gbps = static_cast<double>(bytes) / t / 1e9;
          gbps_runs.push_back(gbps);
          ratio_runs.push_back(gbps / ((before + after) / 2));
          time_runs.push_back(t);
          before = after;
        }
        double gflops = 0;
        // The portable set's prefill of the head would take minutes.
        if (set == KernelSet::avx512 || s.out * s.in <= 2048 * 5632) {
          const double t_pre = time_median(
              [&] { matmul_quant(set, x.data(), o.rows, c.matrices[0], y.data(), o.threads); }, 1.0, 2);
          gflops = 2.0 * static_cast<double>(o.rows * s.out * s.in) / t_pre / 1e9;
        }
        const double gbps = median(gbps_runs), ratio = median(ratio_runs);
        std::printf("%-6s %-8s %6lld %6lld | %-8s | %8.1f %8.1f %7.0f%% %6.0f | %9.1f\n",
                    std::string(ralm::gguf::type_name(type)).c_str(), s.name, static_cast<long long>(s.out),
                    static_cast<long long>(s.in), kernel_set_name(set), gbps, gbps / ratio, 100 * ratio,
                    median(time_runs) * 1e6, gflops);
        std::fflush(stdout);
        results.push_back({{"type", ralm::gguf::type_name(type)},
                           {"shape", s.name},
                           {"out", s.out},
                           {"in", s.in},
                           {"set", kernel_set_name(set)},
                           {"matvec_weight_gbps", gbps},
                           {"matvec_of_probe", ratio},
                           {"matvec_us", median(time_runs) * 1e6},
                           {"prefill_rows", o.rows},
                           {"prefill_gflops", gflops}});
      }
    }
  }
  std::printf("\nprefill: %lld rows\n", static_cast<long long>(o.rows));
  std::ofstream(o.json_path) << nlohmann::json{{"threads", o.threads}, {"results", results}}.dump(2) << "\n";
  std::printf("wrote %s\n", o.json_path.c_str());
  return 0;
}
