// RaLMSpec in the request loop: speculative retrieval from a cache, batched
// verification, rollback, prefetch, OS³ and asynchronous verification. The
// one property that matters: every output (and every retrieval the request
// keeps) equals the loop without speculation, token for token.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "append_policy.hpp"
#include "dense_fixture.hpp"
#include "fixed_scheduler.hpp"
#include "none_policy.hpp"
#include "os3_scheduler.hpp"
#include "prepend_policy.hpp"
#include "ralm/core/compare_table.hpp"
#include "ralm/core/engine/run_report.hpp"
#include "ralm/core/engine/speculative_cache.hpp"
#include "request_expectations.hpp"
#include "scripted_scheduler.hpp"
#include "synthetic_corpus.hpp"

namespace {

using namespace ralm;
using test::dense_retriever;
using test::expect_same_request;
using test::Fixture;
using test::settings;
using test::TempDir;
namespace fs = std::filesystem;

// Forwards to a retriever and records how it was called.
class CountingRetriever final : public Retriever {
 public:
  explicit CountingRetriever(std::shared_ptr<Retriever> inner) : inner_(std::move(inner)) {}
  std::vector<std::vector<Hit>> search(std::span<const std::string> queries, std::int64_t k) override {
    {
      std::lock_guard lock(mutex_);
      batches.push_back(queries.size());
      ks.push_back(k);
      threads.push_back(std::this_thread::get_id());
    }
    return inner_->search(queries, k);
  }
  std::vector<float> score(std::string_view query, std::span<const PassageId> ids) override {
    ++score_calls;
    return inner_->score(query, ids);
  }
  Passage passage(PassageId id) const override { return inner_->passage(id); }
  std::int64_t size() const override { return inner_->size(); }

  std::vector<std::size_t> batches;
  std::vector<std::int64_t> ks;
  std::vector<std::thread::id> threads;
  int score_calls = 0;

 private:
  std::shared_ptr<Retriever> inner_;
  std::mutex mutex_;
};

const std::vector<std::string> kPrompts = {
    "Compilers translate a programming language; garbage collection reclaims memory",
    "the kernel schedules each thread and process; a page table maps memory",
    "a router forwards every network packet; the parser reads a grammar token by token",
    "search the index with a query string; the cache keeps recent blocks of the disk",
};

struct Variant {
  std::string name;
  std::shared_ptr<SpeculationScheduler> scheduler;
};

std::vector<Variant> schedulers() {
  schedulers::Os3Settings uncapped;
  uncapped.gamma_cap = 1.0;
  uncapped.latency_window = 5;
  // The paper's OS3: gamma capped at 0.6, one-step objective, no fallback,
  // each request on its own (the defaults share estimates across requests).
  schedulers::Os3Settings paper;
  paper.gamma_cap = 0.6;
  paper.objective = schedulers::Os3Settings::Objective::Async;
  paper.fallback = false;
  paper.share_estimates = false;
  return {{"fixed1", std::make_shared<schedulers::FixedScheduler>(1)},
          {"fixed3", std::make_shared<schedulers::FixedScheduler>(3)},
          {"fixed8", std::make_shared<schedulers::FixedScheduler>(8)},
          {"os3", std::make_shared<schedulers::Os3Scheduler>(schedulers::Os3Settings{})},
          {"os3-uncapped", std::make_shared<schedulers::Os3Scheduler>(uncapped)},
          {"os3-paper", std::make_shared<schedulers::Os3Scheduler>(paper)},
          {"scripted",
           std::make_shared<test::ScriptedScheduler>(std::vector<std::int32_t>{2, 0, 3, 0, 0, 1, 4})}};
}

std::vector<std::pair<std::string, std::shared_ptr<ContextPolicy>>> policies_under_test() {
  return {{"prepend", std::make_shared<policies::PrependPolicy>(1, false)},
          {"prepend-reuse", std::make_shared<policies::PrependPolicy>(1, true)},
          {"append", std::make_shared<policies::AppendPolicy>(std::nullopt)},
          {"append-marks", std::make_shared<policies::AppendPolicy>(policies::MarkingTokens{260, 261})}};
}

// Runs every prompt through `spec_base` with each scheduler variant,
// synchronous and asynchronous, prefetch 1 and 20, and expects each request
// to equal the baseline's; adds the speculation counts to `total` and
// returns how many requests ran.
int expect_variants_match_baseline(const core::BuiltPipeline& spec_base,
                                   const core::EngineSettings& base_settings,
                                   const std::vector<core::RequestResult>& baseline,
                                   const std::vector<Variant>& variants, const std::string& where,
                                   core::SpeculationStats& total) {
  int runs = 0;
  for (const auto& variant : variants) {
    for (const bool async : {false, true}) {
      for (const std::int32_t prefetch : {1, 20}) {
        core::BuiltPipeline spec = spec_base;
        spec.scheduler = variant.scheduler;
        core::EngineSettings s = base_settings;
        s.speculation.async_verification = async;
        s.speculation.prefetch = prefetch;
        core::RequestLoop loop(spec, s);
        for (std::size_t i = 0; i < kPrompts.size(); ++i) {
          const auto r = loop.run(kPrompts[i]);
          expect_same_request(r, baseline[i],
                              where + " " + variant.name + (async ? " async" : " sync") + " prefetch " +
                                  std::to_string(prefetch) + " prompt " + std::to_string(i));
          total += r.speculation;
          ++runs;
        }
      }
    }
  }
  return runs;
}

// One instance per policy, so that ctest runs them side by side.
class SpeculationEquivalence : public testing::TestWithParam<std::string> {};

TEST_P(SpeculationEquivalence, OutputsAndRetrievalsEqualTheBaselineForEveryVariant) {
  TempDir corpus_dir;
  Fixture f(test::write_synthetic_corpus(corpus_dir));
  std::shared_ptr<ContextPolicy> policy;
  for (const auto& [name, p] : policies_under_test()) {
    if (name == GetParam()) policy = p;
  }
  ASSERT_TRUE(policy);
  core::SpeculationStats total;
  int runs = 0;
  for (const std::int32_t stride : {2, 4}) {
    const core::EngineSettings base_settings = settings(stride, 14);
    std::vector<core::RequestResult> baseline;
    for (const auto& prompt : kPrompts)
      baseline.push_back(core::RequestLoop(f.pipeline(policy, false), base_settings).run(prompt));
    runs += expect_variants_match_baseline(f.pipeline(policy), base_settings, baseline, schedulers(),
                                           GetParam() + " stride " + std::to_string(stride), total);
  }
  // Both paths were exercised many times: steps accepted and steps rolled back.
  EXPECT_GT(total.accepted, 50);
  EXPECT_GT(total.rollbacks, 10);
  EXPECT_LT(total.accepted, total.speculated);
  // And the cache was reused exactly: every checked evaluation on a kept
  // prefix equals a fresh evaluation of the whole sequence.
  EXPECT_GT(f.model->checked, 100);
  EXPECT_EQ(f.model->mismatches, 0);
  EXPECT_EQ(runs, 2 * 7 * 2 * 2 * 4);
}

INSTANTIATE_TEST_SUITE_P(Policies, SpeculationEquivalence,
                         testing::Values("prepend", "prepend-reuse", "append", "append-marks"),
                         [](const testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           std::erase(name, '-');
                           return name;
                         });

class DenseSpeculationEquivalence : public testing::TestWithParam<std::string> {};

TEST_P(DenseSpeculationEquivalence, OutputsAndRetrievalsEqualTheBaseline) {
  TempDir corpus_dir;
  Fixture f(test::write_synthetic_corpus(corpus_dir));
  const auto retriever = dense_retriever(f, GetParam());
  core::SpeculationStats total;
  for (const auto& [policy_name, policy] : policies_under_test()) {
    if (policy_name == "prepend-reuse") continue;
    core::BuiltPipeline built = f.pipeline(policy);
    built.retriever = retriever;
    const core::EngineSettings base_settings = settings(2, 14);
    std::vector<core::RequestResult> baseline;
    for (const auto& prompt : kPrompts)
      baseline.push_back(core::RequestLoop(built, base_settings).run(prompt));
    std::vector<Variant> variants = schedulers();
    std::erase_if(variants, [](const Variant& v) {
      return v.name == "fixed1" || v.name == "os3" || v.name == "os3-paper";
    });
    expect_variants_match_baseline(built, base_settings, baseline, variants, GetParam() + " " + policy_name,
                                   total);
  }
  EXPECT_GT(total.accepted, 20);
  EXPECT_GT(total.rollbacks, 5);
  EXPECT_EQ(f.model->mismatches, 0);
}

// IVF-PQ ranks FAISS's candidates by approximate distances: verification's
// search for `prefetch` passages must still put the baseline's top passage
// first (the retriever's candidate pool does not depend on k).
INSTANTIATE_TEST_SUITE_P(Retrievers, DenseSpeculationEquivalence,
                         testing::Values("Flat", "IVF4,Flat", "IVF4,PQ4x4"),
                         [](const testing::TestParamInfo<std::string>& param) {
                           return param.param == "Flat"        ? std::string("exact")
                                  : param.param == "IVF4,Flat" ? std::string("approximate")
                                                               : std::string("product_quantized");
                         });

TEST(Speculation, EachRoundIsOneBatchedSearchOfItsSteps) {
  TempDir corpus_dir;
  Fixture f(test::write_synthetic_corpus(corpus_dir));
  auto counting = std::make_shared<CountingRetriever>(f.retriever);
  core::BuiltPipeline built = f.pipeline(std::make_shared<policies::AppendPolicy>(std::nullopt));
  built.retriever = counting;
  built.scheduler = std::make_shared<schedulers::FixedScheduler>(3);
  core::EngineSettings s = settings(2, 24);
  s.speculation.prefetch = 20;
  const auto r = core::RequestLoop(built, s).run(kPrompts[1]);
  // The first search seeds the cache; each later one verifies a round.
  ASSERT_EQ(counting->batches.size(), static_cast<std::size_t>(r.speculation.real + r.speculation.rounds));
  EXPECT_EQ(r.speculation.real, 1);
  EXPECT_EQ(counting->batches[0], 1u);
  std::size_t verified = 0;
  for (std::size_t i = 1; i < counting->batches.size(); ++i) {
    EXPECT_GE(counting->batches[i], 1u);
    EXPECT_LE(counting->batches[i], 3u);
    verified += counting->batches[i];
  }
  EXPECT_EQ(static_cast<std::int64_t>(verified), r.speculation.speculated);
  // Every search prefetches 20 passages.
  for (const auto k : counting->ks)
    EXPECT_EQ(k, 20);
  // The cache, not the retriever's search, served every speculated step.
  EXPECT_GE(counting->score_calls, r.speculation.speculated);
  // 24 tokens at stride 2: 12 retrieval points, as without speculation.
  EXPECT_EQ(r.retrievals.size(), 12u);
}

TEST(Speculation, AsynchronousVerificationSearchesOnAnotherThread) {
  TempDir corpus_dir;
  Fixture f(test::write_synthetic_corpus(corpus_dir));
  auto counting = std::make_shared<CountingRetriever>(f.retriever);
  core::BuiltPipeline built = f.pipeline(std::make_shared<policies::PrependPolicy>(1, false));
  built.retriever = counting;
  built.scheduler = std::make_shared<schedulers::FixedScheduler>(2);
  core::EngineSettings s = settings(2, 24);
  s.speculation.async_verification = true;
  const auto r = core::RequestLoop(built, s).run(kPrompts[0]);
  int elsewhere = 0;
  for (const auto& id : counting->threads)
    elsewhere += id != std::this_thread::get_id();
  EXPECT_GT(elsewhere, 0);
  // The real first search runs here; verification runs on the other thread,
  // except for the last round, verified after the request ended.
  EXPECT_EQ(counting->threads.front(), std::this_thread::get_id());
  EXPECT_GE(r.times.overlapped, 0.0);
}

TEST(Speculation, TheTimeBreakdownAddsUpToTheWallTime) {
  TempDir corpus_dir;
  Fixture f(test::write_synthetic_corpus(corpus_dir));
  for (const bool async : {false, true}) {
    core::BuiltPipeline built = f.pipeline(std::make_shared<policies::PrependPolicy>(1, false));
    built.scheduler = std::make_shared<schedulers::FixedScheduler>(4);
    core::EngineSettings s = settings(2, 32);
    s.speculation.prefetch = 1;  // a small cache is often wrong: rollbacks happen
    s.speculation.async_verification = async;
    core::PhaseTimes t;
    core::SpeculationStats stats;
    core::RequestLoop loop(built, s);
    for (const auto& prompt : kPrompts) {
      const auto r = loop.run(prompt);
      const auto& rt = r.times;
      EXPECT_NEAR(rt.retrieval + rt.cache + rt.prefill + rt.decode + rt.verification + rt.rollback + rt.other,
                  rt.total, 1e-12);
      EXPECT_GE(rt.other, 0.0);
      t += r.times;
      stats += r.speculation;
    }
    ASSERT_GT(stats.rollbacks, 0);
    EXPECT_GT(t.rollback, 0.0);
    EXPECT_GT(t.cache, 0.0);
    EXPECT_GT(t.verification, 0.0);
  }
}

TEST(Speculation, ASharedCacheServesLaterRequests) {
  TempDir corpus_dir;
  Fixture f(test::write_synthetic_corpus(corpus_dir));
  core::BuiltPipeline built = f.pipeline(std::make_shared<policies::AppendPolicy>(std::nullopt));
  const auto baseline = core::RequestLoop(built, settings(4, 16)).run(kPrompts[2]);
  built.scheduler = std::make_shared<schedulers::FixedScheduler>(2);
  core::EngineSettings s = settings(4, 16);
  s.speculation.shared_cache = true;
  core::RequestLoop loop(built, s);
  const auto first = loop.run(kPrompts[2]);
  const auto second = loop.run(kPrompts[2]);
  expect_same_request(first, baseline, "first");
  expect_same_request(second, baseline, "second");
  EXPECT_EQ(first.speculation.real, 1);
  // The second request finds every passage the first one retrieved.
  EXPECT_EQ(second.speculation.real, 0);
  EXPECT_EQ(second.speculation.accepted, second.speculation.speculated);
  EXPECT_EQ(second.speculation.rollbacks, 0);
}

TEST(Speculation, SampledOutputsEqualTheBaselineToo) {
  // Rollback restores the sampler's generator with the rest of the request.
  TempDir corpus_dir;
  Fixture f(test::write_synthetic_corpus(corpus_dir));
  core::BuiltPipeline built = f.pipeline(std::make_shared<policies::AppendPolicy>(std::nullopt));
  core::EngineSettings s = settings(2, 24);
  s.sampling.temperature = 0.9;
  s.sampling.top_p = 0.95;
  s.sampling.seed = 42;
  core::SpeculationStats total;
  for (const auto& prompt : kPrompts) {
    const auto baseline = core::RequestLoop(built, s).run(prompt);
    EXPECT_NE(baseline.output, core::RequestLoop(built, settings(2, 24)).run(prompt).output);  // it samples
    for (const bool async : {false, true}) {
      core::BuiltPipeline spec = built;
      spec.scheduler = std::make_shared<schedulers::FixedScheduler>(3);
      core::EngineSettings ss = s;
      ss.speculation.prefetch = 1;
      ss.speculation.async_verification = async;
      const auto r = core::RequestLoop(spec, ss).run(prompt);
      expect_same_request(r, baseline, async ? "async" : "sync");
      total += r.speculation;
    }
  }
  EXPECT_GT(total.rollbacks, 0);
}

TEST(Speculation, ABoundedCacheStillGivesTheBaselineOutput) {
  TempDir corpus_dir;
  Fixture f(test::write_synthetic_corpus(corpus_dir));
  core::BuiltPipeline built = f.pipeline(std::make_shared<policies::PrependPolicy>(1, true));
  const auto baseline = core::RequestLoop(built, settings(2, 20)).run(kPrompts[3]);
  built.scheduler = std::make_shared<schedulers::FixedScheduler>(3);
  core::EngineSettings s = settings(2, 20);
  s.speculation.prefetch = 3;
  s.speculation.cache_capacity = 3;
  expect_same_request(core::RequestLoop(built, s).run(kPrompts[3]), baseline, "capacity 3");
}

TEST(Speculation, TheComparisonTableNamesTheRowASpeculativeRunReproduces) {
  TempDir corpus_dir;
  Fixture f(test::write_synthetic_corpus(corpus_dir));
  auto report = [&](const std::string& name, const core::BuiltPipeline& built,
                    const core::EngineSettings& s) {
    core::RunReport r;
    r.pipeline = name;
    core::RequestLoop loop(built, s);
    for (const auto& prompt : kPrompts)
      r.add(loop.run(prompt));
    return r;
  };
  const auto none =
      report("none", f.pipeline(std::make_shared<policies::NonePolicy>(), false), settings(4, 12));
  core::BuiltPipeline prepend = f.pipeline(std::make_shared<policies::PrependPolicy>(1, false), false);
  const auto base = report("prepend", prepend, settings(4, 12));
  prepend.scheduler = std::make_shared<schedulers::FixedScheduler>(3);
  const auto spec = report("prepend-spec", prepend, settings(4, 12));
  std::ostringstream table;
  core::print_compare_table(table, {none, base, spec}, {0, 0, 0});
  const std::string text = table.str();
  const auto spec_row = text.substr(text.find("prepend-spec"));
  EXPECT_NE(spec_row.find("= prepend"), std::string::npos) << text;
  EXPECT_EQ(text.substr(text.find("prepend "), text.find("prepend-spec") - text.find("prepend ")).find("= "),
            std::string::npos)
      << text;
}

// Scores set by hand, to check the cache's ranking and eviction alone.
class TableRetriever final : public Retriever {
 public:
  std::map<PassageId, float> scores;
  std::vector<std::vector<Hit>> search(std::span<const std::string> queries, std::int64_t k) override {
    std::vector<Hit> all;
    for (const auto& [id, s] : scores)
      all.push_back({id, s});
    rank_hits(all, k);
    return std::vector<std::vector<Hit>>(queries.size(), all);
  }
  std::vector<float> score(std::string_view, std::span<const PassageId> ids) override {
    std::vector<float> out;
    for (auto id : ids)
      out.push_back(scores.at(id));
    return out;
  }
  Passage passage(PassageId id) const override { return {id, "", ""}; }
  std::int64_t size() const override { return static_cast<std::int64_t>(scores.size()); }
};

TEST(SpeculativeCache, RanksWithTheRetrieversScoreAndBreaksTiesByTheLowerId) {
  TableRetriever r;
  r.scores = {{1, 0.5f}, {2, 0.9f}, {3, 0.9f}, {4, 0.1f}, {5, 2.0f}};
  core::SpeculativeCache cache(0);
  cache.insert(std::vector<Hit>{{4, 0}, {3, 0}, {2, 0}, {1, 0}});
  EXPECT_EQ(cache.top(r, "q", 2), (std::vector<Hit>{{2, 0.9f}, {3, 0.9f}}));
  EXPECT_EQ(cache.top(r, "q", 10).size(), 4u);  // 5 is not cached
  EXPECT_FALSE(cache.contains(5));
}

TEST(SpeculativeCache, EvictsTheLeastRecentlyUsed) {
  TableRetriever r;
  r.scores = {{1, 0.1f}, {2, 0.2f}, {3, 0.3f}, {4, 0.4f}};
  core::SpeculativeCache cache(3);
  cache.insert(std::vector<Hit>{{1, 0}, {2, 0}, {3, 0}});          // 1 is the most recent, 3 the least
  EXPECT_EQ(cache.top(r, "q", 1), (std::vector<Hit>{{3, 0.3f}}));  // 3 becomes the most recent
  cache.insert(std::vector<Hit>{{4, 0}});                          // evicts 2, now the least recently used
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.evictions(), 1);
  EXPECT_TRUE(cache.contains(1));
  EXPECT_FALSE(cache.contains(2));
  EXPECT_TRUE(cache.contains(3));
  EXPECT_TRUE(cache.contains(4));
}

}  // namespace
