// ralm's tokenizer.json reader against Hugging Face tokenizers itself (the
// npm package @anush008/tokenizers, its native build, in tests/oracle): on
// each fixture of tests/fixtures/tokenizers, the same ids for every one of
// more than 10,000 strings, with and without special tokens, and the same
// text back from decode.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "ralm/hf_tokenizer/hf_tokenizer.hpp"
#include "run_command.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using ralm::test::TempDir;

namespace {

const fs::path kSource = RALM_SOURCE_DIR;
const fs::path kOracle = kSource / "tests/oracle";
const fs::path kFixtures = kSource / "tests/fixtures/tokenizers";

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

// The corpus fixture's lines, as the tokenizers were trained on them.
std::vector<std::string> corpus_lines() {
  std::vector<std::string> out;
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(kSource / "tests/fixtures/corpus")) {
    const auto ext = e.path().extension();
    if (e.is_regular_file() && ext != ".dz" && ext != ".index") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    for (auto& line : lines_of(read(f)))
      if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Pieces the adversarial strings are made of: what tokenizers get wrong.
const std::vector<std::string> kFragments = {
    // Letters and marks, precomposed and combining, and case mappings.
    "é", "e\u0301", "a\u0308\u0323", "ß", "İstanbul", "ΣΑΣ", "ǅ", "ﬁ", "Å", "A\u030A", "ñ", "Ω", "ſ", "K",
    "\u0301", "ḁ̶", "Ⅻ", "①", "²", "½", "٣", "߀",
    // Scripts without spaces, and CJK.
    "漢字", "日本語のテキスト", "한국어", "中文，标点。", "𠀋", "𰀀", "ไทย", "العربية", "עברית", "हिन्दी",
    // Emoji, modifiers and ZWJ sequences.
    "😀", "👩\u200D💻", "🏳️\u200D🌈", "👍🏽", "🇩🇪", "🥰", "🫠", "❤️", "#️⃣",
    // Digits runs.
    "0", "12", "123", "1234", "1234567890123", "3.14159", "1,000,000", "٠١٢٣",
    // Whitespace runs, tabs and newlines.
    " ", "  ", "     ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\u00A0", "\u3000", "\u2028", "\u200B",
    "\uFEFF",
    // Punctuation and contractions.
    "'s", "'S", "'ll", "'LL", "don't", "I'M", "...", "?!", "--", "\"quoted\"", "(a)", "[x]", "{}", "@#$%^&*",
    "_", "~", "`", "\\", "/", "<", ">", "|",
    // Controls and odd but valid code points.
    "\x01", "\x7F", "\u00AD", "\uFFFD", "\uE000", "\U0010FFFD", "\u0378", "\u2060", "\uFFFF",
    // Added tokens of the fixtures, alone and inside words.
    "<|begin_of_text|>", "<|end_of_text|>", "<|retrieved|>", "ralmkit", "ralmkits", "xralmkit", "RalmKit",
    "RALMKIT", "<MARK>", "<s>", "</s>", "<unk>", "[CLS]", "[SEP]", "[MASK]", "[PAD]", "<0x41>", "▁", "##ing",
    "Ġ",
    // Words.
    "the", "The", "programming", "Lisp", "language", "compiler", "antidisestablishmentarianism", "a",
    "supercalifragilisticexpialidocious"};

std::vector<std::string> test_strings() {
  std::vector<std::string> out = corpus_lines();
  for (const auto& f : kFragments)
    out.push_back(f);
  out.push_back("");
  std::mt19937 rng(20);
  const std::vector<std::string> words = [&] {
    std::vector<std::string> w;
    for (const auto& line : corpus_lines()) {
      std::istringstream in(line);
      for (std::string word; in >> word;)
        w.push_back(word);
    }
    return w;
  }();
  const std::vector<std::string> joins = {"", " ", " ", "  ", "\n", "\t"};
  while (out.size() < 10500) {
    std::string s;
    const int n = std::uniform_int_distribution<int>(0, 12)(rng);
    for (int i = 0; i < n; ++i) {
      const bool fragment = std::uniform_int_distribution<int>(0, 2)(rng) != 0;
      s += fragment ? kFragments[std::uniform_int_distribution<std::size_t>(0, kFragments.size() - 1)(rng)]
                    : words[std::uniform_int_distribution<std::size_t>(0, words.size() - 1)(rng)];
      s += joins[std::uniform_int_distribution<std::size_t>(0, joins.size() - 1)(rng)];
    }
    out.push_back(s);
  }
  return out;
}

// Skipped, saying how to install it, where the oracle is not installed
// (scripts/test.sh installs it).
std::optional<fs::path> oracle_node() {
  if (!fs::exists(kOracle / "node_modules/@anush008/tokenizers/index.js")) return std::nullopt;
  return ralm::test::find_on_path("node");
}

class OracleTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OracleTest, SameIdsAndDecodeAsHuggingFaceTokenizers) {
  const auto node = oracle_node();
  if (!node) GTEST_SKIP() << "needs node and the oracle: cd tests/oracle && npm ci (scripts/test.sh does it)";
  const fs::path fixture = kFixtures / GetParam();
  const TempDir dir;
  const std::vector<std::string> strings = test_strings();
  ASSERT_GE(strings.size(), 10000u);
  std::string jsonl;
  for (const auto& s : strings)
    jsonl += json(s).dump() + "\n";
  const fs::path in = dir.write("strings.jsonl", jsonl);
  const fs::path out = dir.path() / "oracle.jsonl";
  const auto run = ralm::test::run_command(
      {node->string(), (kOracle / "encode.js").string(), fixture.string(), in.string(), out.string()});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<std::string> answers = lines_of(read(out));
  ASSERT_EQ(answers.size(), strings.size());

  const auto tokenizer = ralm::hf::load_tokenizer_json(fixture);
  int mismatches = 0;
  for (std::size_t i = 0; i < strings.size() && mismatches < 10; ++i) {
    const json answer = json::parse(answers[i]);
    const auto plain = tokenizer->encode(strings[i], false);
    const auto special = tokenizer->encode(strings[i], true);
    const bool same = plain == answer["plain"].get<ralm::Tokens>() &&
                      special == answer["special"].get<ralm::Tokens>() &&
                      tokenizer->decode(special) == answer["decoded"].get<std::string>();
    if (!same) {
      ++mismatches;
      ADD_FAILURE() << "string " << i << " " << json(strings[i]).dump()
                    << "\n  ours:   " << json(plain).dump() << " / " << json(special).dump() << " / "
                    << json(tokenizer->decode(special)).dump() << "\n  theirs: " << answer["plain"].dump()
                    << " / " << answer["special"].dump() << " / " << answer["decoded"].dump();
    }
  }
  EXPECT_EQ(mismatches, 0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, OracleTest,
                         ::testing::Values("byte_level_bpe.json", "sentencepiece_bpe.json", "wordpiece.json"),
                         [](const auto& param_info) {
                           return param_info.param.substr(0, param_info.param.find('.'));
                         });

}  // namespace
