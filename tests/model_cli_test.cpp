// `ralm model info|tokenize|logits|generate|merge|convert|quantize` and `ralm ask` as a user
// meets them: through the binary, on the Hugging Face fixture (whose logits
// and greedy path a float32 evaluation must reproduce) and on tiny random
// models, with one clear line and exit code 2 for every bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "cli_expectations.hpp"
#include "lora_adapter.hpp"
#include "ralm/llama_format/config.hpp"
#include "run_command.hpp"

namespace {

using nlohmann::json;
using ralm::test::CommandResult;
using ralm::test::TempDir;

const std::string kHf = RALM_SOURCE_DIR "/tests/fixtures/hf-llama-mha-tied-bf16";

using ralm::test::run_ralm;

using ralm::test::expect_input_error;

json reference() {
  std::ifstream in(kHf + "/ref.json");
  return json::parse(in);
}

std::string ids_arg(const json& ids) {
  std::string s;
  for (const auto& id : ids)
    s += (s.empty() ? "" : ",") + std::to_string(id.get<int>());
  return s;
}

json run_json(std::vector<std::string> args) {
  const auto r = run_ralm(std::move(args));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out);
}

TEST(ModelCli, LogitsReproduceTheHuggingFaceReference) {
  const json ref = reference();
  const json out = run_json({"model", "logits", kHf, "--ids", ids_arg(ref["input_ids"]), "--positions", "all",
                             "--json", "--threads", "2"});
  ASSERT_EQ(out["input_ids"], ref["input_ids"]);
  const auto n = ref["input_ids"].size();
  ASSERT_EQ(out["positions"].size(), n);
  ASSERT_EQ(out["logits"].size(), n);
  EXPECT_EQ(out["positions"][n - 1].get<std::size_t>(), n - 1);
  const auto& last = out["logits"][n - 1];
  ASSERT_EQ(last.size(), ref["logits_last"].size());
  for (std::size_t v = 0; v < last.size(); ++v)
    EXPECT_NEAR(last[v].get<double>(), ref["logits_last"][v].get<double>(), 1e-4) << v;
  // The first 16 logits at positions 0, 5 and 31.
  const std::size_t rows[] = {0, 5, 31};
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t v = 0; v < 16; ++v)
      EXPECT_NEAR(out["logits"][rows[i]][v].get<double>(), ref["logits_rows_0_5_last"][i][v].get<double>(),
                  1e-4);
  // --positions last (the default) gives the last row alone, the same floats.
  const json only_last = run_json({"model", "logits", kHf, "--ids", ids_arg(ref["input_ids"]), "--json"});
  ASSERT_EQ(only_last["logits"].size(), 1u);
  EXPECT_EQ(only_last["positions"], json::array({n - 1}));
  for (std::size_t v = 0; v < last.size(); ++v)
    EXPECT_NEAR(only_last["logits"][0][v].get<double>(), last[v].get<double>(), 1e-5);
}

TEST(ModelCli, GenerateReproducesTheGreedyPath) {
  const json ref = reference();
  const json out = run_json({"model", "generate", kHf, "--ids", ids_arg(ref["greedy_prompt"]),
                             "--max-new-tokens", std::to_string(ref["greedy_output"].size()), "--json"});
  EXPECT_EQ(out["prompt_ids"], ref["greedy_prompt"]);
  EXPECT_EQ(out["output_ids"], ref["greedy_output"]);
  EXPECT_TRUE(out["text"].is_string());
  // Text mode prints the continuation, then the speeds.
  const auto text = run_ralm({"model", "generate", kHf, "--ids", "1,17", "--max-new-tokens", "3"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("prefill: 2 tokens"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("tokens/s"), std::string::npos) << text.out;
}

TEST(ModelCli, SamplingIsSeededAndDiffersFromGreedy) {
  auto sample = [](const std::string& seed) {
    return run_json({"model", "generate", kHf, "--ids", "1,17,250", "--max-new-tokens", "12", "--temperature",
                     "1.5", "--top-k", "50", "--top-p", "0.95", "--seed", seed, "--json"})["output_ids"];
  };
  const json a = sample("7");
  EXPECT_EQ(a, sample("7"));
  EXPECT_NE(a, sample("8"));
  expect_input_error(run_ralm({"model", "generate", kHf, "--ids", "1", "--top-p", "0"}), "top_p");
}

TEST(ModelCli, InfoShowsTheConfigAndTheCheckpoint) {
  const json info = run_json({"model", "info", kHf, "--json"});
  EXPECT_EQ(info["architecture"], "llama");
  EXPECT_EQ(info["num_layers"], 3);
  EXPECT_EQ(info["vocab_size"], 512);
  EXPECT_EQ(info["context_length"], 512);
  EXPECT_GT(info["parameters"].get<std::int64_t>(), 0);
  const json& d = info["details"];
  EXPECT_EQ(d["heads"], "4");
  EXPECT_EQ(d["kv heads"], "4");
  EXPECT_EQ(d["head size"], "32");
  EXPECT_EQ(d["rope base"], "500000");
  EXPECT_EQ(d["tied embeddings"], "yes");
  EXPECT_EQ(d["weights on disk"], "BF16");
  EXPECT_EQ(d["weights in memory"], "f32");
  EXPECT_EQ(d["adapters"], "none");
  const json bf16 = run_json({"model", "info", kHf, "--dtype", "bf16", "--json"});
  EXPECT_EQ(bf16["details"]["weights in memory"], "bf16");
  const auto table = run_ralm({"model", "info", kHf});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("norm eps"), std::string::npos) << table.out;
}

TEST(ModelCli, InfoShowsQwen2BiasesAndMistralsWindow) {
  const std::string archs = RALM_SOURCE_DIR "/tests/fixtures/hf-archs/";
  const json qwen2 = run_json({"model", "info", archs + "qwen2", "--json"});
  EXPECT_EQ(qwen2["architecture"], "qwen2");
  EXPECT_EQ(qwen2["details"]["attention biases"], "q, k, v");
  EXPECT_EQ(qwen2["details"]["sliding window"], "none");
  const json gguf = run_json({"model", "info", archs + "qwen2/qwen2-f32.gguf", "--json"});
  EXPECT_EQ(gguf["architecture"], "qwen2");
  EXPECT_EQ(gguf["details"]["attention biases"], "q, k, v");
  const json mistral = run_json({"model", "info", archs + "mistral", "--json"});
  EXPECT_EQ(mistral["architecture"], "mistral");
  EXPECT_EQ(mistral["details"]["attention biases"], "none");
  EXPECT_EQ(mistral["details"]["sliding window"], "8 positions, all layers");
}

TEST(ModelCli, TokenizeAndARandomModelWithoutACheckpoint) {
  // No checkpoint: DIR is given empty, so that TEXT stays the second positional.
  const json tok =
      run_json({"model", "tokenize", "", "hi", "--set", "init=random", "--set", "tokenizer=bytes", "--json"});
  EXPECT_EQ(tok["ids"], json::array({1, 3 + 'h', 3 + 'i'}));
  EXPECT_EQ(tok["pieces"].size(), 3u);
  const json no_bos = run_json({"model", "tokenize", "", "hi", "--no-bos", "--set", "init=random", "--set",
                                "tokenizer=bytes", "--json"});
  EXPECT_EQ(no_bos["ids"].size(), 2u);
  const json gen = run_json({"model", "generate", "", "--prompt", "hello", "--set", "init=random", "--set",
                             "tokenizer=bytes", "--max-new-tokens", "4", "--ignore-eos", "--json"});
  EXPECT_EQ(gen["output_ids"].size(), 4u);
}

// `ralm model convert` and `quantize` write GGUF files every model command
// then takes as it takes a folder.
TEST(ModelCli, ConvertAndQuantizeWriteGgufFilesThatLoad) {
  const TempDir dir;
  const std::string f32 = (dir.path() / "m-f32.gguf").string(), q8 = (dir.path() / "m-q8_0.gguf").string();
  const auto converted = run_ralm({"model", "convert", kHf, "--type", "f32", "--out", f32});
  ASSERT_EQ(converted.exit_code, 0) << converted.err;
  const auto quantized = run_ralm({"model", "quantize", kHf, "--type", "q8_0", "--out", q8});
  ASSERT_EQ(quantized.exit_code, 0) << quantized.err;
  const json info = run_json({"model", "info", q8, "--json"});
  EXPECT_EQ(info["details"]["format"], "GGUF v3");
  // q8_0, and f32 for the feed-forward's down matrix, whose input (344) is
  // no whole number of 32-weight blocks: written f16, packed as f32.
  EXPECT_EQ(info["details"]["weights in memory"], "q8_0, f32");
  EXPECT_EQ(info["details"]["gguf general.file_type"], "7");
  EXPECT_EQ(info["num_layers"], 3);
  // The f32 file computes the folder's model (GGUF's rotary order only
  // changes the order of a head's sums); the q8_0 file its 8-bit version,
  // with the same top token.
  const std::string ids = ids_arg(reference()["input_ids"]);
  const json want = run_json({"model", "logits", kHf, "--ids", ids, "--json"});
  for (const auto& [file, bound] : {std::pair{f32, 1e-4}, std::pair{q8, 0.25}}) {
    const json got = run_json({"model", "logits", file, "--ids", ids, "--json"});
    const auto& a = got["logits"][0];
    const auto& b = want["logits"][0];
    ASSERT_EQ(a.size(), b.size());
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
      worst = std::max(worst, std::abs(a[i].get<double>() - b[i].get<double>()));
    EXPECT_LE(worst, bound) << file;
    const auto top = [](const json& row) {
      std::size_t best = 0;
      for (std::size_t i = 1; i < row.size(); ++i)
        if (row[i].get<double>() > row[best].get<double>()) best = i;
      return best;
    };
    EXPECT_EQ(top(a), top(b)) << file;
  }
  expect_input_error(
      run_ralm({"model", "quantize", kHf, "--type", "q3_k", "--out", (dir.path() / "x.gguf").string()}),
      "q4_k_m");
  expect_input_error(run_ralm({"model", "quantize", kHf, "--type", "q4_0", "--out", q8}), "--force");
  expect_input_error(run_ralm({"model", "quantize", kHf, "--out", (dir.path() / "y.gguf").string()}),
                     "--type");
  expect_input_error(run_ralm({"model", "convert", kHf, "--out", (dir.path() / "z.bin").string()}), ".gguf");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "x.gguf"));
}

TEST(ModelCli, BadInputIsOneLineAndExitTwo) {
  TempDir dir;
  expect_input_error(run_ralm({"model", "info", (dir.path() / "missing").string()}),
                     "no such file or directory");
  expect_input_error(run_ralm({"model", "info", dir.path().string()}), "no config.json");
  dir.write("gpt/config.json", "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\"}");
  expect_input_error(run_ralm({"model", "info", (dir.path() / "gpt").string()}), "GPT2LMHeadModel");
  expect_input_error(run_ralm({"model", "logits", kHf, "--ids", "1,512"}),
                     "id 512 is outside the vocabulary");
  expect_input_error(run_ralm({"model", "logits", kHf, "--ids", "1,,2"}), "is not a token id");
  expect_input_error(run_ralm({"model", "logits", kHf, "--ids", "1", "--positions", "first"}),
                     "--positions: unknown value 'first'");
  expect_input_error(run_ralm({"model", "logits", kHf, "--ids", "1", "--dtype", "f16"}), "model.dtype");
  expect_input_error(run_ralm({"model", "logits", kHf}), "give exactly one of --ids");
  expect_input_error(run_ralm({"model", "logits", kHf, "--ids", "1,2,3", "--set", "context_length=2"}),
                     "3 tokens do not fit the model's context of 2");
  expect_input_error(run_ralm({"model", "logits", kHf, "--ids", "1", "--set", "colour=red"}),
                     "unknown key 'colour'");
  expect_input_error(run_ralm({"model", "info", kHf, "--plugin", "bm25"}), "unknown model plugin 'bm25'");
  expect_input_error(run_ralm({"model", "frobnicate", kHf}), "unknown action 'frobnicate'");
  expect_input_error(run_ralm({"model"}), "which action?");
  for (const std::string action : {"info", "tokenize", "logits", "generate", "merge"}) {
    const auto help = run_ralm({"model", action, "--help"});
    EXPECT_EQ(help.exit_code, 0) << action;
    EXPECT_NE(help.out.find("usage: ralm model " + action), std::string::npos) << help.out;
  }
  const auto help = run_ralm({"model", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("merge"), std::string::npos);
}

// A rank-2 adapter on every target of every layer of `c`, written as a
// PEFT folder.
void write_adapter(const std::filesystem::path& dir, const ralm::llama::LlamaConfig& c, std::uint32_t seed) {
  using namespace ralm::llama;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  auto values = [&](std::int64_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v)
      x = normal(rng);
    return v;
  };
  LoraAdapter a;
  a.r = 2;
  a.lora_alpha = 4;
  a.target_modules = {std::begin(kLoraTargets), std::end(kLoraTargets)};
  for (std::int32_t l = 0; l < c.num_layers; ++l) {
    for (LoraTarget t : kLoraTargets) {
      const auto [out, in] = lora_target_shape(c, t);
      a.factors.push_back({l, t, values(a.r * in), values(out * a.r)});
    }
  }
  write_peft_adapter(dir, a, c);
}

std::vector<double> last_logits(const json& out) {
  return out["logits"].back().get<std::vector<double>>();
}

TEST(ModelCli, MergeWritesACheckpointThatMatchesTheAdapterUnmerged) {
  TempDir dir;
  const auto config = ralm::llama::read_llama_config(kHf);
  const std::string adapter = (dir.path() / "adapter").string(), merged = (dir.path() / "merged").string();
  write_adapter(adapter, config, 3);
  const std::string ids = "1,17,250,3,99,42,42,7,300,5";
  const auto base = last_logits(run_json({"model", "logits", kHf, "--ids", ids, "--json"}));
  const auto with =
      last_logits(run_json({"model", "logits", kHf, "--ids", ids, "--adapter", adapter, "--json"}));
  double moved = 0;
  for (std::size_t v = 0; v < base.size(); ++v)
    moved = std::max(moved, std::abs(base[v] - with[v]));
  EXPECT_GT(moved, 1e-3);  // the adapter changes the logits

  const auto r = run_ralm({"model", "merge", kHf, "--adapter", adapter, "--out", merged});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(merged + "/config.json"));
  EXPECT_TRUE(std::filesystem::exists(merged + "/model.safetensors"));
  const auto from_merged = last_logits(run_json({"model", "logits", merged, "--ids", ids, "--json"}));
  ASSERT_EQ(from_merged.size(), with.size());
  for (std::size_t v = 0; v < with.size(); ++v)
    EXPECT_NEAR(from_merged[v], with[v], 1e-4) << v;
  // From a model that merges its adapters itself (merge_adapter: true), the same checkpoint.
  const std::string merged2 = (dir.path() / "merged2").string();
  ASSERT_EQ(
      run_ralm({"model", "merge", kHf, "--adapter", adapter, "--set", "merge_adapter=true", "--out", merged2})
          .exit_code,
      0);
  const auto from_merged2 = last_logits(run_json({"model", "logits", merged2, "--ids", ids, "--json"}));
  for (std::size_t v = 0; v < with.size(); ++v)
    EXPECT_NEAR(from_merged2[v], with[v], 1e-4) << v;
  const json info = run_json({"model", "info", merged, "--json"});
  EXPECT_EQ(info["details"]["weights on disk"], "F32");
  EXPECT_EQ(info["adapter_folders"], json::array());
  // An adapter kept inside a checkpoint folder is listed by info.
  write_adapter(merged + "/lora", config, 5);
  EXPECT_EQ(run_json({"model", "info", merged, "--json"})["adapter_folders"],
            json::array({merged + "/lora"}));
  const json active = run_json({"model", "info", kHf, "--adapter", adapter, "--json"});
  EXPECT_EQ(active["details"]["adapters"], "adapter (active)");

  // The adapter applied through generate changes nothing about the command.
  const json gen = run_json(
      {"model", "generate", kHf, "--ids", ids, "--adapter", adapter, "--max-new-tokens", "4", "--json"});
  EXPECT_EQ(gen["output_ids"].size(), 4u);

  expect_input_error(run_ralm({"model", "merge", kHf, "--adapter", adapter, "--out", merged}),
                     "exists; pass --force to replace it");
  EXPECT_EQ(run_ralm({"model", "merge", kHf, "--adapter", adapter, "--out", merged, "--force"}).exit_code, 0);
  expect_input_error(run_ralm({"model", "merge", kHf, "--out", merged + "2"}), "which adapter?");
  expect_input_error(run_ralm({"model", "merge", kHf, "--adapter", adapter}), "give --out DIR2");
  // An adapter made for another base: its shapes disagree, and the tensor is named.
  auto other = config;
  other.intermediate_size = 100;
  write_adapter(dir.path() / "other", other, 4);
  expect_input_error(
      run_ralm({"model", "logits", kHf, "--ids", "1", "--adapter", (dir.path() / "other").string()}),
      "mlp.down_proj.lora_A.weight has shape [2, 100], expected [2, 344]");
  expect_input_error(
      run_ralm({"model", "logits", kHf, "--ids", "1", "--adapter", (dir.path() / "none").string()}),
      "--adapter: no such directory");
}

// A folder with the fixture corpus and a pipeline: a tiny random Llama over
// bytes, BM25, prepend every 4 tokens.
struct AskWorkspace {
  TempDir dir;
  AskWorkspace() {
    ralm::test::build_fixture_corpus(dir.path());
    dir.write(
        "p.yaml",
        "model: {plugin: llama, init: random, seed: 1, tokenizer: bytes, hidden_size: 32,\n"
        "        intermediate_size: 64, num_layers: 2, num_heads: 4, num_kv_heads: 2, context_length: 512}\n"
        "retriever: {plugin: bm25, corpus: corpus}\n"
        "policy: {plugin: prepend}\n"
        "engine: {stride: 4, max_passage_tokens: 32, max_new_tokens: 12, threads: 1}\n");
    dir.write("spec.yaml",
              "extends: p.yaml\nscheduler: {plugin: fixed, steps_per_round: 2}\nengine: {prefetch: 4}\n");
    dir.write("qa.yaml", "extends: p.yaml\ntask: {kind: qa, questions: q.jsonl}\n");
  }
  CommandResult run(std::vector<std::string> args) const { return run_ralm(std::move(args), dir.path()); }
};

TEST(AskCli, PrintsTheAnswerEachRetrievalAndTheLatency) {
  AskWorkspace w;
  const auto r = w.run({"ask", "p.yaml", "what is a compiler"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("answer: \"", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("3 retrieval(s)"), std::string::npos) << r.out;  // at tokens 0, 4 and 8
  EXPECT_NE(r.out.find("retriever"), std::string::npos) << r.out;
  for (const std::string phase : {"retrieval", "prefill", "decode", "cache", "overlapped", "total"})
    EXPECT_NE(r.out.find(phase), std::string::npos) << phase;

  const auto j = w.run({"ask", "p.yaml", "what is a compiler", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const json out = json::parse(j.out);
  ASSERT_EQ(out["retrievals"].size(), 3u);
  EXPECT_EQ(out["retrievals"][0]["position"], 0);
  EXPECT_EQ(out["retrievals"][1]["position"], 4);
  EXPECT_EQ(out["retrievals"][0]["speculative"], false);
  ASSERT_EQ(out["retrievals"][0]["passages"].size(), 1u);
  EXPECT_TRUE(out["retrievals"][0]["passages"][0]["title"].is_string());
  EXPECT_FALSE(out["retrievals"][0]["passages"][0]["text"].get<std::string>().empty());
  EXPECT_GE(out["retrievals"][0]["passages"][0]["id"].get<std::int64_t>(), 0);
  EXPECT_EQ(out["output_tokens"], 12);
  EXPECT_EQ(out["prompt"], "what is a compiler");
  EXPECT_TRUE(out["times"].contains("overlapped"));

  // With speculation: the same text, and retrievals served by the cache are marked.
  const json spec = json::parse(w.run({"ask", "spec.yaml", "what is a compiler", "--json"}).out);
  EXPECT_EQ(spec["text"], out["text"]);
  bool any_speculative = false;
  for (const auto& rec : spec["retrievals"])
    any_speculative = any_speculative || rec["speculative"].get<bool>();
  EXPECT_TRUE(any_speculative) << spec.dump();
  EXPECT_GT(spec["speculation"]["rounds"].get<std::int64_t>(), 0);

  // With two threads BM25's batched verification wakes OpenMP workers, which
  // must not outlive their library at exit (a crash once in a few runs).
  for (int i = 0; i < 4; ++i) {
    const auto threaded = w.run({"ask", "spec.yaml", "what is a compiler", "--set", "engine.threads=2"});
    EXPECT_EQ(threaded.exit_code, 0) << threaded.err;
  }

  // A qa pipeline asks through its template.
  const json qa = json::parse(w.run({"ask", "qa.yaml", "what is a compiler", "--json"}).out);
  EXPECT_NE(qa["prompt"].get<std::string>().find("what is a compiler"), std::string::npos);
  EXPECT_NE(qa["prompt"], "what is a compiler");

  expect_input_error(w.run({"ask", "p.yaml"}), "which question?");
  expect_input_error(w.run({"ask", "missing.yaml", "q"}), "missing.yaml");
  expect_input_error(w.run({"ask", "p.yaml", "q", "--set", "engine.stride=0"}), "engine.stride");
  const auto help = w.run({"ask", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("usage: ralm ask"), std::string::npos);
}

}  // namespace
