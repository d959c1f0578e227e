// GGUF files in the llama plugin, against two outside witnesses: llama.cpp's
// own logits for the fixture files (tests/fixtures/gguf/README.md says how
// they were made) and a double-precision forward of the same dequantized
// weights (tests/support/llama_reference.hpp). And the files we write: read
// back, and errors for broken files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "fixture_files.hpp"
#include "gguf_export.hpp"
#include "gguf_model.hpp"
#include "llama_reference.hpp"
#include "ralm/error.hpp"
#include "ralm/gguf/gguf_writer.hpp"
#include "ralm/gguf/quants.hpp"
#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/llama_format/weights.hpp"
#include "run_command.hpp"

namespace {

using namespace ralm::llama;
using ralm::test::TempDir;
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(RALM_SOURCE_DIR) / "tests" / "fixtures" / "gguf";

std::vector<ralm::TokenId> fixture_tokens() {
  return ralm::test::read_token_ids(kFixtures / "tokens.txt");
}

std::size_t argmax(const float* row, std::size_t n) {
  return static_cast<std::size_t>(std::max_element(row, row + n) - row);
}

// Each file type and how close its logits must come to llama.cpp's (the
// issue's bounds, for logits of the fixture's scale: standard deviation
// 0.87, largest about 5). Against the float64 forward of the same
// dequantized weights: within 1e-4 where activations stay in float32 (f32,
// f16 matrices); where they are rounded as llama.cpp rounds them (to bf16
// for bf16 matrices, to 8 bits per block for the quantized ones), no farther
// than llama.cpp's own logits are from it, plus a tenth.
struct FileCase {
  const char* type;
  double to_llama_cpp;
  bool rounds_activations;
};

template <class A, class B>
double max_abs_diff(const std::vector<A>& a, const std::vector<B>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
  return worst;
}

class GgufFixture : public ::testing::TestWithParam<FileCase> {};

TEST_P(GgufFixture, LogitsAgreeWithLlamaCppAndAFloat64Forward) {
  const FileCase fc = GetParam();
  const std::string stem = std::string("tiny-") + fc.type;
  auto model = load_gguf_model(kFixtures / (stem + ".gguf"), 2, 0, std::nullopt);
  const auto ids = fixture_tokens();
  ASSERT_EQ(ids.size(), 32u);
  auto seq = model->new_sequence();
  ralm::EvalOptions all;
  all.all_logits = true;
  const auto got = model->eval(*seq, ids, all).logits;
  const auto v = static_cast<std::size_t>(model->config().vocab_size);
  ASSERT_EQ(got.size(), ids.size() * v);

  const auto peer = ralm::test::read_raw_values<float>(kFixtures / (stem + ".logits.f32"));
  const auto exact = ralm::test::read_raw_values<double>(kFixtures / (stem + ".logits.f64"));
  ASSERT_EQ(peer.size(), got.size());
  ASSERT_EQ(exact.size(), got.size());
  std::size_t same_top = 0;
  for (std::size_t p = 0; p < ids.size(); ++p)
    same_top += argmax(&got[p * v], v) == argmax(&peer[p * v], v);
  const double to_peer = max_abs_diff(got, peer), to_exact = max_abs_diff(got, exact);
  const double peer_to_exact = max_abs_diff(peer, exact);
  EXPECT_LE(to_peer, fc.to_llama_cpp) << fc.type;
  EXPECT_GE(same_top, ids.size() * 9 / 10)
      << fc.type << ": top-1 equal at " << same_top << " of " << ids.size();
  EXPECT_LE(to_exact, fc.rounds_activations ? 1.1 * peer_to_exact : 1e-4) << fc.type;
  std::cout << "[ " << fc.type << " ] max |ours - llama.cpp| " << to_peer << ", top-1 equal " << same_top
            << "/" << ids.size() << ", max |ours - float64| " << to_exact
            << " (llama.cpp's: " << peer_to_exact << ")\n";
}

INSTANTIATE_TEST_SUITE_P(Types, GgufFixture,
                         ::testing::Values(FileCase{"f32", 1e-4, false}, FileCase{"f16", 2e-3, false},
                                           FileCase{"bf16", 1.5e-2, true}, FileCase{"q8_0", 5e-2, true},
                                           FileCase{"q6_k", 5e-2, true}, FileCase{"q4_0", 5e-2, true},
                                           FileCase{"q4_k_m", 5e-2, true}),
                         [](const auto& param_info) { return std::string(param_info.param.type); });

// Our own double-precision forward (tests/support/llama_reference.hpp) of
// the weights the model hands back in Hugging Face's layout: the rotary
// reordering, the unpacking and the computation agree.
TEST(GgufModel, TheF32FileComputesWhatTheReferenceComputesOnItsWeights) {
  auto model = load_gguf_model(kFixtures / "tiny-f32.gguf", 2, 0, std::nullopt);
  const auto ids = fixture_tokens();
  LlamaConfig hf = model->config();
  hf.rope_pairs = RopePairs::half_split;
  const LlamaWeights w = model->weights();
  for (std::size_t p : {std::size_t{0}, std::size_t{7}, ids.size() - 1}) {
    const std::vector<ralm::TokenId> prefix(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(p + 1));
    auto seq = model->new_sequence();
    const auto got = model->eval(*seq, prefix, {}).logits;
    const auto want = ralm::test::reference_logits(hf, w, prefix);
    EXPECT_LE(max_abs_diff(got, want), 1e-4) << "position " << p;
  }
}

TEST(GgufModel, GreedyDecodingOfTheF32FileEqualsLlamaCpps) {
  auto model = load_gguf_model(kFixtures / "tiny-f32.gguf", 2, 0, std::nullopt);
  std::vector<ralm::TokenId> want;
  {
    std::ifstream in(kFixtures / "tiny-f32.greedy.txt");
    for (ralm::TokenId t; in >> t;)
      want.push_back(t);
  }
  ASSERT_FALSE(want.empty());
  auto seq = model->new_sequence();
  auto r = model->eval(*seq, fixture_tokens(), {});
  std::vector<ralm::TokenId> got;
  while (got.size() < want.size()) {
    const auto next = static_cast<ralm::TokenId>(argmax(r.logits.data(), r.logits.size()));
    got.push_back(next);
    r = model->eval(*seq, std::vector<ralm::TokenId>{next}, {});
  }
  EXPECT_EQ(got, want);
}

TEST(GgufModel, MetadataAndTokenizerComeFromTheFile) {
  auto model = load_gguf_model(kFixtures / "tiny-q4_k_m.gguf", 1, 0, std::nullopt);
  const auto& c = model->config();
  EXPECT_EQ(c.hidden_size, 256);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.rope_pairs, RopePairs::adjacent);
  // Q4_K_M mixes q4_K and q6_K.
  const std::string types = model->weight_types();
  EXPECT_NE(types.find("q4_K"), std::string::npos) << types;
  EXPECT_NE(types.find("q6_K"), std::string::npos) << types;
  // The vocabulary's byte pieces encode any text, and decode gives it back.
  const auto& t = model->tokenizer();
  const auto ids = t.encode("quantized weights", true);
  EXPECT_EQ(ids.front(), t.bos());
  EXPECT_EQ(t.decode(std::span(ids).subspan(1)), "quantized weights");
}

// A small random model whose every `in` is a multiple of 256 (the k-quants'
// super-block), in Hugging Face's layout.
LlamaConfig writable_config() {
  LlamaConfig c;
  c.vocab_size = 300;
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 64;
  c.max_position_embeddings = 64;
  return c;
}

// Rows of w (each `in` wide) quantized to `type` by the reference quantizer
// and dequantized: what a file of that type holds of them.
std::vector<float> through(ralm::gguf::GgmlType type, const std::vector<float>& w, std::int64_t in) {
  std::vector<std::byte> row(ralm::gguf::row_bytes(type, in));
  std::vector<float> out(w.size());
  for (std::size_t r = 0; r < w.size() / static_cast<std::size_t>(in); ++r) {
    ralm::gguf::quantize_row(type, w.data() + r * in, row.data(), in);
    ralm::gguf::dequantize_row(type, row.data(), out.data() + r * in, in);
  }
  return out;
}

TEST(GgufModel, WrittenFilesHoldTheQuantizedWeightsAndComputeTheModel) {
  using ralm::gguf::GgmlType;
  const TempDir dir;
  const LlamaConfig c = writable_config();
  const auto weights = random_llama_weights(c, 5, 0.05);
  LlamaModel original(c, weights, make_byte_tokenizer(c.vocab_size), 2);
  const std::vector<ralm::TokenId> ids = {1, 40, 299, 7, 7, 120, 2, 64};
  auto seq = original.new_sequence();
  const auto want = original.eval(*seq, ids, {}).logits;
  // Each file type, the type its q matrices get (llama-quantize's choice),
  // and how far its logits may stray from the f32 model's.
  const struct {
    const char* name;
    GgmlType q_type;
    double bound;
  } types[] = {{"f32", GgmlType::F32, 1e-5},  {"f16", GgmlType::F16, 3e-3},  {"bf16", GgmlType::BF16, 3e-2},
               {"q8_0", GgmlType::Q8_0, 0.1}, {"q4_0", GgmlType::Q4_0, 1.0}, {"q4_k_m", GgmlType::Q4_K, 1.0}};
  for (const auto& t : types) {
    const fs::path file = dir.path() / (std::string("m-") + t.name + ".gguf");
    save_gguf_model(file, c, weights, original.tokenizer(), {}, t.name, false, 2);
    auto back = load_gguf_model(file, 2, 0, std::nullopt);
    EXPECT_EQ(back->config().vocab_size, c.vocab_size);
    // In Hugging Face's layout again, q holds exactly the quantized rows
    // (the rotary reordering moves whole rows, which quantize alone).
    EXPECT_EQ(back->weights().layers[1].wq, through(t.q_type, weights.layers[1].wq, c.hidden_size)) << t.name;
    auto s = back->new_sequence();
    const auto got = back->eval(*s, ids, {}).logits;
    double worst = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
      worst = std::max(worst, std::abs(double(got[i]) - want[i]));
    EXPECT_LE(worst, t.bound) << t.name;
  }
  // A refused overwrite leaves the file as it was.
  const fs::path kept = dir.path() / "m-q8_0.gguf";
  const auto size = fs::file_size(kept);
  EXPECT_THROW(save_gguf_model(kept, c, weights, original.tokenizer(), {}, "q4_0", false, 2),
               ralm::InputError);
  EXPECT_EQ(fs::file_size(kept), size);
  try {
    save_gguf_model(dir.path() / "x.gguf", c, weights, original.tokenizer(), {}, "q3_k", false, 2);
    ADD_FAILURE() << "an unknown type was accepted";
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("q4_k_m"), std::string::npos) << e.what();
  }
}

TEST(GgufModel, AnotherArchitectureIsOneClearError) {
  const TempDir dir;
  ralm::gguf::Writer w;
  w.set("general.architecture", ralm::gguf::Value::string("gemma2"));
  const fs::path file = dir.path() / "gemma2.gguf";
  w.write(file);
  try {
    load_gguf_model(file, 1, 0, std::nullopt);
    ADD_FAILURE() << "loaded";
  } catch (const ralm::InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(file.string()), std::string::npos) << m;
    EXPECT_NE(m.find("general.architecture"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

TEST(GgufModel, ATruncatedFileIsOneClearError) {
  const TempDir dir;
  const LlamaConfig c = writable_config();
  const auto weights = random_llama_weights(c, 5, 0.05);
  const fs::path good = dir.path() / "good.gguf";
  save_gguf_model(good, c, weights, *make_byte_tokenizer(c.vocab_size), {}, "q8_0", false, 1);
  // The same file cut short: its last tensor runs past the end.
  const fs::path cut = dir.path() / "cut.gguf";
  fs::copy_file(good, cut);
  fs::resize_file(cut, fs::file_size(good) - 100);
  try {
    load_gguf_model(cut, 1, 0, std::nullopt);
    ADD_FAILURE() << "loaded";
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(cut.string()), std::string::npos) << e.what();
  }
}

}  // namespace
