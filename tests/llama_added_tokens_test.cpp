// Added special tokens in the llama plugin (FlashBack's <MARK_L>/<MARK_R>):
// the vocabulary grows with mean-initialised embedding and output rows, the
// old tokens' logits keep their bits, the tokenizer never splits an added
// token, and a saved model reloads with the same ids and the same logits.
#include <gtest/gtest.h>

#include <sentencepiece_trainer.h>
#include <fstream>
#include <nlohmann/json.hpp>

#include "llama_checkpoint.hpp"
#include "llama_model.hpp"
#include "llama_reference.hpp"
#include "ralm/error.hpp"
#include "ralm/llama_format/checkpoint.hpp"
#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/llama_format/weights.hpp"
#include "run_command.hpp"

namespace {

using namespace ralm::llama;
using ralm::safetensors::DType;
using ralm::test::TempDir;
namespace fs = std::filesystem;

LlamaConfig shape(bool tied) {
  return ralm::test::small_gqa_config(300, tied);  // the byte tokenizer's 259 ids and some spare
}

std::unique_ptr<LlamaModel> model(bool tied, WeightType dtype = WeightType::f32) {
  const LlamaConfig c = shape(tied);
  return std::make_unique<LlamaModel>(c, random_llama_weights(c, 5, 0.1), make_byte_tokenizer(c.vocab_size),
                                      2, 0, dtype);
}

nlohmann::json read_json(const fs::path& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

class AddedTokens : public ::testing::TestWithParam<bool> {};  // tied embeddings?

TEST_P(AddedTokens, GrowTheVocabularyWithMeanRowsAndKeepOldLogitsBitForBit) {
  auto m = model(GetParam());
  const std::vector<ralm::TokenId> ids = {1, 70, 200, 3, 299};
  auto before_seq = m->new_sequence();
  const auto before = m->eval(*before_seq, ids, {.all_logits = true});
  const auto old_weights = m->weights();

  EXPECT_EQ(m->add_special_token("<MARK_L>"), 300);
  EXPECT_EQ(m->add_special_token("<MARK_R>"), 301);
  EXPECT_EQ(m->add_special_token("<MARK_L>"), 300);  // already there
  EXPECT_EQ(m->tokenizer().special("<MARK_R>"), 301);
  EXPECT_EQ(m->tokenizer().vocab_size(), 302);
  EXPECT_EQ(m->info().vocab_size, 302);

  // New rows: the means of the old ones.
  const auto w = m->weights();
  for (int i = 0; i < 40; ++i) {
    double mean = 0, out_mean = 0;
    for (int t = 0; t < 300; ++t) {
      mean += old_weights.embed[static_cast<std::size_t>(t * 40 + i)];
      out_mean += old_weights.output_matrix()[static_cast<std::size_t>(t * 40 + i)];
    }
    EXPECT_FLOAT_EQ(w.embed[static_cast<std::size_t>(301 * 40 + i)], static_cast<float>(mean / 300));
    EXPECT_FLOAT_EQ(w.output_matrix()[static_cast<std::size_t>(300 * 40 + i)],
                    static_cast<float>(out_mean / 300));
  }

  // The old tokens' logits keep their bits; the new columns follow them.
  auto after_seq = m->new_sequence();
  const auto after = m->eval(*after_seq, ids, {.all_logits = true});
  for (std::size_t r = 0; r < ids.size(); ++r)
    for (std::size_t v = 0; v < 300; ++v)
      ASSERT_EQ(after.logits[r * 302 + v], before.logits[r * 300 + v]) << r << " " << v;

  // A sequence with the new tokens in it, against the double-precision reference.
  const std::vector<ralm::TokenId> marked = {1, 300, 70, 200, 301, 3};
  auto seq = m->new_sequence();
  const auto got = m->eval(*seq, marked, {});
  const auto want = ralm::test::reference_logits(m->config(), w, marked);
  for (std::size_t v = 0; v < want.size(); ++v)
    EXPECT_NEAR(got.logits[v], want[v], 2e-5) << v;
}

INSTANTIATE_TEST_SUITE_P(Embeddings, AddedTokens, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "tied" : "untied"; });

TEST(AddedTokens, InBf16TheNewRowsAreTheRoundedMeans) {
  auto m = model(false, WeightType::bf16);
  EXPECT_EQ(m->add_special_token("<MARK_L>"), 300);
  const auto w = m->weights();
  for (int i = 0; i < 40; ++i) {
    double mean = 0;
    for (int t = 0; t < 300; ++t)
      mean += w.embed[static_cast<std::size_t>(t * 40 + i)];
    EXPECT_EQ(w.embed[static_cast<std::size_t>(300 * 40 + i)], round_to_bf16(static_cast<float>(mean / 300)));
  }
  auto seq = m->new_sequence();
  const ralm::TokenId ids[] = {1, 300};
  EXPECT_EQ(m->eval(*seq, ids, {}).logits.size(), 301u);
}

TEST(AddedTokens, TheTokenizerNeverSplitsThemAndDecodesThemBack) {
  auto m = model(true);
  const auto l = m->add_special_token("<MARK_L>"), r = m->add_special_token("<MARK_R>");
  const auto& t = m->tokenizer();
  const ralm::Tokens got = t.encode("ab<MARK_L>c<MARK_R><MARK_R>", true);
  const ralm::Tokens want = {1, 'a' + 3, 'b' + 3, l, 'c' + 3, r, r};
  EXPECT_EQ(got, want);
  EXPECT_EQ(t.decode(got), "ab<MARK_L>c<MARK_R><MARK_R>");
  EXPECT_EQ(t.piece(l), "<MARK_L>");
  EXPECT_EQ(t.encode("plain", false), make_byte_tokenizer(300)->encode("plain", false));
}

TEST(AddedTokens, ASavedModelReloadsWithTheSameIdsAndLogits) {
  TempDir dir;
  for (const bool tied : {false, true}) {
    auto m = model(tied);
    m->add_special_token("<MARK_L>");
    m->add_special_token("<MARK_R>");
    const fs::path out = dir.path() / (tied ? "tied" : "untied");
    save_llama_model(*m, out);

    // Hugging Face's files: both spellings of the added tokens, the grown vocabulary.
    const auto tc = read_json(out / "tokenizer_config.json");
    EXPECT_EQ(tc["added_tokens_decoder"]["300"]["content"], "<MARK_L>");
    EXPECT_EQ(tc["added_tokens_decoder"]["301"]["special"], true);
    EXPECT_EQ(read_json(out / "added_tokens.json")["<MARK_R>"], 301);
    EXPECT_EQ(read_json(out / "config.json")["vocab_size"], 302);
    const ralm::safetensors::File st(out / "model.safetensors");
    EXPECT_EQ(st.tensors().at("model.embed_tokens.weight").shape, (std::vector<std::int64_t>{302, 40}));
    EXPECT_EQ(st.tensors().count("lm_head.weight"), tied ? 0u : 1u);

    // The ids-only tokenizer reloads (no tokenizer.model was saved for bytes),
    // with the added tokens named.
    auto back = load_llama_model(out, 2);
    EXPECT_EQ(back->tokenizer().special("<MARK_L>"), 300);
    EXPECT_EQ(back->tokenizer().special("<MARK_R>"), 301);
    EXPECT_EQ(back->info().vocab_size, 302);
    const std::vector<ralm::TokenId> ids = {1, 300, 70, 301, 5};
    auto s1 = m->new_sequence(), s2 = back->new_sequence();
    EXPECT_EQ(m->eval(*s1, ids, {.all_logits = true}).logits,
              back->eval(*s2, ids, {.all_logits = true}).logits);
    EXPECT_EQ(back->add_special_token("<MARK_L>"), 300);
  }
}

TEST(AddedTokens, ACheckpointSavedFromPartsLoadsAsTheModel) {
  TempDir dir;
  LlamaConfig c = shape(false);
  c.vocab_size = 302;  // two added tokens' rows already in the weights (a trainer's)
  const auto w = random_llama_weights(c, 12, 0.1);
  const std::vector<AddedToken> added = {{"<MARK_L>", 300}, {"<MARK_R>", 301}};
  save_llama_checkpoint(dir.path() / "ckpt", c, w, *make_byte_tokenizer(300), added);
  auto back = load_llama_model(dir.path() / "ckpt", 1);
  EXPECT_EQ(back->tokenizer().special("<MARK_R>"), 301);
  LlamaModel direct(c, random_llama_weights(c, 12, 0.1), make_ids_only_tokenizer(302, 1, 2), 1);
  const std::vector<ralm::TokenId> ids = {1, 300, 9, 301};
  auto s1 = back->new_sequence(), s2 = direct.new_sequence();
  EXPECT_EQ(back->eval(*s1, ids, {}).logits, direct.eval(*s2, ids, {}).logits);
  EXPECT_THROW(save_llama_checkpoint(dir.path() / "bad", c, w, *make_byte_tokenizer(300), {{"<X>", 302}}),
               ralm::Error);
}

TEST(AddedTokens, ABf16ModelSavedInBf16ReloadsBitForBit) {
  TempDir dir;
  auto m = model(false, WeightType::bf16);
  m->add_special_token("<MARK_R>");
  save_llama_model(*m, dir.path() / "bf16", DType::BF16);
  EXPECT_EQ(read_json(dir.path() / "bf16" / "config.json")["torch_dtype"], "bfloat16");
  const ralm::safetensors::File st(dir.path() / "bf16" / "model.safetensors");
  EXPECT_EQ(st.tensors().at("lm_head.weight").dtype, DType::BF16);
  auto back = load_llama_model(dir.path() / "bf16", 2, 0, WeightType::bf16);
  const std::vector<ralm::TokenId> ids = {1, 300, 70, 5};
  auto s1 = m->new_sequence(), s2 = back->new_sequence();
  EXPECT_EQ(m->eval(*s1, ids, {.all_logits = true}).logits,
            back->eval(*s2, ids, {.all_logits = true}).logits);
}

// A SentencePiece checkpoint: text around an added token is encoded by
// SentencePiece, the token itself is one id, and tokenizer.model is saved
// beside the weights.
TEST(AddedTokens, SentencePieceCheckpointsKeepThemWholeAndSaveTheirModel) {
  TempDir dir;
  std::ofstream text(dir.path() / "text.txt");
  for (int i = 0; i < 50; ++i)
    text << "a compiler translates source code into machine code line " << i << "\n";
  text.close();
  const auto status =
      sentencepiece::SentencePieceTrainer::Train("--input=" + (dir.path() / "text.txt").string() +
                                                 " --model_prefix=" + (dir.path() / "tokenizer").string() +
                                                 " --vocab_size=60 --model_type=bpe --minloglevel=2");
  ASSERT_TRUE(status.ok()) << status.ToString();
  const fs::path base = dir.path() / "base";
  fs::create_directories(base);
  fs::copy(dir.path() / "tokenizer.model", base / "tokenizer.model");
  LlamaConfig c = shape(true);
  c.vocab_size = 60;
  auto m =
      std::make_unique<LlamaModel>(c, random_llama_weights(c, 5, 0.1),
                                   make_tokenizer(base, c.vocab_size, c.bos_token_id, c.eos_token_id), 1);
  const auto mark = m->add_special_token("<MARK_L>");
  EXPECT_EQ(mark, 60);
  EXPECT_EQ(m->add_special_token("<s>"), 1);  // SentencePiece's own piece
  const auto& t = m->tokenizer();
  const ralm::Tokens left = t.encode("source code", false), right = t.encode("machine", false);
  ralm::Tokens want = {1};
  want.insert(want.end(), left.begin(), left.end());
  want.push_back(mark);
  want.insert(want.end(), right.begin(), right.end());
  EXPECT_EQ(t.encode("source code<MARK_L>machine", true), want);

  save_llama_model(*m, dir.path() / "saved");
  EXPECT_TRUE(fs::exists(dir.path() / "saved" / "tokenizer.model"));
  EXPECT_EQ(read_json(dir.path() / "saved" / "tokenizer_config.json")["tokenizer_class"], "LlamaTokenizer");
  auto back = load_llama_model(dir.path() / "saved", 1);
  EXPECT_EQ(back->tokenizer().special("<MARK_L>"), mark);
  EXPECT_EQ(back->tokenizer().encode("source code<MARK_L>machine", true), want);
  EXPECT_EQ(back->tokenizer().decode(want), t.decode(want));
}

TEST(AddedTokens, AnAddedTokenPastTheVocabularyIsAOneLineError) {
  TempDir dir;
  auto m = model(false);
  save_llama_model(*m, dir.path() / "ckpt");
  std::ofstream(dir.path() / "ckpt" / "added_tokens.json") << "{\"<MARK_L>\": 300}";
  fs::remove(dir.path() / "ckpt" / "tokenizer_config.json");
  try {
    load_llama_model(dir.path() / "ckpt", 1);
    FAIL() << "no error";
  } catch (const ralm::InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("<MARK_L> has id 300"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
  std::ofstream(dir.path() / "ckpt" / "added_tokens.json") << "{\"<MARK_L>\": ";
  EXPECT_THROW(load_llama_model(dir.path() / "ckpt", 1), ralm::InputError);
}

}  // namespace
