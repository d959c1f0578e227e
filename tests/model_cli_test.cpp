// `ralm model info|tokenize|logits|generate|merge` and `ralm ask` as a user
// meets them: through the binary, on the Hugging Face fixture (whose logits
// and greedy path a float32 evaluation must reproduce) and on tiny random
// models, with one clear line and exit code 2 for every bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "llama_config.hpp"
#include "lora_adapter.hpp"
#include "run_command.hpp"

namespace {

using nlohmann::json;
using ralm::test::CommandResult;
using ralm::test::run_command;
using ralm::test::TempDir;

const std::string kHf = RALM_SOURCE_DIR "/tests/fixtures/hf-llama-mha-tied-bf16";

CommandResult ralm_cmd(std::vector<std::string> args, const std::filesystem::path& cwd = {}) {
  args.insert(args.begin(), RALM_EXE);
  return run_command(args, cwd);
}

void expect_input_error(const CommandResult& r, const std::string& expected) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  const auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("ralm: error: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(expected), std::string::npos) << lines[0];
}

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
  const auto r = ralm_cmd(std::move(args));
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
  const auto text = ralm_cmd({"model", "generate", kHf, "--ids", "1,17", "--max-new-tokens", "3"});
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
  expect_input_error(ralm_cmd({"model", "generate", kHf, "--ids", "1", "--top-p", "0"}), "top_p");
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
  const auto table = ralm_cmd({"model", "info", kHf});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("norm eps"), std::string::npos) << table.out;
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

TEST(ModelCli, BadInputIsOneLineAndExitTwo) {
  TempDir dir;
  expect_input_error(ralm_cmd({"model", "info", (dir.path() / "missing").string()}), "no such directory");
  expect_input_error(ralm_cmd({"model", "info", dir.path().string()}), "no config.json");
  dir.write("gpt/config.json", "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\"}");
  expect_input_error(ralm_cmd({"model", "info", (dir.path() / "gpt").string()}), "GPT2LMHeadModel");
  expect_input_error(ralm_cmd({"model", "logits", kHf, "--ids", "1,512"}),
                     "id 512 is outside the vocabulary");
  expect_input_error(ralm_cmd({"model", "logits", kHf, "--ids", "1,,2"}), "is not a token id");
  expect_input_error(ralm_cmd({"model", "logits", kHf, "--ids", "1", "--positions", "first"}),
                     "--positions: unknown value 'first'");
  expect_input_error(ralm_cmd({"model", "logits", kHf, "--ids", "1", "--dtype", "f16"}), "model.dtype");
  expect_input_error(ralm_cmd({"model", "logits", kHf}), "give exactly one of --ids");
  expect_input_error(ralm_cmd({"model", "logits", kHf, "--ids", "1,2,3", "--set", "context_length=2"}),
                     "3 tokens do not fit the model's context of 2");
  expect_input_error(ralm_cmd({"model", "logits", kHf, "--ids", "1", "--set", "colour=red"}),
                     "unknown key 'colour'");
  expect_input_error(ralm_cmd({"model", "frobnicate", kHf}), "unknown action 'frobnicate'");
  expect_input_error(ralm_cmd({"model"}), "which action?");
  for (const std::string action : {"info", "tokenize", "logits", "generate", "merge"}) {
    const auto help = ralm_cmd({"model", action, "--help"});
    EXPECT_EQ(help.exit_code, 0) << action;
    EXPECT_NE(help.out.find("usage: ralm model " + action), std::string::npos) << help.out;
  }
  const auto help = ralm_cmd({"model", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("merge"), std::string::npos);
}

}  // namespace
