// Qwen2 (q, k, v biases) and Mistral (sliding-window attention) in the llama
// plugin, against a float64 NumPy forward of tiny random checkpoints
// (tests/fixtures/hf-archs/README.md says how they were made), through every
// way the plugin evaluates: one prefill, chunks, token by token, eval_batch,
// rollback and clones; and the configs it must refuse.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "fixture_files.hpp"
#include "gguf_model.hpp"
#include "llama_checkpoint.hpp"
#include "ralm/error.hpp"
#include "ralm/gguf/gguf_file.hpp"
#include "ralm/gguf/gguf_writer.hpp"
#include "run_command.hpp"

namespace {

using namespace ralm::llama;
using ralm::test::TempDir;
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(RALM_SOURCE_DIR) / "tests" / "fixtures" / "hf-archs";
constexpr std::int32_t kVocab = 320;

// The float64 forward lands within 1e-4 of any float32 evaluation of these
// logits (largest |logit| 4.8), as for the Llama fixtures; a wrong window
// bound, a missing bias or a wrong layer choice moves them by 1e-3 .. 6
// (make_fixtures.py checks each).
constexpr double kTolerance = 1e-4;

std::vector<ralm::TokenId> fixture_tokens() {
  return ralm::test::read_token_ids(kFixtures / "tokens.txt");
}

std::vector<double> reference(const fs::path& file) {
  return ralm::test::read_raw_values<double>(file);
}

// The largest |ours - reference| over rows [first, first + rows) of the
// reference; `logits` holds those rows.
double max_diff(const std::vector<float>& logits, const std::vector<double>& ref, std::size_t first) {
  double worst = 0;
  for (std::size_t i = 0; i < logits.size(); ++i)
    worst = std::max(worst, std::abs(double(logits[i]) - ref[first * kVocab + i]));
  return worst;
}

std::unique_ptr<LlamaModel> load(const fs::path& dir) {
  return load_llama_model(dir, 2);
}

// The fixture folder with config.json changed by `edit`, in `tmp`.
fs::path edited_copy(const std::string& model, const TempDir& tmp,
                     const std::function<void(nlohmann::json&)>& edit) {
  const fs::path dir = tmp.path() / model;
  fs::create_directories(dir);
  fs::copy_file(kFixtures / model / "model.safetensors", dir / "model.safetensors");
  std::ifstream in(kFixtures / model / "config.json");
  nlohmann::json j = nlohmann::json::parse(in);
  edit(j);
  std::ofstream(dir / "config.json") << j.dump(2);
  return dir;
}

TEST(LlamaArchitectures, ReadsQwen2AndMistralConfigs) {
  const LlamaConfig q = read_llama_config(kFixtures / "qwen2");
  EXPECT_EQ(q.architecture, Architecture::qwen2);
  EXPECT_TRUE(q.qkv_bias);
  EXPECT_TRUE(q.tie_word_embeddings);
  EXPECT_EQ(q.num_kv_heads, 2);
  EXPECT_EQ(q.rope_theta, 1e6);
  // use_sliding_window false: sliding_window 4096 is not applied.
  EXPECT_EQ(q.sliding_window, 0);
  const LlamaConfig m = read_llama_config(kFixtures / "mistral");
  EXPECT_EQ(m.architecture, Architecture::mistral);
  EXPECT_FALSE(m.qkv_bias);
  EXPECT_EQ(m.sliding_window, 8);
  for (std::int32_t l = 0; l < m.num_layers; ++l)
    EXPECT_EQ(m.window(l), 8);
  EXPECT_TRUE(is_llama_checkpoint(kFixtures / "qwen2"));
  EXPECT_TRUE(is_llama_checkpoint(kFixtures / "mistral"));
}

TEST(LlamaArchitectures, Qwen2WindowAppliesFromMaxWindowLayers) {
  TempDir tmp;
  const fs::path dir = edited_copy("qwen2", tmp, [](nlohmann::json& j) {
    j["use_sliding_window"] = true;
    j["sliding_window"] = 8;
    j["max_window_layers"] = 1;
  });
  const LlamaConfig c = read_llama_config(dir);
  EXPECT_EQ(c.window(0), 0);
  EXPECT_EQ(c.window(1), 8);
  EXPECT_EQ(c.window(2), 8);
  auto model = load(dir);
  auto seq = model->new_sequence();
  const auto out = model->eval(*seq, fixture_tokens(), {.all_logits = true});
  const double d = max_diff(out.logits, reference(kFixtures / "qwen2" / "logits-window8-from-layer1.f64"), 0);
  std::printf("qwen2, window 8 from layer 1: max |ours - float64| %.3g\n", d);
  EXPECT_LT(d, kTolerance);
}

TEST(LlamaArchitectures, ACountOrIdThatIsNoIntegerOfItsSizeIsOneErrorNamingIt) {
  // Found by fuzz_llama_config under UBSan: a float past int's range, read
  // as an int, was undefined behaviour rather than an error.
  const std::pair<const char*, nlohmann::json> bad[] = {
      {"eos_token_id", nlohmann::json::array({2.6e28, 3})},
      {"bos_token_id", 1.5},
      {"vocab_size", 4294967296LL},
      {"max_position_embeddings", 1e300},
      {"max_window_layers", 2.5},
  };
  for (const auto& entry : bad) {
    const std::string field = entry.first;
    const nlohmann::json value = entry.second;
    TempDir tmp;
    const fs::path dir = edited_copy("qwen2", tmp, [&](nlohmann::json& j) {
      j[field] = value;
      j["use_sliding_window"] = true;  // so that max_window_layers is read
      j["sliding_window"] = 8;
    });
    try {
      read_llama_config(dir);
      ADD_FAILURE() << field << " = " << value.dump() << " was read";
    } catch (const ralm::InputError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("config.json: " + field), std::string::npos) << message;
      EXPECT_NE(message.find("must be an integer"), std::string::npos) << message;
    }
  }
}

// Each path the plugin evaluates by, each row against the float64 logits.
void check_every_path(const fs::path& dir, const fs::path& logits_file) {
  const auto tokens = fixture_tokens();
  const auto n = tokens.size();
  ASSERT_EQ(n, 40u);
  const auto ref = reference(logits_file);
  ASSERT_EQ(ref.size(), n * kVocab);
  auto model = load(dir);
  const std::span<const ralm::TokenId> all(tokens);

  // One prefill, every row.
  auto whole = model->new_sequence();
  const auto once = model->eval(*whole, all, {.all_logits = true});
  const double d_once = max_diff(once.logits, ref, 0);
  std::printf("%s: one prefill, max |ours - float64| %.3g\n", dir.filename().c_str(), d_once);
  EXPECT_LT(d_once, kTolerance);

  // Chunks of 7 (across window edges), then token by token.
  auto chunked = model->new_sequence();
  std::size_t at = 0;
  double d_chunks = 0;
  for (; at < 28; at += 7) {
    const auto out = model->eval(*chunked, all.subspan(at, 7), {.all_logits = true});
    d_chunks = std::max(d_chunks, max_diff(out.logits, ref, at));
  }
  for (; at < n; ++at) {
    const auto out = model->eval(*chunked, all.subspan(at, 1), {});
    d_chunks = std::max(d_chunks, max_diff(out.logits, ref, at));
  }
  EXPECT_LT(d_chunks, kTolerance) << "chunked and incremental decoding";

  // eval_batch: two sequences at different lengths, each given its next
  // tokens in one call; each must get its own rows.
  auto a = model->new_sequence(), b = model->new_sequence();
  model->eval(*a, all.subspan(0, 13), {});
  model->eval(*b, all.subspan(0, 3), {});
  ralm::Sequence* seqs[] = {a.get(), b.get()};
  const std::span<const ralm::TokenId> next[] = {all.subspan(13, 20), all.subspan(3, 30)};
  const auto batch = model->eval_batch(seqs, next, {.all_logits = true});
  EXPECT_LT(max_diff(batch[0].logits, ref, 13), kTolerance) << "eval_batch, first sequence";
  EXPECT_LT(max_diff(batch[1].logits, ref, 3), kTolerance) << "eval_batch, second sequence";

  // Rollback (speculation's truncate) and a clone (the prefix cache's
  // copy): evaluating again past the cut gives the same rows.
  auto rolled = model->new_sequence();
  model->eval(*rolled, all.subspan(0, 30), {});
  rolled->truncate(17);
  auto copy = rolled->clone();
  const auto again = model->eval(*rolled, all.subspan(17, 23), {.all_logits = true});
  EXPECT_LT(max_diff(again.logits, ref, 17), kTolerance) << "after truncate";
  const auto from_copy = model->eval(*copy, all.subspan(17, 23), {.all_logits = true});
  EXPECT_EQ(from_copy.logits, again.logits) << "a clone evaluates as the original";
}

TEST(LlamaArchitectures, Qwen2LogitsMatchTheFloat64ForwardOnEveryPath) {
  check_every_path(kFixtures / "qwen2", kFixtures / "qwen2" / "logits.f64");
}

TEST(LlamaArchitectures, MistralWindowedLogitsMatchTheFloat64ForwardOnEveryPath) {
  check_every_path(kFixtures / "mistral", kFixtures / "mistral" / "logits.f64");
}

// The Qwen2 weights as llama.cpp's converter writes them (architecture
// qwen2, q and k rows for the "neox" rotary, biases as blk.N.attn_*.bias),
// against llama.cpp's own logits for the file and the float64 forward.
TEST(LlamaArchitectures, Qwen2GgufAgreesWithLlamaCppAndTheFloat64Forward) {
  auto model = load_gguf_model(kFixtures / "qwen2" / "qwen2-f32.gguf", 2, 0, std::nullopt);
  EXPECT_EQ(model->config().architecture, Architecture::qwen2);
  EXPECT_EQ(model->config().rope_pairs, RopePairs::half_split);
  EXPECT_TRUE(model->config().tie_word_embeddings);
  auto seq = model->new_sequence();
  const auto out = model->eval(*seq, fixture_tokens(), {.all_logits = true});
  const auto llama_cpp =
      ralm::test::read_raw_values<float>(kFixtures / "qwen2" / "qwen2-f32.llama_cpp.logits.f32");
  ASSERT_EQ(llama_cpp.size(), out.logits.size());
  const std::vector<double> witness(llama_cpp.begin(), llama_cpp.end());
  const double to_llama_cpp = max_diff(out.logits, witness, 0);
  const double to_float64 = max_diff(out.logits, reference(kFixtures / "qwen2" / "logits.f64"), 0);
  std::printf("qwen2 GGUF: max |ours - llama.cpp| %.3g, max |ours - float64| %.3g\n", to_llama_cpp,
              to_float64);
  EXPECT_LT(to_llama_cpp, kTolerance);
  EXPECT_LT(to_float64, kTolerance);
  // The checkpoint folder and the GGUF file are one model.
  auto from_folder = load(kFixtures / "qwen2");
  auto seq2 = from_folder->new_sequence();
  EXPECT_LT(max_diff(from_folder->eval(*seq2, fixture_tokens(), {.all_logits = true}).logits,
                     std::vector<double>(out.logits.begin(), out.logits.end()), 0),
            kTolerance);
}

// `source` rewritten with one more metadata key, every tensor as it was.
fs::path with_key(const fs::path& source, const std::string& key, ralm::gguf::Value value,
                  const fs::path& out) {
  const ralm::gguf::File f(source);
  ralm::gguf::Writer w;
  for (const auto& [k, v] : f.metadata())
    w.set(k, v);
  w.set(key, std::move(value));
  for (const auto& t : f.tensors())
    w.add_tensor(t.name, t.type, t.dims, [&t](std::byte* dst) { std::memcpy(dst, t.data, t.bytes); });
  w.write(out);
  return out;
}

// llama.cpp's converter writes no window for Mistral; a llama file that
// carries one (another tool's) is a Mistral, windowed in every layer. A
// qwen2 file cannot say which layers slide, so a window there is refused.
TEST(LlamaArchitectures, AGgufWindowKeyMakesALlamaFileMistralAndIsRefusedForQwen2) {
  TempDir tmp;
  const fs::path llama = RALM_SOURCE_DIR "/tests/fixtures/gguf/tiny-f32.gguf";
  const fs::path windowed = with_key(llama, "llama.attention.sliding_window", ralm::gguf::Value::uint32(8),
                                     tmp.path() / "windowed.gguf");
  auto plain = load_gguf_model(llama, 2, 0, std::nullopt);
  auto slid = load_gguf_model(windowed, 2, 0, std::nullopt);
  EXPECT_EQ(slid->config().architecture, Architecture::mistral);
  EXPECT_EQ(slid->config().window(1), 8);
  std::vector<ralm::TokenId> tokens(20);
  for (std::size_t i = 0; i < tokens.size(); ++i)
    tokens[i] = static_cast<ralm::TokenId>(259 + 11 * i);
  auto s1 = plain->new_sequence(), s2 = slid->new_sequence();
  const auto a = plain->eval(*s1, tokens, {.all_logits = true}).logits;
  const auto b = slid->eval(*s2, tokens, {.all_logits = true}).logits;
  const std::size_t vocab = 512;
  // Positions 0..7 see the same keys either way; from 8 on the window cuts.
  EXPECT_TRUE(std::equal(a.begin(), a.begin() + 8 * vocab, b.begin()));
  EXPECT_FALSE(std::equal(a.begin() + 8 * vocab, a.end(), b.begin() + 8 * vocab));
  try {
    load_gguf_model(with_key(kFixtures / "qwen2" / "qwen2-f32.gguf", "qwen2.attention.sliding_window",
                             ralm::gguf::Value::uint32(8), tmp.path() / "qwen2-windowed.gguf"),
                    1, 0, std::nullopt);
    ADD_FAILURE() << "a qwen2 file with a window loaded";
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("qwen2.attention.sliding_window"), std::string::npos) << e.what();
  }
}

TEST(LlamaArchitectures, MistralWindowIsApplied) {
  // The same weights without the window are another model: the fixture
  // can tell the two apart.
  TempDir tmp;
  const fs::path dir = edited_copy("mistral", tmp, [](nlohmann::json& j) { j["sliding_window"] = nullptr; });
  EXPECT_EQ(read_llama_config(dir).sliding_window, 0);
  auto model = load(dir);
  auto seq = model->new_sequence();
  const auto out = model->eval(*seq, fixture_tokens(), {.all_logits = true});
  const auto ref = reference(kFixtures / "mistral" / "logits.f64");
  // Within the window (positions 0..7) nothing changes; past it, much does.
  const std::vector<float> first(out.logits.begin(), out.logits.begin() + 8 * kVocab);
  EXPECT_LT(max_diff(first, ref, 0), kTolerance);
  EXPECT_GT(max_diff(out.logits, ref, 0), 0.05);
}

TEST(LlamaArchitectures, SavedCheckpointsReadBackTheSame) {
  TempDir tmp;
  for (const char* name : {"qwen2", "mistral"}) {
    auto model = load(kFixtures / name);
    const fs::path out = tmp.path() / name;
    model->save(out, {});
    const LlamaConfig saved = read_llama_config(out), original = read_llama_config(kFixtures / name);
    EXPECT_EQ(saved.architecture, original.architecture) << name;
    EXPECT_EQ(saved.qkv_bias, original.qkv_bias) << name;
    EXPECT_EQ(saved.sliding_window, original.sliding_window) << name;
    EXPECT_EQ(saved.windowed_layers, original.windowed_layers) << name;
    auto reloaded = load(out);
    auto s1 = model->new_sequence(), s2 = reloaded->new_sequence();
    const auto tokens = fixture_tokens();
    EXPECT_EQ(model->eval(*s1, tokens, {.all_logits = true}).logits,
              reloaded->eval(*s2, tokens, {.all_logits = true}).logits)
        << name;
    // A GGUF file of the llama architecture cannot carry them.
    try {
      ralm::SaveOptions gguf;
      gguf.format = "gguf";
      model->save(tmp.path() / (std::string(name) + ".gguf"), gguf);
      ADD_FAILURE() << name << ": written to GGUF";
    } catch (const ralm::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}

TEST(LlamaArchitectures, ModelInfoShowsArchitectureBiasesAndWindow) {
  const auto detail = [](const ralm::ModelInfo& i, const std::string& key) {
    for (const auto& [k, v] : i.details)
      if (k == key) return v;
    return std::string("(absent)");
  };
  const auto q = load(kFixtures / "qwen2")->info();
  EXPECT_EQ(q.architecture, "qwen2");
  EXPECT_EQ(detail(q, "attention biases"), "q, k, v");
  EXPECT_EQ(detail(q, "sliding window"), "none");
  const auto m = load(kFixtures / "mistral")->info();
  EXPECT_EQ(m.architecture, "mistral");
  EXPECT_EQ(detail(m, "attention biases"), "none");
  EXPECT_EQ(detail(m, "sliding window"), "8 positions, all layers");
  TempDir tmp;
  const fs::path dir = edited_copy("qwen2", tmp, [](nlohmann::json& j) {
    j["use_sliding_window"] = true;
    j["sliding_window"] = 8;
    j["max_window_layers"] = 2;
  });
  EXPECT_EQ(detail(load(dir)->info(), "sliding window"), "8 positions, layers 2");
}

struct Refusal {
  const char* model;
  const char* field;  // the error must name it
  std::function<void(nlohmann::json&)> edit;
};

TEST(LlamaArchitectures, RefusesWhatItCannotComputeNamingTheField) {
  const Refusal cases[] = {
      {"qwen2", "model_type", [](auto& j) { j["model_type"] = "gemma"; }},
      {"mistral", "hidden_act", [](auto& j) { j["hidden_act"] = "gelu"; }},
      {"mistral", "sliding_window", [](auto& j) { j["sliding_window"] = 0; }},
      {"mistral", "sliding_window", [](auto& j) { j["sliding_window"] = "8"; }},
      {"mistral", "num_key_value_heads", [](auto& j) { j.erase("num_key_value_heads"); }},
      {"mistral", "rope_scaling.type",
       [](auto& j) {
         j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4}};
       }},
      {"qwen2", "rope_scaling.rope_type",
       [](auto& j) {
         j["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2}};
       }},
      {"qwen2", "sliding_window",
       [](auto& j) {
         j["use_sliding_window"] = true;
         j.erase("sliding_window");
       }},
      {"qwen2", "layer_types",
       [](auto& j) {
         j["use_sliding_window"] = true;
         j["layer_types"] = {"full_attention", "chunked_attention", "full_attention"};
       }},
      {"qwen2", "partial_rotary_factor", [](auto& j) { j["partial_rotary_factor"] = 0.5; }},
      {"qwen2", "quantization_config",
       [](auto& j) {
         j["quantization_config"] = {{"quant_method", "awq"}};
       }},
      {"mistral", "attention_bias",
       [](auto& j) {
         j["model_type"] = "llama";
         j["attention_bias"] = true;
       }},
      {"mistral", "mlp_bias",
       [](auto& j) {
         j["model_type"] = "llama";
         j["mlp_bias"] = true;
       }},
  };
  for (const auto& c : cases) {
    TempDir tmp;
    const fs::path dir = edited_copy(c.model, tmp, c.edit);
    try {
      read_llama_config(dir);
      ADD_FAILURE() << c.field << ": accepted";
    } catch (const ralm::InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(c.field), std::string::npos) << what;
      EXPECT_NE(what.find("config.json"), std::string::npos) << what;
    }
  }
}

}  // namespace
