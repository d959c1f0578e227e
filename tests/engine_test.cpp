// The request loop with a tiny random Llama and BM25 over the fixture corpus:
// KV-cache reuse is exact for every policy, retrievals happen where the papers
// put them with the queries they use, and the time breakdown adds up.
#include <gtest/gtest.h>

#include "append_policy.hpp"
#include "engine_fixture.hpp"
#include "none_policy.hpp"
#include "prepend_policy.hpp"
#include "ralm/error.hpp"

namespace {

using namespace ralm;
using test::ByteTokenizer;
using test::Fixture;
using test::settings;

const char* kPrompt = "Compilers translate a programming language; garbage collection reclaims memory";

TEST(RequestLoop, NoneComputesEachTokenOnceAndNeverRetrieves) {
  Fixture f;
  const auto built = f.pipeline(std::make_shared<policies::NonePolicy>());
  core::RequestLoop loop(built, settings(4, 9));
  const auto r = loop.run(kPrompt);
  EXPECT_EQ(r.output.size(), 9u);
  EXPECT_TRUE(r.retrievals.empty());
  EXPECT_EQ(r.tokens_computed, static_cast<std::int64_t>(r.input.size() + r.output.size() - 1));
  EXPECT_EQ(f.model->mismatches, 0);
}

TEST(RequestLoop, RetrievesEveryStrideWithTheLastQueryTokensAsTheQuery) {
  Fixture f;
  const auto built = f.pipeline(std::make_shared<policies::PrependPolicy>(1, false));
  core::RequestLoop loop(built, settings(4, 10));
  const auto r = loop.run(kPrompt);
  ASSERT_EQ(r.retrievals.size(), 3u);  // before tokens 0, 4 and 8
  const ByteTokenizer tok;
  for (std::size_t i = 0; i < r.retrievals.size(); ++i) {
    const auto pos = r.retrievals[i].position;
    EXPECT_EQ(pos, static_cast<std::int32_t>(4 * i));
    Tokens generated(r.output.begin(), r.output.begin() + pos);
    const Tokens window = core::query_window(r.input, generated, 32, 1);
    EXPECT_EQ(window.size(), 32u);
    EXPECT_EQ(r.retrievals[i].query, tok.decode(window));
  }
  // The first query is the prompt's last 32 bytes (BOS never part of it).
  EXPECT_EQ(r.retrievals[0].query, std::string(kPrompt).substr(std::string(kPrompt).size() - 32));
  EXPECT_EQ(core::query_window({1, 10, 11}, {12}, 32, 1), (Tokens{10, 11, 12}));
}

TEST(RequestLoop, PrependRecomputesEverythingAndItsReuseIsExact) {
  Fixture f;
  const auto plain = f.pipeline(std::make_shared<policies::PrependPolicy>(1, false));
  core::RequestLoop loop(plain, settings(4, 12));
  const auto r = loop.run(kPrompt);
  EXPECT_EQ(f.model->mismatches, 0);
  // Each retrieval recomputes the whole layout; the tokens between are decoded one by one.
  std::int64_t expected = 0;
  for (const auto& rec : r.retrievals) {
    const Passage p = f.retriever->passage(rec.hits[0].id);
    const auto passage = f.model->tokenizer().encode(p.title + "\n" + p.text, false);
    expected +=
        static_cast<std::int64_t>(std::min<std::size_t>(passage.size(), 40) + r.input.size()) + rec.position;
  }
  // Every step yields one token; the steps that are not retrievals decode one.
  expected += static_cast<std::int64_t>(r.output.size() - r.retrievals.size());
  EXPECT_EQ(r.tokens_computed, expected);

  // Keeping the cache when the passage is unchanged is exact: same outputs.
  const auto reuse = f.pipeline(std::make_shared<policies::PrependPolicy>(1, true));
  core::RequestLoop reuse_loop(reuse, settings(4, 12));
  const auto r2 = reuse_loop.run(kPrompt);
  EXPECT_EQ(r2.output, r.output);
  EXPECT_LE(r2.tokens_computed, r.tokens_computed);
  EXPECT_EQ(f.model->mismatches, 0);
}

TEST(RequestLoop, AppendCutsBackToTheInputAndItsReuseIsExact) {
  Fixture f;
  for (const bool marks : {true, false}) {
    std::optional<policies::MarkingTokens> m;
    if (marks) m = policies::MarkingTokens{260, 261};
    const auto built = f.pipeline(std::make_shared<policies::AppendPolicy>(m));
    core::RequestLoop loop(built, settings(4, 12));
    const auto r = loop.run(kPrompt);
    EXPECT_EQ(r.output.size(), 12u);
    EXPECT_EQ(r.retrievals.size(), 3u);
    // First: input + passage block. Then each retrieval: the stride's 4 new
    // tokens + the new block; between retrievals one token each.
    std::int64_t expected = static_cast<std::int64_t>(r.input.size());
    for (std::size_t i = 0; i < r.retrievals.size(); ++i) {
      const Passage p = f.retriever->passage(r.retrievals[i].hits[0].id);
      const auto n =
          std::min<std::size_t>(f.model->tokenizer().encode(p.title + "\n" + p.text, false).size(), 40);
      expected += static_cast<std::int64_t>(n) + (marks ? 2 : 0) + (i > 0 ? 4 : 0);
    }
    // Every step yields one token; the steps that are not retrievals decode one.
    expected += static_cast<std::int64_t>(r.output.size() - r.retrievals.size());
    EXPECT_EQ(r.tokens_computed, expected) << "marks " << marks;
  }
  EXPECT_EQ(f.model->mismatches, 0);
  EXPECT_GT(f.model->checked, 20);
}

TEST(RequestLoop, AppendComputesFarFewerTokensThanPrepend) {
  Fixture f;
  const std::string long_prompt = std::string(kPrompt) + " " + std::string(kPrompt) + " " + kPrompt;
  const auto prepend = f.pipeline(std::make_shared<policies::PrependPolicy>(1, false));
  const auto append = f.pipeline(std::make_shared<policies::AppendPolicy>(std::nullopt));
  const auto a = core::RequestLoop(append, settings(4, 16)).run(long_prompt);
  const auto p = core::RequestLoop(prepend, settings(4, 16)).run(long_prompt);
  EXPECT_LT(a.tokens_computed * 2, p.tokens_computed);
  EXPECT_EQ(a.tokens_kept, p.tokens_kept);
}

TEST(RequestLoop, TheTimeBreakdownAddsUpToTheWallTime) {
  Fixture f;
  const auto built = f.pipeline(std::make_shared<policies::PrependPolicy>(1, false));
  const auto r = core::RequestLoop(built, settings(4, 8)).run(kPrompt);
  const auto& t = r.times;
  for (double part : {t.retrieval, t.prefill, t.decode, t.verification, t.rollback})
    EXPECT_GE(part, 0.0);
  EXPECT_GT(t.retrieval, 0.0);
  EXPECT_GT(t.prefill, 0.0);
  EXPECT_GT(t.decode, 0.0);
  EXPECT_NEAR(t.retrieval + t.prefill + t.decode + t.verification + t.rollback + t.other, t.total, 1e-12);
  EXPECT_GE(t.other, 0.0);
}

TEST(RequestLoop, OverflowDropsTheOldestInputTokensAndKeepsBos) {
  Fixture f;
  const auto built = f.pipeline(std::make_shared<policies::AppendPolicy>(std::nullopt));
  const std::string huge(900, 'x');  // context 768
  const auto r = core::RequestLoop(built, settings(4, 8)).run(huge + "END");
  const std::int64_t budget = 768 - 8 - 42;
  EXPECT_EQ(static_cast<std::int64_t>(r.input.size()), budget);
  EXPECT_EQ(r.input_tokens_dropped, 901 - budget + 3);
  EXPECT_EQ(r.input.front(), 1);  // BOS stays
  EXPECT_EQ(f.model->tokenizer().decode(std::span(r.input).last(3)), "END");
}

TEST(RequestLoop, ABlankQueryKeepsThePreviousPassages) {
  Fixture f;
  const auto built = f.pipeline(std::make_shared<policies::PrependPolicy>(1, false));
  // 40 spaces: the first query window is blank, so nothing is retrieved and
  // the retriever (which refuses empty queries) is not asked.
  const auto r = core::RequestLoop(built, settings(4, 8)).run(std::string(40, ' '));
  ASSERT_EQ(r.retrievals.size(), 2u);
  EXPECT_TRUE(r.retrievals[0].hits.empty());
  EXPECT_EQ(f.model->mismatches, 0);
}

// Rewrites every next-token distribution to favour one token, as kNN-LM
// rewrites it from its neighbours, and records the keys it was given.
class ForcingPolicy final : public ContextPolicy {
 public:
  explicit ForcingPolicy(TokenId forced) : forced_(forced) {}
  bool uses_passages() const override { return false; }
  std::unique_ptr<PolicyState> begin(const Tokens&) override { return std::make_unique<State>(); }
  Layout on_retrieval(PolicyState&, const Tokens& input, const Tokens& generated,
                      std::span<const RetrievedPassage>) override {
    Layout l;
    l.tokens = input;
    l.tokens.insert(l.tokens.end(), generated.begin(), generated.end());
    return l;
  }
  bool adjusts_logits() const override { return true; }
  void adjust_logits(PolicyState&, std::span<float> logits, std::span<const float> key) override {
    keys.emplace_back(key.begin(), key.end());
    logits[static_cast<std::size_t>(forced_)] += 1e6f;
  }
  std::vector<std::vector<float>> keys;

 private:
  struct State final : PolicyState {
    std::unique_ptr<PolicyState> clone() const override { return std::make_unique<State>(); }
  };
  TokenId forced_;
};

TEST(RequestLoop, APolicyThatAdjustsLogitsGetsTheLastPositionsKey) {
  Fixture f;
  const TokenId z = 'z' + 3;
  auto policy = std::make_shared<ForcingPolicy>(z);
  const auto r = core::RequestLoop(f.pipeline(policy, false), settings(4, 6)).run(kPrompt);
  EXPECT_EQ(r.output, Tokens(6, z));
  ASSERT_EQ(policy->keys.size(), 6u);
  // The key of the position that predicts the first token: the prompt's last.
  auto seq = f.unchecked->new_sequence();
  const EvalResult want = f.unchecked->eval(*seq, r.input, {.keys = true});
  const auto key_dim = static_cast<std::size_t>(f.unchecked->info().key_dim);
  ASSERT_EQ(policy->keys[0].size(), key_dim);
  EXPECT_EQ(policy->keys[0],
            std::vector<float>(want.keys.end() - static_cast<std::ptrdiff_t>(key_dim), want.keys.end()));
}

TEST(RequestLoop, BadInput) {
  Fixture f;
  const auto built = f.pipeline(std::make_shared<policies::PrependPolicy>(1, false));
  EXPECT_THROW(core::RequestLoop(built, settings(4, 8)).run(""), InputError);
  EXPECT_THROW(core::RequestLoop(built, settings(4, 760)).run(kPrompt), InputError);  // no room for passages
  core::BuiltPipeline no_retriever = built;
  no_retriever.retriever = nullptr;
  EXPECT_THROW(core::RequestLoop(no_retriever, settings(4, 8)), InputError);
  core::BuiltPipeline no_model = built;
  no_model.model = nullptr;
  EXPECT_THROW(core::RequestLoop(no_model, settings(4, 8)), InputError);
}

}  // namespace
