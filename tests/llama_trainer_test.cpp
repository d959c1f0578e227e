// `ralm train` with the llama trainer, as a user runs it: the loss of a tiny
// model falls on a fixed corpus, an interrupted run resumed equals an
// uninterrupted one bit for bit, the model it writes loads in the llama
// plugin, and bad input stops with one clear line.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_expectations.hpp"
#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/passage_store.hpp"
#include "ralm/safetensors.hpp"
#include "run_command.hpp"

namespace {

using ralm::test::CommandResult;
using ralm::test::run_command;
using ralm::test::TempDir;
namespace fs = std::filesystem;

CommandResult ralm_cmd(std::vector<std::string> args) {
  args.insert(args.begin(), RALM_EXE);
  return run_command(args);
}

// A small corpus with structure a byte model can learn in a few dozen steps.
void write_fixture_corpus(const fs::path& dir) {
  ralm::PassageStoreWriter writer(dir, false);
  const char* animals[] = {"cat", "dog", "bird", "fish", "frog", "mouse"};
  const char* places[] = {"mat", "log", "tree", "pond", "rock", "house"};
  for (int doc = 0; doc < 120; ++doc) {
    std::string text;
    for (int s = 0; s < 6; ++s) {
      text +=
          std::string("the ") + animals[(doc + s) % 6] + " sat on the " + places[(doc * 7 + s) % 6] + ". ";
    }
    writer.add("story " + std::to_string(doc), text, doc);
  }
  ralm::CorpusManifest m;
  m.documents = 120;
  m.passages = writer.size();
  m.words_per_passage = 100;
  writer.commit(m);
}

std::string config(const fs::path& corpus, const fs::path& out, const std::string& extra = "") {
  return "name: tiny-train\n"
         "engine: {threads: 1}\n"
         "trainer:\n"
         "  plugin: llama\n"
         "  corpus: " +
         corpus.string() +
         "\n"
         "  out: " +
         out.string() +
         "\n"
         "  vocab_size: 259\n  hidden_size: 32\n  intermediate_size: 64\n  num_layers: 2\n"
         "  num_heads: 4\n  num_kv_heads: 2\n  seq_len: 32\n  batch_size: 4\n  grad_accum: 2\n"
         "  steps: 40\n  lr: 0.01\n  min_lr: 0.001\n  warmup: 5\n  eval_every: 10\n  eval_windows: 8\n"
         "  validation_permille: 100\n  checkpoint_every: 10\n" +
         extra;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double number_after(const std::string& text, const std::string& label) {
  const auto at = text.find(label);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + label.size()));
}

class Trainer : public ::testing::Test {
 protected:
  void SetUp() override { write_fixture_corpus(dir.path() / "corpus"); }
  fs::path write_config(const std::string& name, const std::string& out, const std::string& extra = "") {
    return dir.write(name, config(dir.path() / "corpus", dir.path() / out, extra));
  }
  TempDir dir;
};

TEST_F(Trainer, LossFallsAndTheModelLoadsInTheLlamaPlugin) {
  const auto r = ralm_cmd({"train", write_config("t.yaml", "out").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const double loss = number_after(r.out, "last train loss ");
  const double ppl = number_after(r.out, "held-out perplexity ");
  // Uniform over 259 bytes is a loss of 5.56; the fixture's bytes are far
  // from uniform and repeat, which a working trainer learns.
  EXPECT_GT(loss, 0);
  EXPECT_LT(loss, 3.0) << r.out;
  EXPECT_GT(ppl, 1.0);
  EXPECT_LT(ppl, 16.0) << r.out;
  EXPECT_TRUE(fs::exists(dir.path() / "out/model/model.safetensors"));
  // --eval-only measures without training: the checkpoint gives the same figure, the start a worse one.
  const auto config_file = (dir.path() / "t.yaml").string();
  const auto at_end = ralm_cmd({"train", config_file, "--eval-only", "--resume"});
  ASSERT_EQ(at_end.exit_code, 0) << at_end.err;
  EXPECT_NEAR(number_after(at_end.out, "held-out perplexity "), ppl, 1e-3 * ppl) << at_end.out;
  const auto at_start = ralm_cmd({"train", config_file, "--eval-only"});
  ASSERT_EQ(at_start.exit_code, 0) << at_start.err;
  EXPECT_GT(number_after(at_start.out, "held-out perplexity "), 2 * ppl) << at_start.out;
  // The llama plugin reads what the trainer wrote.
  const auto p =
      dir.write("load.yaml", "model: {plugin: llama, path: " + (dir.path() / "out/model").string() + "}\n");
  const auto v = ralm_cmd({"run", p.string(), "--dry-run"});
  EXPECT_EQ(v.exit_code, 0) << v.err;
}

TEST_F(Trainer, TrainsASentencePieceTokenizerThatShipsWithTheModel) {
  const auto c = write_config("sp.yaml", "sp", "  tokenizer: sentencepiece\n");
  const auto r =
      ralm_cmd({"train", c.string(), "--set", "trainer.vocab_size=320", "--set", "trainer.steps=3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path model = dir.path() / "sp/model";
  ASSERT_TRUE(fs::exists(model / "tokenizer.model"));
  const auto tokenizer = ralm::llama::make_tokenizer(model, 320, 1, 2);
  const std::string text = "the frog sat on the pond.";
  const ralm::Tokens ids = tokenizer->encode(text, false);
  EXPECT_LT(ids.size(), text.size() / 2) << "pieces longer than bytes were learnt";
  EXPECT_EQ(tokenizer->decode(ids), text);
}

TEST_F(Trainer, ResumeAfterAnInterruptionEqualsTheUninterruptedRun) {
  const auto whole = ralm_cmd({"train", write_config("a.yaml", "a").string()});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const auto b = write_config("b.yaml", "b");
  const auto first = ralm_cmd({"train", b.string(), "--stop-after", "13"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("trained 13/40 steps"), std::string::npos) << first.out;
  EXPECT_FALSE(fs::exists(dir.path() / "b/model"));
  const auto again = ralm_cmd({"train", b.string(), "--resume", "--stop-after", "9"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const auto rest = ralm_cmd({"train", b.string(), "--resume"});
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  EXPECT_EQ(read_bytes(dir.path() / "a/model/model.safetensors"),
            read_bytes(dir.path() / "b/model/model.safetensors"));
  EXPECT_EQ(read_bytes(dir.path() / "a/checkpoint/optimizer.safetensors"),
            read_bytes(dir.path() / "b/checkpoint/optimizer.safetensors"));
  // The same summary line: steps, tokens, last loss and held-out perplexity.
  EXPECT_EQ(whole.out.substr(0, whole.out.find('\n')), rest.out.substr(0, rest.out.find('\n')));
}

// The trainer's graph is Llama's: a Qwen2 or Mistral base is refused in one
// line, not trained as if it were Llama.
TEST_F(Trainer, LoraRefusesABaseOfAnotherArchitecture) {
  for (const char* arch : {"qwen2", "mistral"}) {
    const std::string lora = std::string("  mode: lora\n  base: ") + RALM_SOURCE_DIR +
                             "/tests/fixtures/hf-archs/" + arch + "\n  lora_r: 4\n";
    const auto r = ralm_cmd({"train", write_config(std::string(arch) + ".yaml", arch, lora).string()});
    EXPECT_NE(r.exit_code, 0) << arch;
    EXPECT_NE(r.err.find(std::string("model_type ") + arch + " is not trained"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir.path() / arch / "adapter")) << arch;
  }
}

// LoRA over a trained base: a PEFT adapter folder, exact resume with dropout.
TEST_F(Trainer, LoraWritesAPeftAdapterAndResumesExactly) {
  const auto base_cfg = write_config("base.yaml", "base", "  tokenizer: sentencepiece\n");
  ASSERT_EQ(ralm_cmd({"train", base_cfg.string(), "--set", "trainer.vocab_size=320"}).exit_code, 0);
  const std::string lora = "  mode: lora\n  base: " + (dir.path() / "base/model").string() +
                           "\n  loss_tokens: 16\n  lora_r: 4\n  lora_alpha: 8\n"
                           "  target_modules: [q_proj, v_proj, down_proj]\n  trainable_token_ids: [5, 7]\n";
  const auto whole = ralm_cmd({"train", write_config("la.yaml", "la", lora).string()});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const auto b = write_config("lb.yaml", "lb", lora);
  ASSERT_EQ(ralm_cmd({"train", b.string(), "--stop-after", "5"}).exit_code, 0);
  const auto rest = ralm_cmd({"train", b.string(), "--resume"});
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  EXPECT_EQ(read_bytes(dir.path() / "la/adapter/adapter_model.safetensors"),
            read_bytes(dir.path() / "lb/adapter/adapter_model.safetensors"));

  // PEFT's keys and shapes, and its config fields.
  const ralm::safetensors::File adapter(dir.path() / "la/adapter/adapter_model.safetensors");
  const auto& t = adapter.tensors();
  ASSERT_EQ(t.size(), 2u * 3u * 2u + 1u);
  EXPECT_EQ(t.at("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").shape,
            (std::vector<std::int64_t>{4, 32}));
  EXPECT_EQ(t.at("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight").shape,
            (std::vector<std::int64_t>{16, 4}));
  EXPECT_EQ(t.at("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight").shape,
            (std::vector<std::int64_t>{4, 64}));
  EXPECT_EQ(t.at("base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta").shape,
            (std::vector<std::int64_t>{2, 32}));
  // Trained: B moved away from its zero start.
  const auto b_values = t.at("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight").to_f32();
  EXPECT_NE(*std::max_element(b_values.begin(), b_values.end()), 0.0f);
  std::ifstream in(dir.path() / "la/adapter/adapter_config.json");
  const auto config = nlohmann::json::parse(in);
  EXPECT_EQ(config["peft_type"], "LORA");
  EXPECT_EQ(config["r"], 4);
  EXPECT_EQ(config["lora_alpha"], 8.0);
  EXPECT_EQ(config["target_modules"], (nlohmann::json{"q_proj", "v_proj", "down_proj"}));
  EXPECT_EQ(config["trainable_token_indices"], (nlohmann::json{5, 7}));
  EXPECT_EQ(config["bias"], "none");
}

// A bad input: exit status 2, and one line on stderr that contains `expected`.
using ralm::test::expect_input_error;

TEST_F(Trainer, AConfigNamingAMissingCorpusSaysHowToBuildIt) {
  const auto c = dir.write("m.yaml", config(dir.path() / "nowhere", dir.path() / "out"));
  expect_input_error(ralm_cmd({"train", c.string()}), "trainer.corpus: no passage store at");
  expect_input_error(ralm_cmd({"train", c.string()}), "ralm corpus build");
}

TEST_F(Trainer, ResumingWithAnotherShapeOrWithoutACheckpointIsRefused) {
  const auto c = write_config("s.yaml", "s");
  expect_input_error(ralm_cmd({"train", c.string(), "--resume"}), "no checkpoint to resume from");
  ASSERT_EQ(ralm_cmd({"train", c.string(), "--stop-after", "2"}).exit_code, 0);
  expect_input_error(
      ralm_cmd({"train", c.string(), "--set", "trainer.hidden_size=48", "--resume"}),
      "the checkpoint's model.embed_tokens.weight is [259, 32] but the config asks for [259, 48]");
  expect_input_error(ralm_cmd({"train", c.string()}), "exists: pass --resume");
}

TEST_F(Trainer, ANanLossStopsAndKeepsTheLastGoodCheckpoint) {
  const auto c = write_config("n.yaml", "n", "  clip: 0\n");
  const auto r = ralm_cmd({"train", c.string(), "--set", "trainer.lr=1e30", "--set", "trainer.warmup=0",
                           "--set", "trainer.checkpoint_every=1"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("the training loss is"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("The last good checkpoint is"), std::string::npos) << r.err;
  std::ifstream state(dir.path() / "n/checkpoint/trainer_state.json");
  ASSERT_TRUE(state.good());
  std::stringstream s;
  s << state.rdbuf();
  EXPECT_NE(s.str().find("\"step\": 1"), std::string::npos) << s.str();
}

}  // namespace
