// The dense plugin's `bert` encoder against its outside witness: a float64
// NumPy forward pass (tests/fixtures/bert/make_bert_fixtures.py) of tiny
// random-weight checkpoints that script writes by hand, pooled CLS and mean
// embeddings of texts of different lengths in one padded batch.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "bert_model.hpp"
#include "ralm/error.hpp"
#include "run_command.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ralm::Tokens;
using ralm::dense::BertModel;
using ralm::dense::BertPooling;
using ralm::kernels::KernelSet;
using ralm::kernels::WeightType;
using ralm::test::TempDir;

const fs::path kFixtures = fs::path(RALM_SOURCE_DIR) / "tests/fixtures/bert";

const json& expected() {
  static const json j = [] {
    std::ifstream in(kFixtures / "expected.json");
    return json::parse(in);
  }();
  return j;
}

std::vector<Tokens> sequences() {
  return expected().at("sequences").get<std::vector<Tokens>>();
}

std::vector<KernelSet> kernel_sets() {
  std::vector<KernelSet> sets = {KernelSet::portable};
  if (ralm::kernels::kernel_set_supported(KernelSet::avx512)) sets.push_back(KernelSet::avx512);
  return sets;
}

const char* pooling_name(BertPooling p) {
  return p == BertPooling::cls ? "cls" : "mean";
}

std::vector<float> pool(const BertModel& model, const std::vector<Tokens>& texts, BertPooling pooling,
                        int threads) {
  std::vector<float> out(texts.size() * static_cast<std::size_t>(model.config().hidden_size));
  model.pool(texts, pooling, out.data(), threads);
  return out;
}

// The largest |ours - witness| over every text's pooled vector.
double max_error(const std::vector<float>& ours, const json& witness, std::int64_t hidden) {
  double worst = 0;
  for (std::size_t i = 0; i < witness.size(); ++i) {
    const auto row = witness[i].get<std::vector<double>>();
    EXPECT_EQ(static_cast<std::int64_t>(row.size()), hidden);
    for (std::size_t c = 0; c < row.size(); ++c)
      worst = std::max(
          worst, std::abs(static_cast<double>(ours[i * static_cast<std::size_t>(hidden) + c]) - row[c]));
  }
  return worst;
}

// Pools every text in one batch on 2 threads, checks it against the
// witness within `tolerance`, and checks that each text alone, on 1
// thread, gives the same bits.
void check_against_witness(const std::string& checkpoint, const std::string& witness, WeightType weights,
                           double tolerance, const std::string& variant = "") {
  const std::vector<Tokens> texts = sequences();
  for (KernelSet set : kernel_sets()) {
    const BertModel model(kFixtures / checkpoint, weights, set);
    const std::int64_t hidden = model.config().hidden_size;
    for (BertPooling pooling : {BertPooling::cls, BertPooling::mean}) {
      SCOPED_TRACE(checkpoint + " " + ralm::kernels::weight_type_name(weights) + " " +
                   ralm::kernels::kernel_set_name(set) + " " + pooling_name(pooling));
      const std::vector<float> batch = pool(model, texts, pooling, 2);
      const double error =
          max_error(batch, expected().at(witness).at(pooling_name(pooling) + variant), hidden);
      EXPECT_LE(error, tolerance);
      // Not trivially small: the vectors are O(1), so the bound means something.
      EXPECT_GT(std::abs(batch[0]) + std::abs(batch[1]), 1e-3);
      for (std::size_t i = 0; i < texts.size(); ++i) {
        const std::vector<float> alone = pool(model, {texts[i]}, pooling, 1);
        for (std::int64_t c = 0; c < hidden; ++c)
          ASSERT_EQ(alone[static_cast<std::size_t>(c)],
                    batch[i * static_cast<std::size_t>(hidden) + static_cast<std::size_t>(c)])
              << "text " << i << " element " << c;
      }
    }
  }
}

TEST(BertModel, F32WeightsMatchTheFloat64Witness) {
  check_against_witness("bert-f32", "bert-f32", WeightType::f32, 1e-4);
}

TEST(BertModel, DprPrefixedQuestionEncoderMatchesTheFloat64Witness) {
  check_against_witness("dpr-question", "dpr-question", WeightType::f32, 1e-4);
  EXPECT_EQ(BertModel(kFixtures / "dpr-question", WeightType::f32).prefix(), "question_encoder.bert_model.");
  EXPECT_EQ(BertModel(kFixtures / "bert-f32", WeightType::f32).prefix(), "bert.");
  EXPECT_EQ(BertModel(kFixtures / "bert-bf16", WeightType::f32).prefix(), "");
}

TEST(BertModel, RobertaPositionsStartAfterThePaddingId) {
  check_against_witness("roberta-f32", "roberta-f32", WeightType::f32, 1e-4);
  EXPECT_EQ(BertModel(kFixtures / "roberta-f32", WeightType::f32).config().position_offset, 1);
}

TEST(BertModel, Bf16CheckpointReadAsF32MatchesTheFloat64Witness) {
  // BF16 tensors widen exactly, so with f32 products this is the f32 case.
  check_against_witness("bert-bf16", "bert-bf16", WeightType::f32, 1e-4);
}

TEST(BertModel, Bf16WeightsMatchTheFloat64WitnessOfBf16Products) {
  // With bf16 weights each product's input is rounded to bf16 too; the
  // witness that rounds its inputs alike differs only where float32 sums
  // land an activation on the other side of a bf16 rounding boundary.
  check_against_witness("bert-bf16", "bert-bf16", WeightType::bf16, 1e-4, "_bf16_inputs");
}

TEST(BertModel, Bf16WeightsStayWithinBf16RoundingOfTheUnroundedWitness) {
  // Against the witness that multiplies the same bf16 weights by unrounded
  // activations, the difference is the inputs' rounding itself: 8
  // significant bits, a relative error up to 2^-9 per element, through 2
  // layers and 5 LayerNorms on outputs of size 1: 0.015 here. 3e-2 bounds
  // it with room and still fails a wrong weight, norm or mask (errors of
  // order 1).
  check_against_witness("bert-bf16", "bert-bf16", WeightType::bf16, 3e-2);
}

fs::path copy_checkpoint(const TempDir& dir, const std::string& name) {
  const fs::path to = dir.path() / name;
  fs::copy(kFixtures / name, to, fs::copy_options::recursive);
  return to;
}

void edit_config(const fs::path& dir, const std::function<void(json&)>& edit) {
  json config;
  {
    std::ifstream in(dir / "config.json");
    config = json::parse(in);
  }
  edit(config);
  std::ofstream(dir / "config.json") << config.dump();
}

std::string input_error(const fs::path& dir) {
  try {
    BertModel model(dir, WeightType::f32);
  } catch (const ralm::InputError& e) {
    return e.what();
  }
  return "no InputError";
}

TEST(BertModel, BadCheckpointsAreInputErrorsNamingFileAndField) {
  const TempDir tmp;
  const fs::path dir = copy_checkpoint(tmp, "bert-f32");
  const auto has = [](const std::string& message, const std::string& part) {
    return message.find(part) != std::string::npos;
  };

  edit_config(dir, [](json& c) { c["model_type"] = "gpt2"; });
  std::string message = input_error(dir);
  EXPECT_TRUE(has(message, "config.json") && has(message, "model_type") && has(message, "gpt2")) << message;

  edit_config(dir, [](json& c) {
    c["model_type"] = "bert";
    c["hidden_act"] = "gelu_new";
  });
  message = input_error(dir);
  EXPECT_TRUE(has(message, "config.json") && has(message, "hidden_act")) << message;

  edit_config(dir, [](json& c) {
    c["hidden_act"] = "gelu";
    c["num_attention_heads"] = 5;
  });
  message = input_error(dir);
  EXPECT_TRUE(has(message, "config.json") && has(message, "num_attention_heads")) << message;

  edit_config(dir, [](json& c) {
    c["num_attention_heads"] = 4;
    c["intermediate_size"] = 64;
  });
  message = input_error(dir);
  EXPECT_TRUE(has(message, "model.safetensors") && has(message, "intermediate.dense.weight") &&
              has(message, "config.json"))
      << message;

  edit_config(dir, [](json& c) {
    c["intermediate_size"] = 88;
    c.erase("vocab_size");
  });
  message = input_error(dir);
  EXPECT_TRUE(has(message, "config.json") && has(message, "vocab_size")) << message;

  fs::remove(dir / "model.safetensors");
  edit_config(dir, [](json& c) { c["vocab_size"] = 120; });
  message = input_error(dir);
  EXPECT_TRUE(has(message, "model.safetensors")) << message;
}

}  // namespace
