// Encoding throughput of the tokenizer.json reader on each fixture of
// tests/fixtures/tokenizers, one line of TEXT_FILE a call on one thread,
// beside Hugging Face tokenizers' own (tests/oracle/bench.js, through node)
// on the same lines when the oracle is installed.
//
//   tokenizer_bench TEXT_FILE
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "ralm/hf_tokenizer/hf_tokenizer.hpp"

namespace fs = std::filesystem;

namespace {

// The oracle's figure, or null where node or the oracle is missing.
nlohmann::json oracle_figure(const fs::path& fixture, const fs::path& text) {
  const fs::path oracle = fs::path(RALM_SOURCE_DIR) / "tests/oracle";
  if (!fs::exists(oracle / "node_modules")) return nullptr;
  const std::string command = "RAYON_NUM_THREADS=1 node '" + (oracle / "bench.js").string() + "' '" +
                              fixture.string() + "' '" + text.string() + "' 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return nullptr;
  std::string out;
  std::array<char, 4096> buffer{};
  while (const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe))
    out.append(buffer.data(), n);
  if (::pclose(pipe) != 0) return nullptr;
  return nlohmann::json::parse(out, nullptr, false);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: tokenizer_bench TEXT_FILE\n";
    return 2;
  }
  const fs::path text = argv[1];
  std::vector<std::string> lines;
  std::size_t bytes = 0;
  {
    std::ifstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      bytes += line.size();
      lines.push_back(std::move(line));
    }
  }
  const fs::path fixtures = fs::path(RALM_SOURCE_DIR) / "tests/fixtures/tokenizers";
  nlohmann::json results = nlohmann::json::array();
  for (const char* name : {"byte_level_bpe.json", "sentencepiece_bpe.json", "wordpiece.json"}) {
    const auto tokenizer = ralm::hf::load_tokenizer_json(fixtures / name);
    std::size_t tokens = 0;
    const double seconds = ralm::bench::time_median(
        [&] {
          tokens = 0;
          for (const auto& line : lines)
            tokens += tokenizer->encode(line, false).size();
        },
        2.0);
    nlohmann::json row = {{"tokenizer", name},
                          {"lines", lines.size()},
                          {"bytes", bytes},
                          {"tokens", tokens},
                          {"ralm_tokens_per_s", tokens / seconds},
                          {"ralm_mb_per_s", bytes / seconds / 1e6}};
    const auto oracle = oracle_figure(fixtures / name, text);
    if (oracle.is_object()) {
      row["hf_tokens_per_s"] = oracle["tokens"].get<double>() / oracle["seconds"].get<double>();
      row["hf_tokens"] = oracle["tokens"];
    }
    std::cout << row.dump() << "\n";
    results.push_back(row);
  }
  std::ofstream("tokenizer_bench.json") << results.dump(2) << "\n";
  return 0;
}
