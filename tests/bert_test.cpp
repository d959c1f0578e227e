// The dense plugin's `bert` encoder against its outside witnesses: a float64
// NumPy forward pass (tests/fixtures/bert/make_bert_fixtures.py) of tiny
// random-weight checkpoints that script writes by hand, pooled CLS and mean
// embeddings of texts of different lengths in one padded batch; and
// llama.cpp's pooled embeddings of the same weights as GGUF
// (tests/fixtures/bert/make_llama_cpp_embeddings.sh).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "bert_encoder.hpp"
#include "bert_model.hpp"
#include "fixture_files.hpp"
#include "ralm/error.hpp"
#include "run_command.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ralm::TokenId;
using ralm::Tokens;
using ralm::dense::BertEncoder;
using ralm::dense::BertModel;
using ralm::dense::BertOptions;
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

TEST(BertModel, F32WeightsMatchLlamaCppOnTheSameWeightsAsGguf) {
  // llama.cpp's GELU is not BERT's: the tanh approximation (off erf's by
  // up to 5e-4 absolute), looked up in a float16 table by the input rounded
  // to float16 (2^-11 of the input, and of the output). Through 2 layers
  // that moves the pooled vectors by up to 2.0e-4 of their norm here (1.4e-3
  // absolute on norms of 5 to 7); a float64 forward with llama.cpp's GELU
  // lands within 1.8e-4 absolute of llama.cpp instead
  // (tests/fixtures/bert/README.md). 5e-4 of the norm bounds that with
  // room; a wrong weight, norm, mask or pooling moves a vector by a good
  // part of its norm.
  constexpr double kRelativeTolerance = 5e-4;
  const std::vector<Tokens> texts = sequences();
  for (KernelSet set : kernel_sets()) {
    const BertModel model(kFixtures / "bert-f32", WeightType::f32, set);
    const auto hidden = static_cast<std::size_t>(model.config().hidden_size);
    std::vector<std::vector<float>> pooled;
    for (BertPooling pooling : {BertPooling::cls, BertPooling::mean}) {
      SCOPED_TRACE(std::string(ralm::kernels::kernel_set_name(set)) + " " + pooling_name(pooling));
      const std::vector<float> witness = ralm::test::read_raw_values<float>(
          kFixtures / "llama-cpp" / ("bert-f32." + std::string(pooling_name(pooling)) + ".f32"));
      ASSERT_EQ(witness.size(), texts.size() * hidden);
      pooled.push_back(pool(model, texts, pooling, 2));
      const std::vector<float>& ours = pooled.back();
      double worst_absolute = 0, worst_relative = 0;
      for (std::size_t i = 0; i < texts.size(); ++i) {
        double norm = 0, diff = 0;
        for (std::size_t c = 0; c < hidden; ++c) {
          const double w = witness[i * hidden + c];
          norm += w * w;
          diff = std::max(diff, std::abs(static_cast<double>(ours[i * hidden + c]) - w));
        }
        norm = std::sqrt(norm);
        ASSERT_GT(norm, 1.0) << "text " << i << ": the witness's vector is not O(1)";
        worst_absolute = std::max(worst_absolute, diff);
        worst_relative = std::max(worst_relative, diff / norm);
        EXPECT_LE(diff, kRelativeTolerance * norm) << "text " << i;
      }
      std::printf("%s %s: max |ours - llama.cpp| %.3g, relative to the vector's norm %.3g\n",
                  ralm::kernels::kernel_set_name(set), pooling_name(pooling), worst_absolute, worst_relative);
    }
    // The bound separates the poolings: some element of a text's CLS and
    // mean vectors differs by 9% to 23% of the norm, so a pooling mixed up
    // fails.
    for (std::size_t i = 0; i < texts.size(); ++i) {
      double norm = 0, gap = 0;
      for (std::size_t c = 0; c < hidden; ++c) {
        norm += static_cast<double>(pooled[0][i * hidden + c]) * pooled[0][i * hidden + c];
        gap = std::max(gap,
                       static_cast<double>(std::abs(pooled[0][i * hidden + c] - pooled[1][i * hidden + c])));
      }
      EXPECT_GT(gap, 100 * kRelativeTolerance * std::sqrt(norm)) << "text " << i;
    }
  }
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

TEST(BertModel, APadTokenIdPastInt32IsAnErrorNotAnOverflow) {
  // RoBERTa's positions start after pad_token_id; the largest JSON integer
  // plus one overflowed.
  const TempDir tmp;
  const fs::path dir = copy_checkpoint(tmp, "roberta-f32");
  edit_config(dir, [](json& c) { c["pad_token_id"] = std::numeric_limits<std::int64_t>::max(); });
  const std::string message = input_error(dir);
  EXPECT_NE(message.find("config.json: field pad_token_id is not an integer from 0 to"), std::string::npos)
      << message;
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

// Words to ids for the encoder tests, framed as a WordPiece tokenizer
// frames them ([CLS] = 1 ... [SEP] = 2): each word's ids are its bytes'
// sum spread over 3..119, one id per word, so equal words get equal ids.
class WordIds final : public ralm::Tokenizer {
 public:
  Tokens encode(std::string_view text, bool add_special) const override {
    Tokens ids;
    if (add_special) ids.push_back(1);
    std::size_t i = 0;
    while (i < text.size()) {
      const std::size_t end = std::min(text.find(' ', i), text.size());
      if (end > i) {
        unsigned sum = 0;
        for (std::size_t c = i; c < end; ++c)
          sum += static_cast<unsigned char>(text[c]);
        ids.push_back(static_cast<ralm::TokenId>(3 + sum % 117));
      }
      i = end + 1;
    }
    if (add_special) ids.push_back(2);
    return ids;
  }
  std::string decode(std::span<const ralm::TokenId>) const override { return ""; }
  std::string piece(ralm::TokenId) const override { return ""; }
  std::int32_t vocab_size() const override { return 120; }
  ralm::TokenId bos() const override { return 1; }
  ralm::TokenId eos() const override { return 2; }
  std::optional<ralm::TokenId> special(std::string_view) const override { return std::nullopt; }
};

BertEncoder::Side side(const std::string& checkpoint, WeightType weights = WeightType::f32) {
  return {std::make_shared<const BertModel>(kFixtures / checkpoint, weights),
          std::make_shared<const WordIds>()};
}

std::vector<float> encode(const BertEncoder& encoder, const std::vector<std::string>& texts, bool queries,
                          int threads = 2) {
  std::vector<float> out(texts.size() * static_cast<std::size_t>(encoder.dim()));
  if (queries)
    encoder.encode_queries(texts, out.data(), threads);
  else
    encoder.encode(texts, out.data(), threads);
  return out;
}

const std::vector<std::string> kTexts = {"the cat sat on the mat", "a dog", "",
                                         "query: what is a dense retriever",
                                         "one two three four five six seven eight nine ten eleven twelve"};

TEST(BertEncoder, PassagesArePrefixedTokenisedPooledAndNormalised) {
  BertOptions options;
  options.checkpoint = kFixtures / "bert-f32";
  options.pooling = BertPooling::mean;
  options.passage_prefix = "passage: ";
  options.query_prefix = "query: ";
  options.batch = 2;  // 5 texts: batches of 2, 2 and 1
  const BertEncoder::Side s = side("bert-f32");
  const BertEncoder encoder(options, s, s);
  EXPECT_EQ(encoder.dim(), 48);
  EXPECT_EQ(encoder.max_length(), 40);  // max_position_embeddings
  const std::vector<float> passages = encode(encoder, kTexts, false);
  const std::vector<float> queries = encode(encoder, kTexts, true);
  const WordIds words;
  for (std::size_t i = 0; i < kTexts.size(); ++i) {
    // What the encoder must compute: the prefixed text's ids through the
    // model, then unit length.
    for (const auto& [prefix, rows] : {std::pair{"passage: ", &passages}, std::pair{"query: ", &queries}}) {
      std::vector<float> want =
          pool(*s.model, {words.encode(std::string(prefix) + kTexts[i], true)}, BertPooling::mean, 1);
      ralm::dense::normalize(want.data(), 48);
      double norm = 0;
      for (std::size_t c = 0; c < 48; ++c) {
        ASSERT_EQ((*rows)[i * 48 + c], want[c]) << prefix << kTexts[i];
        norm += double((*rows)[i * 48 + c]) * (*rows)[i * 48 + c];
      }
      EXPECT_NEAR(norm, 1.0, 1e-5);
    }
    // The prefixes make a passage's vector and a query's differ.
    EXPECT_NE(std::vector<float>(passages.begin() + long(i) * 48, passages.begin() + long(i + 1) * 48),
              std::vector<float>(queries.begin() + long(i) * 48, queries.begin() + long(i + 1) * 48));
  }
  // One text at a time on one thread: the same bits.
  for (std::size_t i = 0; i < kTexts.size(); ++i) {
    const std::vector<float> alone = encode(encoder, {kTexts[i]}, false, 1);
    EXPECT_TRUE(std::equal(alone.begin(), alone.end(), passages.begin() + long(i) * 48)) << kTexts[i];
  }
}

TEST(BertEncoder, DprEncodesQueriesWithTheQuestionCheckpointAndLeavesVectorsUnnormalised) {
  BertOptions options;
  options.checkpoint = kFixtures / "bert-f32";
  options.query_checkpoint = kFixtures / "dpr-question";
  options.normalize = false;
  const BertEncoder::Side passages = side("bert-f32"), questions = side("dpr-question");
  const BertEncoder encoder(options, passages, questions);
  const std::vector<float> p = encode(encoder, kTexts, false), q = encode(encoder, kTexts, true);
  const WordIds words;
  for (std::size_t i = 0; i < kTexts.size(); ++i) {
    const Tokens ids = words.encode(kTexts[i], true);
    const std::vector<float> want_p = pool(*passages.model, {ids}, BertPooling::cls, 1);
    const std::vector<float> want_q = pool(*questions.model, {ids}, BertPooling::cls, 1);
    EXPECT_TRUE(std::equal(want_p.begin(), want_p.end(), p.begin() + long(i) * 48)) << kTexts[i];
    EXPECT_TRUE(std::equal(want_q.begin(), want_q.end(), q.begin() + long(i) * 48)) << kTexts[i];
    EXPECT_NE(want_p, want_q);
  }
}

TEST(BertEncoder, LongTextsAreCutToMaxLengthKeepingTheClosingSep) {
  BertOptions options;
  options.checkpoint = kFixtures / "bert-f32";
  options.max_length = 5;
  const BertEncoder::Side s = side("bert-f32");
  const BertEncoder encoder(options, s, s);
  const Tokens full = WordIds().encode(kTexts[4], true);
  const Tokens cut = encoder.tokens(s, "", kTexts[4]);
  EXPECT_EQ(cut, (Tokens{full[0], full[1], full[2], full[3], 2}));
  EXPECT_EQ(encoder.tokens(s, "", "a dog"), WordIds().encode("a dog", true));
  // The longest text the model takes, and one token more, cut.
  options.max_length = 0;
  const BertEncoder whole(options, s, s);
  std::string long_text;
  for (int i = 0; i < 60; ++i)
    long_text += "w" + std::to_string(i) + " ";
  EXPECT_EQ(whole.tokens(s, "", long_text).size(), 40u);
  EXPECT_EQ(whole.tokens(s, "", long_text).back(), 2);
  EXPECT_NO_THROW(encode(whole, {long_text}, false));
}

TEST(BertEncoder, FingerprintChangesWithEverySettingThatChangesAVector) {
  BertOptions base;
  base.checkpoint = kFixtures / "bert-f32";
  const BertEncoder::Side s = side("bert-f32"), bf16 = side("bert-f32", WeightType::bf16),
                          q = side("dpr-question");
  const std::string reference = BertEncoder(base, s, s).fingerprint();
  std::vector<std::pair<BertOptions, std::pair<BertEncoder::Side, BertEncoder::Side>>> variants;
  auto vary = [&](const std::function<void(BertOptions&)>& edit, BertEncoder::Side p, BertEncoder::Side qs) {
    BertOptions o = base;
    edit(o);
    variants.push_back({o, {p, qs}});
  };
  vary([](BertOptions& o) { o.pooling = BertPooling::mean; }, s, s);
  vary([](BertOptions& o) { o.normalize = false; }, s, s);
  vary([](BertOptions& o) { o.query_prefix = "query: "; }, s, s);
  vary([](BertOptions& o) { o.passage_prefix = "passage: "; }, s, s);
  vary([](BertOptions& o) { o.max_length = 16; }, s, s);
  vary([](BertOptions& o) { o.dtype = WeightType::bf16; }, bf16, bf16);
  vary([](BertOptions& o) { o.query_checkpoint = kFixtures / "dpr-question"; }, s, q);
  std::set<std::string> seen = {reference};
  for (const auto& [options, sides] : variants) {
    const std::string f = BertEncoder(options, sides.first, sides.second).fingerprint();
    EXPECT_TRUE(seen.insert(f).second) << f;
  }
  // The batch size changes no vector, so no fingerprint.
  BertOptions batched = base;
  batched.batch = 1;
  EXPECT_EQ(BertEncoder(batched, s, s).fingerprint(), reference);
}

TEST(BertEncoder, SettingsTheCheckpointCannotHonourAreInputErrorsNamingTheSetting) {
  BertOptions options;
  options.checkpoint = kFixtures / "bert-f32";
  options.max_length = 41;
  const BertEncoder::Side s = side("bert-f32");
  try {
    BertEncoder encoder(options, s, s);
    FAIL() << "max_length 41 accepted";
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("max_length"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("40"), std::string::npos) << e.what();
  }
}

}  // namespace

// --- through `ralm index build` and a pipeline's retriever ----------------------

#include "fixture_corpus.hpp"
#include "ralm/core/pipeline.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/core/plugin_manager.hpp"
#include "ralm/core/registry.hpp"
#include "ralm/safetensors.hpp"

namespace {

const fs::path kWordPiece = fs::path(RALM_SOURCE_DIR) / "tests/fixtures/tokenizers/wordpiece.json";

// A random-weight BERT (hidden 32, 2 layers) whose vocabulary covers the
// WordPiece tokenizer.json trained on our corpus (tests/fixtures/tokenizers),
// copied in beside it: a checkpoint folder as Hugging Face saves one.
fs::path random_checkpoint(const fs::path& dir, std::uint64_t seed, const std::string& model_type = "bert") {
  fs::create_directories(dir);
  fs::copy_file(kWordPiece, dir / "tokenizer.json");
  std::int64_t vocab = 0;
  {
    std::ifstream in(kWordPiece);
    const json t = json::parse(in);
    for (const auto& [piece, id] : t.at("model").at("vocab").items())
      vocab = std::max<std::int64_t>(vocab, id.get<std::int64_t>() + 1);
    for (const json& added : t.at("added_tokens"))
      vocab = std::max<std::int64_t>(vocab, added.at("id").get<std::int64_t>() + 1);
  }
  const std::int64_t h = 32, f = 64;
  std::ofstream(dir / "config.json")
      << json{{"model_type", model_type},      {"vocab_size", vocab},      {"hidden_size", h},
              {"num_hidden_layers", 2},        {"num_attention_heads", 4}, {"intermediate_size", f},
              {"max_position_embeddings", 64}, {"type_vocab_size", 2}}
             .dump();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  std::vector<ralm::safetensors::TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, float offset = 0) {
    std::int64_t n = 1;
    for (std::int64_t d : shape)
      n *= d;
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v)
      x = offset + normal(rng);
    tensors.push_back({name, ralm::safetensors::DType::F32, std::move(shape), std::move(v)});
  };
  add("embeddings.word_embeddings.weight", {vocab, h});
  add("embeddings.position_embeddings.weight", {64, h});
  add("embeddings.token_type_embeddings.weight", {2, h});
  add("embeddings.LayerNorm.weight", {h}, 1);
  add("embeddings.LayerNorm.bias", {h});
  for (int l = 0; l < 2; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* m : {"query", "key", "value"}) {
      add(p + "attention.self." + m + ".weight", {h, h});
      add(p + "attention.self." + m + ".bias", {h});
    }
    add(p + "attention.output.dense.weight", {h, h});
    add(p + "attention.output.dense.bias", {h});
    add(p + "attention.output.LayerNorm.weight", {h}, 1);
    add(p + "attention.output.LayerNorm.bias", {h});
    add(p + "intermediate.dense.weight", {f, h});
    add(p + "intermediate.dense.bias", {f});
    add(p + "output.dense.weight", {h, f});
    add(p + "output.dense.bias", {h});
    add(p + "output.LayerNorm.weight", {h}, 1);
    add(p + "output.LayerNorm.bias", {h});
  }
  ralm::safetensors::write_file(dir / "model.safetensors", tensors);
  return dir;
}

using ralm::test::fixture_corpus;

TEST(BertIndex, IndexBuildAndSearchWithTheTokenizerJson) {
  const TempDir dir;
  fixture_corpus(dir);
  random_checkpoint(dir.path() / "tiny-e5", 1);
  const auto pipeline = dir.write("bert.yaml", R"(name: bert
retriever:
  plugin: dense
  corpus: corpus
  encoder: bert
  checkpoint: tiny-e5
  pooling: mean
  batch: 2
)");
  const std::vector<std::string> cmd{RALM_EXE, "--plugin-path", RALM_SHIPPED_PLUGIN_DIR,
                                     "index",  "build",         pipeline.string()};
  auto r = ralm::test::run_command(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir.path() / "corpus/dense-bert-tiny-e5/vectors.f32"));

  ralm::core::Registry registry;
  ralm::core::PluginManager(registry).load_search_path({RALM_SHIPPED_PLUGIN_DIR});
  auto built = ralm::core::build_pipeline(ralm::core::load_pipeline(pipeline, {}, registry), registry);
  ASSERT_TRUE(built.retriever);
  // Without prefixes queries and passages are encoded alike: a passage's own
  // text finds it at cosine 1.
  for (ralm::PassageId id = 0; id < built.retriever->size(); ++id) {
    const ralm::Passage p = built.retriever->passage(id);
    const std::string text = std::string(p.title) + "\n" + std::string(p.text);
    const auto hits = built.retriever->search(std::vector<std::string>{text}, 1)[0];
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].id, id) << text;
    EXPECT_NEAR(hits[0].score, 1.0f, 1e-5f) << text;
  }

  // A setting that changes the vectors: the index on disk is refused,
  // naming the encoder and the fix, until it is rebuilt.
  auto cls = cmd;
  cls.insert(cls.end(), {"--set", "retriever.pooling=cls"});
  r = ralm::test::run_command(cls);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("pooling=cls"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  cls.push_back("--force");
  r = ralm::test::run_command(cls);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST(BertIndex, DprQueriesGoThroughTheQuestionCheckpoint) {
  const TempDir dir;
  fixture_corpus(dir);
  random_checkpoint(dir.path() / "ctx", 2, "dpr");
  random_checkpoint(dir.path() / "question", 3, "dpr");
  const auto pipeline = dir.write("dpr.yaml", R"(retriever:
  plugin: dense
  corpus: corpus
  encoder: bert
  checkpoint: ctx
  query_checkpoint: question
  normalize: false
)");
  ralm::core::Registry registry;
  ralm::core::PluginManager(registry).load_search_path({RALM_SHIPPED_PLUGIN_DIR});
  auto built = ralm::core::build_pipeline(ralm::core::load_pipeline(pipeline, {}, registry), registry);
  ASSERT_TRUE(built.retriever);
  // The query's vector is the question encoder's: its score against a
  // passage is the inner product of the two checkpoints' vectors, not the
  // passage's squared length.
  const ralm::Passage p = built.retriever->passage(0);
  const std::string text = std::string(p.title) + "\n" + std::string(p.text);
  const auto ctx = BertEncoder::load_side(dir.path() / "ctx", WeightType::f32);
  const auto question = BertEncoder::load_side(dir.path() / "question", WeightType::f32);
  BertOptions options;
  options.checkpoint = dir.path() / "ctx";
  options.query_checkpoint = dir.path() / "question";
  options.normalize = false;
  const BertEncoder encoder(options, ctx, question);
  // The tokenizer.json frames a text as HF's add_special_tokens=True does,
  // and a cut text keeps its closing [SEP].
  const TokenId cls = ctx.tokenizer->special("[CLS]").value(), sep = ctx.tokenizer->special("[SEP]").value();
  const Tokens framed = encoder.tokens(ctx, "", text);
  ASSERT_GT(framed.size(), 6u);
  EXPECT_EQ(framed.front(), cls);
  EXPECT_EQ(framed.back(), sep);
  BertOptions cut = options;
  cut.max_length = 6;
  const Tokens six = BertEncoder(cut, ctx, question).tokens(ctx, "", text);
  EXPECT_EQ(six, (Tokens{framed[0], framed[1], framed[2], framed[3], framed[4], sep}));
  const std::vector<float> pv = encode(encoder, {text}, false), qv = encode(encoder, {text}, true);
  double want = 0;
  for (std::size_t c = 0; c < pv.size(); ++c)
    want += double(pv[c]) * qv[c];
  const std::vector<float> got = built.retriever->score(text, std::vector<ralm::PassageId>{0});
  EXPECT_NEAR(got[0], want, 1e-3 * std::max(1.0, std::abs(want)));
  double self = 0;
  for (float v : pv)
    self += double(v) * v;
  EXPECT_GT(std::abs(got[0] - self), 1e-2);

  // A checkpoint the encoder cannot run: one error naming the setting, the file and the field.
  const auto bad = dir.write("bad.yaml",
                             "retriever:\n  plugin: dense\n  corpus: corpus\n  encoder: bert\n"
                             "  checkpoint: gpt\n");
  random_checkpoint(dir.path() / "gpt", 4, "gpt2");
  const auto r = ralm::test::run_command(
      {RALM_EXE, "--plugin-path", RALM_SHIPPED_PLUGIN_DIR, "index", "build", bad.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("retriever.checkpoint"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("model_type"), std::string::npos) << r.err;
}

}  // namespace
