// The perplexity task with a tiny random Llama and BM25 over the fixture
// corpus: `none` scores exactly what the model's own logits give, retrieval
// happens every stride with the preceding 32 tokens and never returns the
// scored document's passages, KV reuse is exact for every policy, and bad
// input is one clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "append_policy.hpp"
#include "engine_fixture.hpp"
#include "none_policy.hpp"
#include "prepend_policy.hpp"
#include "ralm/core/compare_table.hpp"
#include "ralm/core/engine/perplexity.hpp"
#include "ralm/core/engine/run_report.hpp"
#include "ralm/error.hpp"

namespace {

using namespace ralm;
using ralm::test::TempDir;

using test::CheckingModel;

core::PerplexitySettings settings(std::int32_t stride, std::int32_t window,
                                  std::int32_t passage_tokens = 24) {
  core::PerplexitySettings s;
  s.engine.stride = stride;
  s.engine.query_tokens = 32;
  s.engine.top_k = 1;
  s.engine.max_passage_tokens = passage_tokens;
  s.window = window;
  return s;
}

core::BuiltPipeline pipeline(std::shared_ptr<Model> model, std::shared_ptr<Retriever> retriever,
                             std::shared_ptr<ContextPolicy> policy) {
  core::BuiltPipeline p;
  p.model = std::move(model);
  p.retriever = std::move(retriever);
  p.policy = std::move(policy);
  return p;
}

const char* kText =
    "Garbage collection reclaims the memory of objects that a program can no longer reach; Lisp "
    "pioneered it and most languages since have followed.";

// Sum of -log p of text[begin, end) evaluated after BOS + text[context, begin).
double direct_nll(Model& model, const Tokens& text, std::size_t context, std::size_t begin, std::size_t end) {
  Tokens tokens{1};
  tokens.insert(tokens.end(), text.begin() + static_cast<std::ptrdiff_t>(context),
                text.begin() + static_cast<std::ptrdiff_t>(end));
  auto seq = model.new_sequence();
  const EvalResult r = model.eval(*seq, tokens, {.all_logits = true});
  const std::size_t vocab = static_cast<std::size_t>(model.info().vocab_size);
  double nll = 0;
  for (std::size_t i = begin; i < end; ++i) {
    const std::size_t row = i - context;  // row j predicts tokens[j + 1] = text[context + j]
    const float* logits = r.logits.data() + row * vocab;
    double sum = 0;
    for (std::size_t v = 0; v < vocab; ++v)
      sum += std::exp(static_cast<double>(logits[v]));
    nll += std::log(sum) - logits[text[i]];
  }
  return nll;
}

TEST(Perplexity, NoneIsExpOfTheMeanNllOfTheModelsOwnLogits) {
  auto model = test::tiny_llama();
  const auto built = pipeline(model, nullptr, std::make_shared<policies::NonePolicy>());
  const Tokens text = model->tokenizer().encode(kText, false);
  const core::HeldOutDocument doc{"d", "", kText, -1};

  // One window holds the whole text: one pass over BOS + text.
  core::PerplexityEvaluator one(built, settings(4, 0));
  const auto s1 = one.score(doc);
  EXPECT_EQ(s1.windows, 1);
  EXPECT_EQ(s1.tokens, static_cast<std::int64_t>(text.size()));
  const double want1 = direct_nll(*model, text, 0, 0, text.size());
  EXPECT_NEAR(std::exp(s1.nll / s1.tokens), std::exp(want1 / static_cast<double>(text.size())), 1e-4);
  EXPECT_TRUE(s1.retrievals.empty());
  // Each token computed once (BOS too, the last target never).
  EXPECT_EQ(s1.tokens_computed, static_cast<std::int64_t>(text.size()));

  // Windows of 40: the first scores 40 tokens, each later one scores 20
  // after the 20 before them.
  core::PerplexityEvaluator windowed(built, settings(4, 40));
  const auto s2 = windowed.score(doc);
  double want2 = direct_nll(*model, text, 0, 0, 40);
  std::size_t windows = 1;
  for (std::size_t pos = 40; pos < text.size(); pos += 20, ++windows)
    want2 += direct_nll(*model, text, pos - 20, pos, std::min(pos + 20, text.size()));
  EXPECT_EQ(s2.windows, static_cast<std::int32_t>(windows));
  EXPECT_EQ(s2.tokens, static_cast<std::int64_t>(text.size()));
  EXPECT_NEAR(s2.nll, want2, 1e-3);

  // max_tokens scores a prefix.
  const auto s3 = one.score(doc, 10);
  EXPECT_EQ(s3.tokens, 10);
  EXPECT_NEAR(s3.nll, direct_nll(*model, text, 0, 0, 10), 1e-4);
}

TEST(Perplexity, RetrievesEveryStrideWithThePreceding32TokensAsTheQuery) {
  test::TinyCorpus corpus;
  auto model = test::tiny_llama();
  const auto built = pipeline(model, corpus.retriever, std::make_shared<policies::PrependPolicy>(1, false));
  core::PerplexityEvaluator evaluator(built, settings(4, 80));
  const core::HeldOutDocument doc{"d", "", kText, -1};
  const auto s = evaluator.score(doc);
  const Tokens text = model->tokenizer().encode(kText, false);
  ASSERT_EQ(s.retrievals.size(), (text.size() + 3) / 4);
  for (std::size_t i = 0; i < s.retrievals.size(); ++i) {
    const auto& rec = s.retrievals[i];
    const std::size_t p = 4 * i;
    EXPECT_EQ(rec.position, static_cast<std::int32_t>(p));
    const std::size_t from = p > 32 ? p - 32 : 0;
    EXPECT_EQ(rec.query, std::string(kText).substr(from, p - from)) << "at " << p;
    EXPECT_EQ(rec.hits.empty(), p == 0);  // the first window starts with nothing to ask
  }
}

TEST(Perplexity, RetrievalExcludesTheScoredDocumentsOwnPassages) {
  test::TinyCorpus corpus;
  auto model = test::tiny_llama();
  const auto built = pipeline(model, corpus.retriever, std::make_shared<policies::PrependPolicy>(1, false));

  // From the store: by document number.
  const auto docs = core::held_out_corpus_documents(*corpus.store, 1);
  ASSERT_EQ(docs.size(), 5u);
  EXPECT_EQ(docs[0].title, "Lisp");
  EXPECT_EQ(docs[0].text,
            "Lisp is a functional programming language based on lists. Lisp programs are lists.");
  core::PerplexityEvaluator evaluator(built, settings(4, 0), corpus.store);
  int own_on_top = 0, retrievals = 0;
  for (const auto& doc : docs) {
    const auto s = evaluator.score(doc);
    for (const auto& rec : s.retrievals) {
      if (rec.hits.empty()) continue;
      ++retrievals;
      ASSERT_EQ(rec.hits.size(), 1u);
      EXPECT_NE(corpus.store->document(rec.hits[0].id), doc.corpus_document)
          << doc.id << " at " << rec.position;
      const auto unfiltered = corpus.retriever->search(std::span(&rec.query, 1), 1)[0];
      if (!unfiltered.empty() && corpus.store->document(unfiltered[0].id) == doc.corpus_document)
        ++own_on_top;
    }
  }
  EXPECT_GT(retrievals, 50);
  EXPECT_GT(own_on_top, 10);  // without the exclusion the document would often retrieve itself

  // From a JSONL file: by title, whatever store the retriever searches.
  core::PerplexityEvaluator by_title(built, settings(4, 0));
  const auto jsonl = core::read_held_out_text(RALM_SOURCE_DIR "/tests/fixtures/corpus/docs.jsonl");
  ASSERT_EQ(jsonl.size(), 5u);
  EXPECT_EQ(jsonl[2].id, "d2");
  for (const auto& doc : jsonl) {
    for (const auto& rec : by_title.score(doc).retrievals) {
      for (const Hit& h : rec.hits)
        EXPECT_NE(corpus.retriever->passage(h.id).title, doc.title);
    }
  }
}

TEST(Perplexity, KvReuseIsExactAndAppendKeepsTheInput) {
  test::TinyCorpus corpus;
  auto checking = std::make_shared<CheckingModel>(test::tiny_llama());
  const core::HeldOutDocument doc{"d", "", kText, -1};
  std::vector<core::DocumentScore> scores;
  for (std::shared_ptr<ContextPolicy> policy : std::vector<std::shared_ptr<ContextPolicy>>{
           std::make_shared<policies::PrependPolicy>(1, false),
           std::make_shared<policies::PrependPolicy>(1, true),
           std::make_shared<policies::AppendPolicy>(policies::MarkingTokens{260, 261}),
           std::make_shared<policies::AppendPolicy>(std::nullopt)}) {
    const auto built = pipeline(checking, corpus.retriever, policy);
    scores.push_back(core::PerplexityEvaluator(built, settings(8, 0)).score(doc));
    EXPECT_EQ(scores.back().tokens, static_cast<std::int64_t>(std::string(kText).size()));
  }
  EXPECT_EQ(checking->mismatches, 0);
  EXPECT_GT(checking->checked, 60);
  // Keeping the prepended passage's cache when it is unchanged changes no
  // figure, only the work.
  EXPECT_NEAR(scores[1].nll, scores[0].nll, 1e-6 * scores[0].nll);
  EXPECT_LE(scores[1].tokens_computed, scores[0].tokens_computed);
  // Append computes each stride's tokens and one passage; prepend the whole layout.
  EXPECT_LT(scores[3].tokens_computed * 2, scores[0].tokens_computed);
  EXPECT_NE(scores[3].nll, scores[2].nll);  // the marking tokens are part of the layout
}

// `none`'s layout, with logits rewritten at every position as kNN-LM would:
// here a bonus for one token that grows with the key's first component.
class BiasingPolicy final : public ContextPolicy {
 public:
  bool uses_passages() const override { return false; }
  std::unique_ptr<PolicyState> begin(const Tokens& input) override { return none_.begin(input); }
  Layout on_retrieval(PolicyState& state, const Tokens& input, const Tokens& generated,
                      std::span<const RetrievedPassage> passages) override {
    return none_.on_retrieval(state, input, generated, passages);
  }
  bool adjusts_logits() const override { return true; }
  void adjust_logits(PolicyState&, std::span<float> logits, std::span<const float> key) override {
    key_sizes.push_back(key.size());
    logits[3 + 'e'] += 2.0f + key[0];
  }
  std::vector<std::size_t> key_sizes;

 private:
  policies::NonePolicy none_;
};

TEST(Perplexity, APolicyThatAdjustsLogitsGetsEveryPositionWithItsKey) {
  auto model = test::tiny_llama();
  auto policy = std::make_shared<BiasingPolicy>();
  const auto built = pipeline(model, nullptr, policy);
  const Tokens text = model->tokenizer().encode(kText, false);
  const auto s = core::PerplexityEvaluator(built, settings(4, 0)).score({"d", "", kText, -1});
  ASSERT_EQ(policy->key_sizes.size(), text.size());  // once per scored token
  for (std::size_t n : policy->key_sizes)
    EXPECT_EQ(n, static_cast<std::size_t>(model->info().key_dim));

  // The same adjustment applied to one pass over BOS + text.
  Tokens all{1};
  all.insert(all.end(), text.begin(), text.end());
  auto seq = model->new_sequence();
  EvalResult r = model->eval(*seq, all, {.all_logits = true, .keys = true});
  const std::size_t vocab = 262, key_dim = static_cast<std::size_t>(model->info().key_dim);
  double want = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    float* logits = r.logits.data() + i * vocab;
    logits[3 + 'e'] += 2.0f + r.keys[i * key_dim];
    double sum = 0;
    for (std::size_t v = 0; v < vocab; ++v)
      sum += std::exp(static_cast<double>(logits[v]));
    want += std::log(sum) - logits[text[i]];
  }
  EXPECT_NEAR(s.nll, want, 1e-3);
}

TEST(Perplexity, WritesDocumentsAndSummary) {
  auto model = test::tiny_llama();
  const auto built = pipeline(model, nullptr, std::make_shared<policies::NonePolicy>());
  core::PerplexityEvaluator evaluator(built, settings(4, 0));
  core::RunReport report;
  report.task = "perplexity";
  report.pipeline = "p";
  report.add(evaluator.score({"a", "", kText, -1}));
  report.add(evaluator.score({"b", "", "Lisp programs are lists.", -1}));
  EXPECT_NEAR(report.perplexity(), std::exp(report.nll / static_cast<double>(report.scored)), 1e-12);
  TempDir dir;
  core::write_run_files(report, dir.path());
  std::ifstream summary_file(dir.path() / "summary.json");
  const auto summary = nlohmann::json::parse(summary_file);
  EXPECT_EQ(summary["task"], "perplexity");
  EXPECT_EQ(summary["documents"], 2);
  EXPECT_EQ(summary["tokens_scored"], report.scored);
  EXPECT_NEAR(summary["perplexity"].get<double>(), report.perplexity(), 1e-9);
  std::ifstream lines(dir.path() / "documents.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(lines, line))
    EXPECT_EQ(nlohmann::json::parse(line)["id"], n++ == 0 ? "a" : "b");
  EXPECT_EQ(n, 2);
  std::ostringstream table;
  core::print_compare_table(table, {report, report}, {0, 0});
  EXPECT_NE(table.str().find("PERPLEXITY"), std::string::npos);
  EXPECT_EQ(table.str().find("IDENTICAL"), std::string::npos);
}

TEST(Perplexity, BadInput) {
  test::TinyCorpus corpus;
  auto model = test::tiny_llama();
  const auto built = pipeline(model, corpus.retriever, std::make_shared<policies::PrependPolicy>(1, false));
  // 768 tokens of context: BOS, a 24-token passage plus marks, and the window.
  EXPECT_NO_THROW(core::PerplexityEvaluator(built, settings(4, 768 - 1 - 26)));
  EXPECT_THROW(core::PerplexityEvaluator(built, settings(4, 768 - 26)), InputError);
  EXPECT_THROW(core::PerplexityEvaluator(built, settings(16, 31)), InputError);  // under two strides
  EXPECT_THROW(core::PerplexityEvaluator(built, settings(4, 0, 800)),
               InputError);  // passages fill the context
  core::BuiltPipeline no_retriever = built;
  no_retriever.retriever = nullptr;
  EXPECT_THROW(core::PerplexityEvaluator(no_retriever, settings(4, 0)), InputError);
  // A store that is not the retriever's.
  test::TempDir other;
  {
    PassageStoreWriter w(other.path() / "store", false);
    w.add("t", "one passage", 0);
    w.commit({});
  }
  EXPECT_THROW(core::PerplexityEvaluator(built, settings(4, 0), PassageStore::open(other.path() / "store")),
               InputError);

  TempDir dir;
  EXPECT_THROW(core::read_held_out_text(dir.path() / "missing.txt"), InputError);
  EXPECT_THROW(core::read_held_out_text(dir.write("empty.txt", " \n")), InputError);
  EXPECT_THROW(core::read_held_out_text(dir.write("bad.jsonl", "{\"text\": \"a\"}\n{oops\n")), InputError);
  EXPECT_THROW(core::read_held_out_text(dir.write("notext.jsonl", "{\"title\": \"a\"}\n")), InputError);
  EXPECT_THROW(core::read_held_out_text(dir.write("blank.jsonl", "{\"text\": \" \"}\n")), InputError);
  EXPECT_THROW(core::read_held_out_text(dir.write("none.jsonl", "\n")), InputError);
  try {
    core::read_held_out_text(dir.write("bad2.jsonl", "{\"text\": \"a\"}\n[1]\n"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad2.jsonl:2: not a JSON object; each line must be an object like"),
              std::string::npos)
        << e.what();
  }
  const auto txt = core::read_held_out_text(dir.write("doc.txt", "Some held-out text.\n"));
  ASSERT_EQ(txt.size(), 1u);
  EXPECT_EQ(txt[0].id, "doc");
  EXPECT_EQ(txt[0].title, "");
}

}  // namespace
