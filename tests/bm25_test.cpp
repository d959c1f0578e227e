// The bm25 retriever: the analyser, scores against the formula computed by
// hand, score() equal to search() bit for bit, ties, persistence, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "bm25_index.hpp"
#include "bm25_retriever.hpp"
#include "ralm/core/corpus/corpus_builder.hpp"
#include "ralm/core/plugin_manager.hpp"
#include "ralm/error.hpp"
#include "ralm/text_analysis/analyzer.hpp"
#include "run_command.hpp"

namespace {

namespace fs = std::filesystem;
using namespace ralm::bm25;
using ralm::test::TempDir;
using ralm::text_analysis::Analyzer;
using ralm::text_analysis::is_stop_word;

const std::string kCorpus = RALM_SOURCE_DIR "/tests/fixtures/corpus";

// The fixture corpus as a store, built once per test.
std::shared_ptr<const ralm::PassageStore> fixture_store(const TempDir& dir, std::size_t words = 100) {
  ralm::core::CorpusBuildOptions o;
  o.sources = {ralm::core::parse_source("jsonl:" + kCorpus + "/docs.jsonl"),
               ralm::core::parse_source("tsv:" + kCorpus + "/passages.tsv")};
  o.out = dir.path() / "corpus";
  o.words_per_passage = words;
  ralm::core::build_corpus(o);
  return ralm::PassageStore::open(o.out);
}

std::unique_ptr<Bm25Retriever> retriever(const std::shared_ptr<const ralm::PassageStore>& store,
                                         float k1 = 0.9f, float b = 0.4f) {
  if (!fs::exists(store->dir() / "bm25")) build_index(*store, store->dir() / "bm25", false);
  return std::make_unique<Bm25Retriever>(
      store, std::make_unique<Bm25Index>(store->dir() / "bm25", *store, k1, b), 2);
}

TEST(Bm25Analyzer, LowercasesDropsStopWordsAndStems) {
  Analyzer a;
  EXPECT_EQ(a.terms("The Running programs, and THE compilers!"),
            (std::vector<std::string>{"run", "program", "compil"}));
  EXPECT_TRUE(is_stop_word("the"));
  EXPECT_FALSE(is_stop_word("lisp"));
  EXPECT_TRUE(a.terms("the of and").empty());
}

// BM25 in double precision, straight from the formula, over the analysed
// title + text of every passage.
double formula(const ralm::PassageStore& store, const std::string& query, ralm::PassageId id, double k1,
               double b) {
  Analyzer a;
  std::vector<std::vector<std::string>> docs;
  double total = 0;
  for (ralm::PassageId p = 0; p < store.size(); ++p) {
    docs.push_back(a.terms(std::string(store.title(p)) + "\n" + std::string(store.text(p))));
    total += static_cast<double>(docs.back().size());
  }
  const double avg = total / static_cast<double>(docs.size()), n = static_cast<double>(docs.size());
  double score = 0;
  std::vector<std::string> seen;
  for (const std::string& term : a.terms(query)) {
    if (std::find(seen.begin(), seen.end(), term) != seen.end()) continue;
    seen.push_back(term);
    double df = 0;
    for (const auto& d : docs)
      df += std::count(d.begin(), d.end(), term) > 0 ? 1 : 0;
    if (df == 0) continue;
    const auto& d = docs[static_cast<std::size_t>(id)];
    const double tf = static_cast<double>(std::count(d.begin(), d.end(), term));
    const double idf = std::log(1 + (n - df + 0.5) / (df + 0.5));
    score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * static_cast<double>(d.size()) / avg));
  }
  return score;
}

TEST(Bm25, ScoresMatchTheFormulaComputedByHand) {
  TempDir dir;
  const auto store = fixture_store(dir, 12);
  for (const auto& [k1, b] :
       std::vector<std::pair<float, float>>{{0.9f, 0.4f}, {1.2f, 0.75f}, {2.0f, 0.0f}}) {
    auto r = retriever(store, k1, b);
    for (const std::string q :
         {"lisp programming language", "memory programs running", "compiler loops Fortran"}) {
      std::vector<ralm::PassageId> ids;
      for (ralm::PassageId id = 0; id < store->size(); ++id)
        ids.push_back(id);
      const auto scores = r->score(q, ids);
      for (ralm::PassageId id = 0; id < store->size(); ++id) {
        EXPECT_NEAR(scores[static_cast<std::size_t>(id)], formula(*store, q, id, k1, b), 1e-5)
            << q << " " << id;
      }
    }
  }
}

TEST(Bm25, SearchRanksByScoreAndScoreEqualsSearchBitForBit) {
  TempDir dir;
  const auto store = fixture_store(dir, 6);
  auto r = retriever(store);
  const std::vector<std::string> queries = {"Lisp lists",
                                            "programming language",
                                            "memory cache processor",
                                            "Fortran compilers optimise loops",
                                            "heap objects stack",
                                            "zebra"};
  const auto k = store->size();
  const auto results = r->search(queries, k);
  ASSERT_EQ(results.size(), queries.size());
  for (std::size_t q = 0; q < queries.size(); ++q) {
    ASSERT_EQ(static_cast<std::int64_t>(results[q].size()), k);
    std::vector<ralm::PassageId> ids;
    for (const auto& h : results[q])
      ids.push_back(h.id);
    const auto scores = r->score(queries[q], ids);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(scores[i], results[q][i].score) << queries[q] << " id " << ids[i];  // exact, not near
      if (i > 0) {
        EXPECT_TRUE(ralm::ranks_before(results[q][i - 1], results[q][i])) << queries[q] << " at " << i;
      }
    }
  }
  // A query matching nothing ranks every passage at 0, lower ids first.
  EXPECT_EQ(results.back()[0].id, 0);
  EXPECT_EQ(results.back()[0].score, 0.0f);
  // The best passage for "Lisp lists" is Lisp's.
  EXPECT_EQ(store->title(results[0][0].id), "Lisp");
}

TEST(Bm25, TiesGoToTheLowerId) {
  TempDir dir;
  const auto docs = dir.write("same.jsonl",
                              "{\"title\": \"t\", \"text\": \"alpha beta\"}\n"
                              "{\"title\": \"t\", \"text\": \"gamma\"}\n"
                              "{\"title\": \"t\", \"text\": \"alpha beta\"}\n");
  ralm::core::CorpusBuildOptions o;
  o.sources = {ralm::core::parse_source("jsonl:" + docs.string())};
  o.out = dir.path() / "c";
  ralm::core::build_corpus(o);
  auto r = retriever(ralm::PassageStore::open(o.out));
  const std::vector<std::string> q = {"alpha"};
  const auto hits = r->search(q, 3)[0];
  EXPECT_EQ(hits[0].id, 0);
  EXPECT_EQ(hits[1].id, 2);
  EXPECT_EQ(hits[0].score, hits[1].score);
}

TEST(Bm25, BatchedEqualsOneAtATime) {
  TempDir dir;
  auto r = retriever(fixture_store(dir, 5));
  const std::vector<std::string> queries = {"lisp", "memory programs", "compiler", "stack heap",
                                            "data", "language"};
  const auto batch = r->search(queries, 4);
  for (std::size_t i = 0; i < queries.size(); ++i) {
    EXPECT_EQ(batch[i], r->search(std::span(queries).subspan(i, 1), 4)[0]) << queries[i];
  }
}

TEST(Bm25, PersistsAndRefusesAnIndexOfAnotherCorpus) {
  TempDir dir;
  const auto store = fixture_store(dir, 7);
  auto first = retriever(store);
  const std::vector<std::string> q = {"programming language"};
  const auto before = first->search(q, 3);
  auto reopened = retriever(store);  // the index exists now: loaded, not rebuilt
  EXPECT_EQ(reopened->search(q, 3), before);

  TempDir other_dir;
  const auto other = fixture_store(other_dir, 9);  // other passages, other checksum
  try {
    Bm25Index(store->dir() / "bm25", *other, 0.9f, 0.4f);
    FAIL() << "an index of another corpus was accepted";
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("built for corpus checksum"), std::string::npos) << e.what();
  }
}

TEST(Bm25, BadInput) {
  TempDir dir;
  const auto store = fixture_store(dir);
  auto r = retriever(store);
  const std::vector<std::string> q = {"lisp"}, empty = {"  "};
  EXPECT_THROW(r->search(q, 0), ralm::InputError);
  EXPECT_THROW(r->search(q, store->size() + 1), ralm::InputError);
  EXPECT_THROW(r->search(empty, 1), ralm::InputError);
  const std::vector<ralm::PassageId> outside = {store->size()};
  EXPECT_THROW(r->score("lisp", outside), ralm::InputError);
  EXPECT_THROW(Bm25Index(dir.path() / "nowhere", *store, 0.9f, 0.4f), ralm::InputError);
}

TEST(Bm25Plugin, BuildsItsIndexOnFirstUseThroughAPipeline) {
  TempDir dir;
  const auto store = fixture_store(dir);
  const auto pipeline = dir.write("p.yaml", "retriever:\n  plugin: bm25\n  corpus: corpus\n");
  const auto r = ralm::test::run_command({RALM_EXE, "run", pipeline.string(), "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir.path() / "corpus" / "bm25" / "meta.json"));
  const auto off = dir.write("off.yaml",
                             "retriever:\n  plugin: bm25\n  corpus: corpus\n  index: other\n"
                             "  build_if_missing: false\n");
  const auto e = ralm::test::run_command({RALM_EXE, "run", off.string(), "--dry-run"});
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_NE(e.err.find("off.yaml:4:10: retriever.index: no BM25 index at"), std::string::npos) << e.err;
}

}  // namespace
