// The tokenizer.json reader's own promises: one clear error per bad file,
// naming the file and the field; the special ids and kind each fixture
// declares; a checkpoint folder with only tokenizer.json; and GGUF's gpt2
// vocabulary giving the ids the same tokenizer's tokenizer.json gives.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_expectations.hpp"
#include "gguf_export.hpp"
#include "gguf_model.hpp"
#include "llama_model.hpp"
#include "ralm/error.hpp"
#include "ralm/gguf/gguf_file.hpp"
#include "ralm/gguf/gguf_writer.hpp"
#include "ralm/hf_tokenizer/hf_tokenizer.hpp"
#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/llama_format/weights.hpp"
#include "run_command.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ralm::test::TempDir;

const fs::path kFixtures = fs::path(RALM_SOURCE_DIR) / "tests/fixtures/tokenizers";

json fixture_json(const std::string& name) {
  std::ifstream in(kFixtures / name);
  return json::parse(in);
}

// The InputError parsing `doc` gives; fails the test when there is none.
std::string error_of(const std::string& text, const std::string& source) {
  try {
    ralm::hf::parse_tokenizer_json(text, source);
  } catch (const ralm::InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError for " << source;
  return {};
}

void expect_names(const std::string& message, std::initializer_list<std::string> parts) {
  for (const auto& part : parts)
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(HfTokenizerErrors, BadJsonNamesTheFile) {
  expect_names(error_of("{\"model\": ", "/x/tokenizer.json"), {"/x/tokenizer.json", "not valid JSON"});
}

TEST(HfTokenizerErrors, AnUnsupportedModelTypeNamesTheField) {
  json doc = fixture_json("wordpiece.json");
  doc["model"]["type"] = "Unigram";
  expect_names(error_of(doc.dump(), "u.json"), {"u.json", "model.type", "Unigram", "WordPiece"});
}

TEST(HfTokenizerErrors, BpeDropoutIsRefused) {
  json doc = fixture_json("byte_level_bpe.json");
  doc["model"]["dropout"] = 0.1;
  expect_names(error_of(doc.dump(), "d.json"), {"d.json", "model.dropout", "null"});
}

TEST(HfTokenizerErrors, AnIdFarPastTheVocabularyIsRefused) {
  json doc = fixture_json("byte_level_bpe.json");
  doc["model"]["vocab"]["far"] = 555555117;  // would ask for a table of 555 M entries
  expect_names(error_of(doc.dump(), "v.json"), {"v.json", "model.vocab[\"far\"]", "555555117", "renumber"});
}

TEST(HfTokenizerErrors, AnUnknownPreTokenizerNamesItsPlaceInTheSequence) {
  json doc = fixture_json("byte_level_bpe.json");
  doc["pre_tokenizer"]["pretokenizers"][1] = {{"type", "UnicodeScripts"}};
  expect_names(error_of(doc.dump(), "p.json"),
               {"p.json", "pre_tokenizer.pretokenizers[1].type", "UnicodeScripts"});
}

TEST(HfTokenizerErrors, AMergeOutsideTheVocabularyNamesIt) {
  json doc = fixture_json("byte_level_bpe.json");
  doc["model"]["merges"][3] = "zz qq";
  expect_names(error_of(doc.dump(), "m.json"), {"m.json", "model.merges[3]", "zz"});
}

TEST(HfTokenizerErrors, ABadRegexNamesItsField) {
  json doc = fixture_json("byte_level_bpe.json");
  doc["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  expect_names(error_of(doc.dump(), "r.json"), {"r.json", "pre_tokenizer.pretokenizers[0].pattern.Regex"});
}

TEST(HfTokenizerErrors, AMissingFileNamesIt) {
  try {
    ralm::hf::load_tokenizer_json("/nonexistent/tokenizer.json");
    ADD_FAILURE() << "loaded";
  } catch (const ralm::InputError& e) {
    expect_names(e.what(), {"/nonexistent/tokenizer.json"});
  }
}

TEST(HfTokenizerErrors, InvalidUtf8TextIsAnInputError) {
  const auto t = ralm::hf::load_tokenizer_json(kFixtures / "byte_level_bpe.json");
  EXPECT_THROW(t->encode("ab\xC3(", false), ralm::InputError);
}

const ralm::hf::HfTokenizer& hf(const ralm::Tokenizer& t) {
  const auto* p = ralm::hf::as_hf_tokenizer(t);
  EXPECT_NE(p, nullptr);
  return *p;
}

TEST(HfTokenizer, EachFixtureDeclaresItsKindAndSpecialIds) {
  const auto byte_level = ralm::hf::load_tokenizer_json(kFixtures / "byte_level_bpe.json");
  EXPECT_EQ(hf(*byte_level).kind(), "BPE byte-level");
  EXPECT_EQ(byte_level->bos(), byte_level->special("<|begin_of_text|>"));
  EXPECT_EQ(byte_level->eos(), byte_level->special("<|end_of_text|>"));
  EXPECT_EQ(byte_level->encode("x", true).front(), byte_level->bos());

  const auto spiece = ralm::hf::load_tokenizer_json(kFixtures / "sentencepiece_bpe.json");
  EXPECT_EQ(hf(*spiece).kind(), "BPE byte-fallback");
  EXPECT_EQ(spiece->bos(), 1);
  EXPECT_EQ(spiece->eos(), 2);
  EXPECT_EQ(spiece->piece(3 + 0x41), "<0x41>");

  const auto wordpiece = ralm::hf::load_tokenizer_json(kFixtures / "wordpiece.json");
  EXPECT_EQ(hf(*wordpiece).kind(), "WordPiece");
  EXPECT_EQ(hf(*wordpiece).pad_id(), 0);
  EXPECT_EQ(hf(*wordpiece).cls_id(), 2);
  EXPECT_EQ(hf(*wordpiece).sep_id(), 3);
  const auto ids = wordpiece->encode("Lisp", true);
  EXPECT_EQ(ids.front(), 2);
  EXPECT_EQ(ids.back(), 3);
  EXPECT_EQ(wordpiece->decode(ids), "[CLS] lisp [SEP]");
}

TEST(HfTokenizer, ACheckpointFolderWithOnlyTokenizerJsonEncodes) {
  const TempDir dir;
  fs::copy_file(kFixtures / "byte_level_bpe.json", dir.path() / "tokenizer.json");
  const auto t = ralm::llama::make_tokenizer(dir.path(), 2048, 1654, 1655);
  EXPECT_EQ(t->encode("Lisp programs", true).front(), 1654);
  EXPECT_EQ(t->decode(t->encode("Lisp programs", false)), "Lisp programs");
  // A tokenizer larger than the model's vocabulary is refused.
  EXPECT_THROW(ralm::llama::make_tokenizer(dir.path(), 1000, 1, 2), ralm::InputError);
}

// The byte-level fixture as GGUF's gpt2 vocabulary: tokens by id, merges,
// and its added tokens as control (special) or user-defined tokens.
ralm::hf::GgufBpeVocab gguf_vocab_of_fixture() {
  const json doc = fixture_json("byte_level_bpe.json");
  ralm::hf::GgufBpeVocab v;
  std::int32_t size = 0;
  for (const auto& [token, id] : doc["model"]["vocab"].items())
    size = std::max(size, id.get<std::int32_t>() + 1);
  for (const auto& a : doc["added_tokens"])
    size = std::max(size, a["id"].get<std::int32_t>() + 1);
  v.tokens.resize(static_cast<std::size_t>(size));
  v.token_types.assign(static_cast<std::size_t>(size), 1);
  for (const auto& [token, id] : doc["model"]["vocab"].items())
    v.tokens[id.get<std::size_t>()] = token;
  for (const auto& a : doc["added_tokens"]) {
    v.tokens[a["id"].get<std::size_t>()] = a["content"];
    v.token_types[a["id"].get<std::size_t>()] = a["special"].get<bool>() ? 3 : 4;
  }
  for (const auto& m : doc["model"]["merges"])
    v.merges.push_back(m.is_string() ? m.get<std::string>()
                                     : m[0].get<std::string>() + " " + m[1].get<std::string>());
  v.pre = "llama-bpe";
  v.bos = static_cast<ralm::TokenId>(std::find(v.tokens.begin(), v.tokens.end(), "<|begin_of_text|>") -
                                     v.tokens.begin());
  v.eos = static_cast<ralm::TokenId>(std::find(v.tokens.begin(), v.tokens.end(), "<|end_of_text|>") -
                                     v.tokens.begin());
  v.add_bos = true;
  return v;
}

// The byte-level fixture as GGUF can carry it: GGUF has no lstrip, rstrip or
// single_word for added tokens, so the comparison is with the fixture
// without them.
std::unique_ptr<ralm::Tokenizer> fixture_without_strip_flags() {
  json doc = fixture_json("byte_level_bpe.json");
  for (auto& a : doc["added_tokens"]) {
    a["lstrip"] = false;
    a["rstrip"] = false;
    a["single_word"] = false;
  }
  return ralm::hf::parse_tokenizer_json(doc.dump(), "byte_level_bpe.json");
}

const std::vector<std::string> kTexts = {
    "Lisp is a functional programming language based on lists.",
    "  leading spaces, 1234567 digits and 'LL contractions\n\ttabs",
    "ralmkits<|retrieved|>   after the token",
    "漢字 and 😀 emoji 👩\u200D💻, é and e\u0301",
    "",
};

TEST(HfTokenizer, GgufGpt2VocabularyGivesTheTokenizerJsonIds) {
  const auto from_json = fixture_without_strip_flags();
  const auto from_gguf = ralm::hf::make_gguf_bpe_tokenizer(gguf_vocab_of_fixture(), "test.gguf");
  for (const auto& text : kTexts) {
    EXPECT_EQ(from_gguf->encode(text, true), from_json->encode(text, true)) << text;
    EXPECT_EQ(from_gguf->encode(text, false), from_json->encode(text, false)) << text;
    EXPECT_EQ(from_gguf->decode(from_gguf->encode(text, false)), text);
  }
  auto v = gguf_vocab_of_fixture();
  v.pre = "falcon";
  try {
    ralm::hf::make_gguf_bpe_tokenizer(v, "test.gguf");
    ADD_FAILURE() << "an unknown pre-tokenizer was accepted";
  } catch (const ralm::InputError& e) {
    expect_names(e.what(), {"test.gguf", "tokenizer.ggml.pre", "falcon"});
  }
}

// A one-layer random model's shape, for the tokenizer's sake only.
ralm::llama::LlamaConfig tiny_config(std::int32_t vocab_size, ralm::TokenId bos, ralm::TokenId eos) {
  ralm::llama::LlamaConfig c;
  c.vocab_size = vocab_size;
  c.hidden_size = 64;
  c.intermediate_size = 128;
  c.num_layers = 1;
  c.num_heads = 2;
  c.num_kv_heads = 2;
  c.head_dim = 32;
  c.max_position_embeddings = 64;
  c.bos_token_id = bos;
  c.eos_token_id = eos;
  return c;
}

// The same vocabulary in a GGUF file the llama plugin loads.
TEST(HfTokenizer, AGgufFileWithAGpt2VocabularyLoadsIt) {
  const TempDir dir;
  const auto v = gguf_vocab_of_fixture();
  const ralm::llama::LlamaConfig c = tiny_config(static_cast<std::int32_t>(v.tokens.size()), *v.bos, *v.eos);
  const auto weights = ralm::llama::random_llama_weights(c, 3, 0.02);
  const fs::path plain = dir.path() / "plain.gguf";
  ralm::llama::save_gguf_model(plain, c, weights, *ralm::llama::make_ids_only_tokenizer(c.vocab_size, 0, 1),
                               {}, "f32", false, 1);
  // The same file with the gpt2 vocabulary in its metadata.
  const ralm::gguf::File in(plain);
  ralm::gguf::Writer w;
  for (const auto& [key, value] : in.metadata()) {
    if (key != "general.alignment") w.set(key, value);
  }
  w.set("tokenizer.ggml.model", ralm::gguf::Value::string("gpt2"));
  w.set("tokenizer.ggml.pre", ralm::gguf::Value::string(v.pre));
  w.set("tokenizer.ggml.tokens", ralm::gguf::Value::string_array(v.tokens));
  w.set("tokenizer.ggml.merges", ralm::gguf::Value::string_array(v.merges));
  w.set("tokenizer.ggml.token_type", ralm::gguf::Value::int32_array(v.token_types));
  w.set("tokenizer.ggml.add_bos_token", ralm::gguf::Value::boolean(true));
  for (const auto& t : in.tensors())
    w.add_tensor(t.name, t.type, t.dims, [&t](std::byte* dst) { std::memcpy(dst, t.data, t.bytes); });
  const fs::path file = dir.path() / "gpt2.gguf";
  w.write(file);

  const auto model = ralm::llama::load_gguf_model(file, 1, 0, std::nullopt);
  const auto from_json = fixture_without_strip_flags();
  for (const auto& text : kTexts)
    EXPECT_EQ(model->tokenizer().encode(text, true), from_json->encode(text, true)) << text;
  EXPECT_EQ(model->tokenizer().bos(), *v.bos);
  bool described = false;
  for (const auto& [key, value] : model->info().details)
    described = described || (key == "tokenizer" && value.find("llama-bpe") != std::string::npos);
  EXPECT_TRUE(described);
}

// `ralm model info` and `ralm model tokenize` on a checkpoint folder whose
// only tokenizer is tokenizer.json.
TEST(HfTokenizerCli, InfoAndTokenizeReadTokenizerJson) {
  const TempDir dir;
  const fs::path checkpoint = dir.path() / "checkpoint";
  const ralm::llama::LlamaConfig c = tiny_config(1280, 2, 3);
  ralm::llama::LlamaModel model(c, ralm::llama::random_llama_weights(c, 3, 0.02),
                                ralm::llama::make_ids_only_tokenizer(c.vocab_size, 2, 3), 1);
  model.save(checkpoint, {});
  fs::copy_file(kFixtures / "wordpiece.json", checkpoint / "tokenizer.json");

  const auto info = ralm::test::run_ralm({"model", "info", checkpoint.string(), "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(json::parse(info.out)["details"]["tokenizer"], "tokenizer.json, WordPiece");

  const std::string text = "Lisp pioneered garbage collection";
  const auto tokenize = ralm::test::run_ralm({"model", "tokenize", checkpoint.string(), text, "--json"});
  ASSERT_EQ(tokenize.exit_code, 0) << tokenize.err;
  const auto want = ralm::hf::load_tokenizer_json(kFixtures / "wordpiece.json")->encode(text, true);
  EXPECT_EQ(json::parse(tokenize.out)["ids"].get<ralm::Tokens>(), want);
}

}  // namespace
