// RaLMSpec with a draft retriever (engine.draft): speculative steps take
// candidates from a cheap second retriever, alone or with the speculative
// cache, and the pipeline's retriever verifies them as before. The property
// that matters is the same as without a draft: every output and every kept
// retrieval equals the loop without speculation.
#include <gtest/gtest.h>

#include "dense_fixture.hpp"
#include "fixed_scheduler.hpp"
#include "os3_scheduler.hpp"
#include "prepend_policy.hpp"
#include "ralm/error.hpp"
#include "request_expectations.hpp"
#include "synthetic_corpus.hpp"

namespace {

using namespace ralm;
using test::dense_retriever;
using test::expect_same_request;
using test::Fixture;
using test::settings;
using test::TempDir;

const std::vector<std::string> kPrompts = {
    "Compilers translate a programming language; garbage collection reclaims memory",
    "the kernel schedules each thread and process; a page table maps memory",
    "a router forwards every network packet; the parser reads a grammar token by token",
};

std::string mode_name(core::DraftMode mode) {
  return mode == core::DraftMode::only ? "only" : mode == core::DraftMode::with_cache ? "with_cache" : "off";
}

struct Draft {
  std::string name;
  std::shared_ptr<Retriever> retriever;
};

// One instance per draft: an approximate dense index over the same vectors,
// and BM25, whose ranking has nothing to do with the dense scores.
class DraftSpeculationEquivalence : public testing::TestWithParam<std::string> {};

TEST_P(DraftSpeculationEquivalence, OutputsAndRetrievalsEqualTheBaselineInEveryMode) {
  TempDir corpus_dir;
  Fixture f(test::write_synthetic_corpus(corpus_dir));
  const auto exact = dense_retriever(f, "Flat");
  const auto draft = GetParam() == "bm25" ? f.retriever : dense_retriever(f, "IVF4,PQ4x4");
  core::BuiltPipeline built = f.pipeline(std::make_shared<policies::PrependPolicy>(1, false));
  built.retriever = exact;
  built.draft_retriever = draft;
  const std::vector<std::shared_ptr<SpeculationScheduler>> schedulers = {
      std::make_shared<schedulers::FixedScheduler>(3),
      std::make_shared<schedulers::Os3Scheduler>(schedulers::Os3Settings{})};
  core::SpeculationStats total;
  for (const std::int32_t top_k : {1, 2}) {
    core::EngineSettings base_settings = settings(2, 14);
    base_settings.top_k = top_k;
    core::BuiltPipeline plain = f.pipeline(built.policy, false);
    plain.retriever = exact;
    std::vector<core::RequestResult> baseline;
    for (const auto& prompt : kPrompts)
      baseline.push_back(core::RequestLoop(plain, base_settings).run(prompt));
    for (const auto mode : {core::DraftMode::only, core::DraftMode::with_cache}) {
      for (std::size_t s = 0; s < schedulers.size(); ++s) {
        for (const bool async : {false, true}) {
          for (const std::int32_t prefetch : {2, 20}) {
            core::BuiltPipeline spec = built;
            spec.scheduler = schedulers[s];
            core::EngineSettings drafting = base_settings;
            drafting.speculation.draft = mode;
            drafting.speculation.async_verification = async;
            drafting.speculation.prefetch = prefetch;
            core::RequestLoop loop(spec, drafting);
            for (std::size_t i = 0; i < kPrompts.size(); ++i) {
              const auto r = loop.run(kPrompts[i]);
              expect_same_request(r, baseline[i],
                                  GetParam() + " top_k " + std::to_string(top_k) + " " + mode_name(mode) +
                                      " scheduler " + std::to_string(s) + (async ? " async" : " sync") +
                                      " prefetch " + std::to_string(prefetch) + " prompt " +
                                      std::to_string(i));
              EXPECT_GT(r.speculation.draft_searches, 0);
              EXPECT_LE(r.speculation.draft_accepted, r.speculation.draft_speculated);
              EXPECT_LE(r.speculation.draft_speculated, r.speculation.speculated);
              if (mode == core::DraftMode::only) {
                EXPECT_EQ(r.speculation.draft_speculated, r.speculation.speculated);
              }
              total += r.speculation;
            }
          }
        }
      }
    }
  }
  // Both paths ran many times: drafted steps accepted and rolled back.
  EXPECT_GT(total.draft_accepted, 20);
  EXPECT_GT(total.rollbacks, 5);
  EXPECT_LT(total.accepted, total.speculated);
  EXPECT_GT(total.draft_seconds, 0.0);
  EXPECT_EQ(f.model->mismatches, 0);
}

INSTANTIATE_TEST_SUITE_P(Drafts, DraftSpeculationEquivalence, testing::Values("approximate_dense", "bm25"));

TEST(DraftSpeculation, TheDraftLetsSpeculationStartAtTheFirstStep) {
  TempDir corpus_dir;
  Fixture f(test::write_synthetic_corpus(corpus_dir));
  core::BuiltPipeline built = f.pipeline(std::make_shared<policies::PrependPolicy>(1, false));
  built.retriever = dense_retriever(f, "Flat");
  built.draft_retriever = dense_retriever(f, "IVF4,PQ4x4");
  built.scheduler = std::make_shared<schedulers::FixedScheduler>(2);
  core::EngineSettings s = settings(2, 16);
  const auto cache_only = core::RequestLoop(built, s).run(kPrompts[0]);
  // Without the draft, the first search is real: it fills the cache.
  EXPECT_EQ(cache_only.speculation.real, 1);
  EXPECT_EQ(cache_only.speculation.draft_searches, 0);
  s.speculation.draft = core::DraftMode::with_cache;
  const auto drafted = core::RequestLoop(built, s).run(kPrompts[0]);
  EXPECT_EQ(drafted.speculation.real, 0);
  // One draft search per speculated step (a step thrown away at a rollback
  // searched too).
  EXPECT_GE(drafted.speculation.draft_searches, drafted.speculation.speculated);
  EXPECT_EQ(drafted.output, cache_only.output);
}

TEST(DraftSpeculation, DraftOnWithoutADraftRetrieverIsAnInputError) {
  Fixture f;
  core::BuiltPipeline built = f.pipeline(std::make_shared<policies::PrependPolicy>(1, false));
  built.scheduler = std::make_shared<schedulers::FixedScheduler>(2);
  core::EngineSettings s = settings(2, 8);
  s.speculation.draft = core::DraftMode::only;
  EXPECT_THROW(core::RequestLoop(built, s), InputError);
  built.draft_retriever = f.retriever;
  built.scheduler = nullptr;
  EXPECT_THROW(core::RequestLoop(built, s), InputError);
}

}  // namespace
