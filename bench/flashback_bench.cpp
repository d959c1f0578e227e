// FlashBack's runtime test (Liu et al. 2025), reproduced with the engine:
// time per generated token for `append` and `prepend` as the input grows,
// stride 16, 32-token queries, one passage of at most 128 tokens, BM25 over a
// passage store, a Llama-shaped model with random weights and a byte
// tokenizer. Beside each speed-up, the ideal: the ratio of tokens computed.
//
//   build/bin/flashback_bench data/corpus [new_tokens=32] [hidden=512] [layers=8] [threads=2] [dtype=f32]
// Prints a table and writes flashback_bench.json in the current folder.
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "append_policy.hpp"
#include "bm25_index.hpp"
#include "bm25_retriever.hpp"
#include "llama_model.hpp"
#include "prepend_policy.hpp"
#include "ralm/core/engine/request_loop.hpp"
#include "ralm/error.hpp"
#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/llama_format/weights.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::cerr << "usage: flashback_bench STORE_DIR [new_tokens=32] [hidden=512] [layers=8] [threads=2] "
                 "[dtype=f32|bf16]\n";
    return 2;
  }
  const int new_tokens = argc > 2 ? std::stoi(argv[2]) : 32;
  const int hidden = argc > 3 ? std::stoi(argv[3]) : 512;
  const int layers = argc > 4 ? std::stoi(argv[4]) : 8;
  const int threads = argc > 5 ? std::stoi(argv[5]) : 2;
  const std::string dtype = argc > 6 ? argv[6] : "f32";
  if (dtype != "f32" && dtype != "bf16") {
    std::cerr << "flashback_bench: dtype must be f32 or bf16, not '" << dtype << "'\n";
    return 2;
  }
  const auto store = ralm::PassageStore::open(argv[1]);
  const fs::path index_dir = fs::temp_directory_path() / ("flashback-bench-" + std::to_string(::getpid()));
  ralm::bm25::build_index(*store, index_dir, true);

  ralm::llama::LlamaConfig c;
  c.vocab_size = 261;  // bytes (3..258) and the two marking tokens
  c.hidden_size = hidden;
  c.intermediate_size = hidden * 8 / 3;
  c.num_layers = layers;
  c.num_heads = hidden / 64;
  c.num_kv_heads = std::max(1, hidden / 256);
  c.head_dim = 64;
  c.max_position_embeddings = 4096 + 256;
  auto model = std::make_shared<ralm::llama::LlamaModel>(
      c, ralm::llama::random_llama_weights(c, 1), ralm::llama::make_byte_tokenizer(c.vocab_size), threads, 0,
      dtype == "bf16" ? ralm::llama::WeightType::bf16 : ralm::llama::WeightType::f32);
  auto retriever = std::make_shared<ralm::bm25::Bm25Retriever>(
      store, std::make_unique<ralm::bm25::Bm25Index>(index_dir, *store, 0.9f, 0.4f), 2);

  ralm::core::EngineSettings s;
  s.stride = 16;
  s.query_tokens = 32;
  s.top_k = 1;
  s.max_passage_tokens = 128;
  s.max_new_tokens = new_tokens;

  // The input: passages of the store, concatenated, cut to the length wanted.
  std::string text;
  for (ralm::PassageId id = 0; text.size() < 5000 && id < store->size(); ++id)
    text += std::string(store->text(id)) + " ";

  nlohmann::json rows = nlohmann::json::array();
  struct Breakdown {
    int input;
    ralm::core::PhaseTimes times[2];
  };
  std::vector<Breakdown> breakdown;
  std::printf("%6s %14s %14s %9s %14s %10s\n", "INPUT", "prepend ms/tok", "append ms/tok", "SPEED-UP",
              "IDEAL (tokens)", "OF IDEAL");
  for (const int input : {512, 1024, 2048, 3968}) {
    const std::string prompt = text.substr(0, static_cast<std::size_t>(input - 1));  // + BOS = input tokens
    double per_token[2] = {0, 0};
    std::int64_t computed[2] = {0, 0};
    ralm::core::PhaseTimes times[2];
    for (int which = 0; which < 2; ++which) {
      ralm::core::BuiltPipeline p;
      p.model = model;
      p.retriever = retriever;
      if (which == 0) {
        p.policy = std::make_shared<ralm::policies::PrependPolicy>(1, false);
      } else {
        p.policy = std::make_shared<ralm::policies::AppendPolicy>(ralm::policies::MarkingTokens{259, 260});
      }
      ralm::core::RequestLoop loop(p, s);
      const auto r = loop.run(prompt);
      per_token[which] = 1000.0 * r.times.total / static_cast<double>(r.output.size());
      computed[which] = r.tokens_computed;
      times[which] = r.times;
    }
    const double speedup = per_token[0] / per_token[1];
    const double ideal = static_cast<double>(computed[0]) / static_cast<double>(computed[1]);
    std::printf("%6d %14.2f %14.2f %8.2fx %13.2fx %9.0f%%\n", input, per_token[0], per_token[1], speedup,
                ideal, 100 * speedup / ideal);
    breakdown.push_back({input, times[0], times[1]});
    rows.push_back({{"input_tokens", input},
                    {"prepend_ms_per_token", per_token[0]},
                    {"append_ms_per_token", per_token[1]},
                    {"speedup", speedup},
                    {"tokens_computed_prepend", computed[0]},
                    {"tokens_computed_append", computed[1]},
                    {"ideal", ideal}});
  }
  // Where the time went: both policies decode the same number of tokens
  // over a context of about the same length, so their decode seconds should
  // match; the speed-up is won or lost in prefill.
  std::printf("\n%6s %-8s %10s %10s %10s %10s\n", "INPUT", "POLICY", "PREFILL s", "DECODE s", "RETRIEVE s",
              "OTHER s");
  for (const auto& b : breakdown) {
    for (int which = 0; which < 2; ++which) {
      const auto& t = b.times[which];
      std::printf("%6d %-8s %10.3f %10.3f %10.3f %10.3f\n", b.input, which == 0 ? "prepend" : "append",
                  t.prefill, t.decode, t.retrieval, t.total - t.prefill - t.decode - t.retrieval);
    }
    rows[&b - breakdown.data()]["seconds"] = {{"prepend",
                                               {{"prefill", b.times[0].prefill},
                                                {"decode", b.times[0].decode},
                                                {"retrieval", b.times[0].retrieval},
                                                {"total", b.times[0].total}}},
                                              {"append",
                                               {{"prefill", b.times[1].prefill},
                                                {"decode", b.times[1].decode},
                                                {"retrieval", b.times[1].retrieval},
                                                {"total", b.times[1].total}}}};
  }
  std::ofstream("flashback_bench.json")
      << nlohmann::json{{"hidden", hidden},   {"dtype", dtype},           {"layers", layers},
                        {"threads", threads}, {"new_tokens", new_tokens}, {"rows", rows}}
             .dump(2)
      << "\n";
  fs::remove_all(index_dir);
  return 0;
} catch (const ralm::Error& e) {
  std::cerr << "flashback_bench: " << e.what() << "\n";
  return 2;
}
