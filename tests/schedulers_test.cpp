// The fixed and OS3 schedulers: the objective against its formula, the
// stride against a brute-force search, and the online estimates.
#include <gtest/gtest.h>

#include <cmath>

#include "fixed_scheduler.hpp"
#include "os3_objective.hpp"
#include "os3_scheduler.hpp"

namespace {

using namespace ralm::schedulers;

TEST(Os3Objective, ExpectedKeptStepsIsTheGeometricSum) {
  for (double g : {0.0, 0.3, 0.6, 0.95}) {
    for (int s = 1; s <= 12; ++s) {
      EXPECT_NEAR(expected_kept_steps(g, s), (1 - std::pow(g, s)) / (1 - g), 1e-12) << g << " " << s;
    }
  }
  EXPECT_DOUBLE_EQ(expected_kept_steps(1.0, 7), 7.0);
}

TEST(Os3Objective, MatchesThePapersFormulas) {
  const double g = 0.7, a = 0.01, b = 0.05;
  for (int s = 1; s <= 10; ++s) {
    const double gs = std::pow(g, s);
    EXPECT_NEAR(sync_objective(g, a, b, s), (1 - gs) / ((1 - g) * (s * a + b)), 1e-9);
    const double async_time = gs * ((s - 1) * a + std::max(a, b)) + (1 - gs) * (s * a + b);
    EXPECT_NEAR(async_objective(g, a, b, s), (1 - gs) / ((1 - g) * async_time), 1e-9);
  }
}

TEST(Os3Objective, BestStrideIsTheBruteForceArgmax) {
  for (double g : {0.1, 0.5, 0.6, 0.9, 0.99}) {
    for (double ratio : {0.1, 1.0, 5.0, 40.0}) {
      for (bool async : {false, true}) {
        const double a = 0.002, b = a * ratio;
        const int chosen = best_stride(g, a, b, async, 32);
        double best = -1;
        for (int s = 1; s <= 32; ++s) {
          best = std::max(best, async ? async_objective(g, a, b, s) : sync_objective(g, a, b, s));
        }
        const double at = async ? async_objective(g, a, b, chosen) : sync_objective(g, a, b, chosen);
        EXPECT_NEAR(at, best, best * 1e-9) << g << " " << ratio << " " << async;
      }
    }
  }
}

TEST(Os3Objective, CheapVerificationMeansShortStridesAndDearVerificationLongOnes) {
  EXPECT_EQ(best_stride(0.9, 0.01, 0.0, false, 16), 1);
  EXPECT_GT(best_stride(0.9, 0.01, 0.5, false, 16), 8);
  EXPECT_LT(best_stride(0.2, 0.01, 0.5, false, 16), best_stride(0.9, 0.01, 0.5, false, 16));
  EXPECT_EQ(best_stride(1.0, 0.01, 0.5, false, 16), 16);  // speculation never wrong: longest stride
}

Os3Settings settings(double cap = 0.6) {
  Os3Settings s;
  s.gamma_cap = cap;
  return s;
}

ralm::RoundObservation round(int stride, int accepted, double a = 0.01, double b = 0.1) {
  ralm::RoundObservation r;
  r.stride = stride;
  r.accepted = accepted;
  r.step_seconds = a;
  r.verify_seconds = b;
  return r;
}

TEST(Os3Scheduler, StartsAtTheInitialStride) {
  Os3Settings s = settings();
  s.initial_stride = 3;
  Os3Scheduler scheduler(s);
  auto state = scheduler.begin();
  EXPECT_EQ(scheduler.next_stride(*state), 3);
}

TEST(Os3Scheduler, GammaIsSuccessesOverTrialsInTheWindowAndCapped) {
  Os3Scheduler uncapped(settings(1.0));
  auto state = uncapped.begin();
  uncapped.observe(*state, round(4, 4));  // 4 successes, no failure
  uncapped.observe(*state, round(4, 1));  // 1 success, then a failure
  const auto& s = static_cast<const Os3State&>(*state);
  EXPECT_DOUBLE_EQ(uncapped.estimate_gamma(s), 5.0 / 6.0);

  Os3Scheduler capped(settings(0.6));
  EXPECT_DOUBLE_EQ(capped.estimate_gamma(s), 0.6);

  // Only the last gamma_window (5) rounds count.
  for (int i = 0; i < 5; ++i)
    uncapped.observe(*state, round(2, 0));
  EXPECT_DOUBLE_EQ(uncapped.estimate_gamma(static_cast<const Os3State&>(*state)), 0.0);
}

TEST(Os3Scheduler, LatenciesComeFromTheLatencyWindow) {
  Os3Settings s = settings();
  s.latency_window = 2;
  Os3Scheduler scheduler(s);
  auto state = scheduler.begin();
  scheduler.observe(*state, round(2, 2, 0.5, 5.0));
  scheduler.observe(*state, round(2, 2, 0.1, 1.0));
  scheduler.observe(*state, round(2, 2, 0.3, 3.0));
  const auto& st = static_cast<const Os3State&>(*state);
  EXPECT_DOUBLE_EQ(scheduler.estimate_step_seconds(st), 0.2);
  EXPECT_DOUBLE_EQ(scheduler.estimate_verify_seconds(st), 2.0);
}

TEST(Os3Scheduler, ChoosesTheObjectivesBestStrideFromItsEstimates) {
  Os3Scheduler scheduler(settings(1.0));
  auto state = scheduler.begin();
  scheduler.observe(*state, round(8, 8, 0.01, 0.2));
  scheduler.observe(*state, round(8, 7, 0.01, 0.2));
  const double gamma = 15.0 / 16.0;
  EXPECT_EQ(scheduler.next_stride(*state), best_stride(gamma, 0.01, 0.2, false, 16));

  // The paper's cap holds the stride down even when speculation is never wrong.
  Os3Scheduler capped(settings(0.6));
  auto capped_state = capped.begin();
  capped.observe(*capped_state, round(8, 8, 0.01, 0.2));
  EXPECT_EQ(capped.next_stride(*capped_state), best_stride(0.6, 0.01, 0.2, false, 16));
  EXPECT_LT(capped.next_stride(*capped_state), scheduler.next_stride(*state));
}

TEST(Os3Scheduler, AutoFollowsTheEngineAndTheSettingCanForceAnObjective) {
  // The cache is right 9 times in 10 and a verification costs 20 steps: the
  // objectives disagree, so each choice shows.
  auto async_round = round(10, 9, 0.01, 0.2);
  async_round.asynchronous = true;
  const double gamma = 0.9;
  ASSERT_NE(best_stride(gamma, 0.01, 0.2, Overlap::pipelined, 16), best_stride(gamma, 0.01, 0.2, true, 16));
  ASSERT_NE(best_stride(gamma, 0.01, 0.2, Overlap::pipelined, 16), best_stride(gamma, 0.01, 0.2, false, 16));

  Os3Scheduler automatic(settings(1.0));
  auto st = automatic.begin();
  automatic.observe(*st, async_round);
  EXPECT_EQ(automatic.next_stride(*st), best_stride(gamma, 0.01, 0.2, Overlap::pipelined, 16));
  auto sync_round = async_round;
  sync_round.asynchronous = false;
  automatic.observe(*st, sync_round);
  EXPECT_EQ(automatic.next_stride(*st), best_stride(gamma, 0.01, 0.2, Overlap::none, 16));

  for (const auto& [objective, overlap] : {std::pair{Os3Settings::Objective::Sync, Overlap::none},
                                           {Os3Settings::Objective::Async, Overlap::one_step},
                                           {Os3Settings::Objective::Pipelined, Overlap::pipelined}}) {
    Os3Settings forced = settings(1.0);
    forced.objective = objective;
    Os3Scheduler scheduler(forced);
    auto state = scheduler.begin();
    scheduler.observe(*state, async_round);
    EXPECT_EQ(scheduler.next_stride(*state), best_stride(gamma, 0.01, 0.2, overlap, 16));
  }
}

TEST(Os3Objective, PipelinedRoundsCostTheLongerOfTheStepsAndTheSearch) {
  // All right: max(s·a, b); a mismatch: s·a + max(a, b), the steps that ran
  // while the search was out (one at least) being thrown away.
  const double g = 0.8, a = 0.01, b = 0.1;
  for (int s = 1; s <= 16; ++s) {
    const double right = std::pow(g, s);
    EXPECT_NEAR(round_seconds(g, a, b, s, Overlap::pipelined),
                right * std::max(s * a, b) + (1 - right) * (s * a + b), 1e-15);
    // A search shorter than a step still overlaps one whole step.
    EXPECT_NEAR(round_seconds(g, a, 0.2 * a, s, Overlap::pipelined),
                right * s * a + (1 - right) * (s * a + a), 1e-15);
    EXPECT_NEAR(pipelined_objective(g, a, b, s),
                expected_kept_steps(g, s) / round_seconds(g, a, b, s, Overlap::pipelined), 1e-12);
  }
  // With a search ten steps long, the best pipelined round is ten steps (the
  // search costs no more than that) and it beats any one-step overlap.
  const int p = best_stride(0.95, a, b, Overlap::pipelined, 32);
  EXPECT_EQ(p, 10);
  EXPECT_GT(pipelined_objective(0.95, a, b, p),
            async_objective(0.95, a, b, best_stride(0.95, a, b, Overlap::one_step, 32)));
}

TEST(Os3Scheduler, EachRequestHasItsOwnState) {
  Os3Scheduler scheduler(settings(1.0));
  auto a = scheduler.begin();
  auto b = scheduler.begin();
  scheduler.observe(*a, round(8, 8, 0.01, 1.0));
  EXPECT_EQ(scheduler.next_stride(*b), 1);
  EXPECT_GT(scheduler.next_stride(*a), 1);
}

ralm::RoundObservation real_round(double step, double retrieve, int stride = 0, int accepted = 0) {
  ralm::RoundObservation r;
  r.real = true;
  r.stride = stride;
  r.accepted = accepted;
  r.step_seconds = step;
  r.retrieve_seconds = retrieve;
  return r;
}

TEST(Os3Objective, CostPerKeptStepCountsTheRedoneStep) {
  // s = 3, gamma = 0.5: kept 1.75 steps; a round costs 3a + b, and a mismatch
  // (probability 0.875) costs one more step.
  EXPECT_NEAR(seconds_per_kept_step(0.5, 0.01, 0.1, 3, false), (0.03 + 0.1 + 0.875 * 0.01) / 1.75, 1e-15);
  EXPECT_NEAR(round_seconds(0.5, 0.01, 0.1, 3, true), 0.125 * (0.02 + 0.1) + 0.875 * 0.13, 1e-15);
}

TEST(Os3Scheduler, FallsBackToRealRetrievalWhenSearchIsCheap) {
  Os3Scheduler scheduler(settings(1.0));
  auto state = scheduler.begin();
  // BM25-like: a search costs 0.1 ms, a step 20 ms; the cache is right 3 times in 4.
  scheduler.observe(*state, real_round(0.02, 0.0001));
  for (int i = 0; i < 4; ++i)
    scheduler.observe(*state, real_round(0.02, 0.0001, 1, i < 3 ? 1 : 0));
  EXPECT_EQ(scheduler.next_stride(*state), 0);
  EXPECT_DOUBLE_EQ(scheduler.estimate_gamma(static_cast<const Os3State&>(*state)), 0.75);

  Os3Settings paper = settings(1.0);
  paper.fallback = false;
  Os3Scheduler never(paper);
  auto never_state = never.begin();
  never.observe(*never_state, real_round(0.02, 0.0001, 1, 1));
  EXPECT_GE(never.next_stride(*never_state), 1);
}

TEST(Os3Scheduler, SpeculatesWhenSearchIsDear) {
  Os3Scheduler scheduler(settings(1.0));
  auto state = scheduler.begin();
  // Exact dense over millions of vectors: a search costs 125 ms, a step 20 ms.
  for (int i = 0; i < 4; ++i)
    scheduler.observe(*state, real_round(0.02, 0.125, 1, i < 3 ? 1 : 0));
  const auto& st = static_cast<const Os3State&>(*state);
  EXPECT_DOUBLE_EQ(scheduler.estimate_retrieve_seconds(st), 0.125);
  EXPECT_DOUBLE_EQ(scheduler.estimate_verify_seconds(st), 0.125);  // no round verified yet: r
  // Speculation pays, but how a batch grows with its size is unknown: a
  // round of 2 measures it before the objective's longer stride is risked.
  ASSERT_GT(best_stride(0.75, 0.02, 0.125, false, 16), 2);
  EXPECT_EQ(scheduler.next_stride(*state), 2);
  scheduler.observe(*state, round(2, 2, 0.02, 0.125));  // a batch of 2 costs one search
  EXPECT_EQ(scheduler.next_stride(*state), best_stride(scheduler.estimate_gamma(st), 0.02, 0.125, false, 16));
  EXPECT_GT(scheduler.next_stride(*state), 2);
}

TEST(Os3Scheduler, RealRetrievalsWithoutACheckAreNoTrialsOfGamma) {
  Os3Scheduler scheduler(settings(1.0));
  auto state = scheduler.begin();
  scheduler.observe(*state, round(4, 2, 0.01, 0.3));
  for (int i = 0; i < 10; ++i)
    scheduler.observe(*state, real_round(0.01, 0.1));  // stride 0: nothing tried
  EXPECT_DOUBLE_EQ(scheduler.estimate_gamma(static_cast<const Os3State&>(*state)), 2.0 / 3.0);
  // ... but they do give the search latency; the last round's b is
  // remembered for verify_memory (8) rounds, then r stands in for it.
  EXPECT_DOUBLE_EQ(scheduler.estimate_retrieve_seconds(static_cast<const Os3State&>(*state)), 0.1);
  EXPECT_DOUBLE_EQ(scheduler.estimate_verify_seconds(static_cast<const Os3State&>(*state)), 0.1);
  Os3Scheduler remembers(settings(1.0));
  auto recent = remembers.begin();
  remembers.observe(*recent, round(4, 2, 0.01, 0.3));
  for (int i = 0; i < 7; ++i)
    remembers.observe(*recent, real_round(0.01, 0.1));
  EXPECT_DOUBLE_EQ(remembers.estimate_verify_seconds(static_cast<const Os3State&>(*recent)), 0.3);
}

TEST(Os3Scheduler, OneSlowVerificationDoesNotStopSpeculationForGood) {
  // Exact dense over 2M vectors: a step costs 5 ms, a search 60 ms, and the
  // cache is right 4 times in 5; one batch took 800 ms (a neighbour's load).
  Os3Scheduler scheduler(settings(0.6));
  auto state = scheduler.begin();
  for (int i = 0; i < 5; ++i)
    scheduler.observe(*state, real_round(0.005, 0.06, 1, i % 5 ? 1 : 0));
  scheduler.observe(*state, round(4, 3, 0.005, 0.8));
  EXPECT_EQ(scheduler.next_stride(*state), 0);  // speculation looks dear: retrieve for real
  int real = 0;
  while (scheduler.next_stride(*state) == 0 && real < 100) {
    scheduler.observe(*state, real_round(0.005, 0.06, 1, real % 5 ? 1 : 0));
    ++real;
  }
  EXPECT_GE(scheduler.next_stride(*state), 2);  // b forgotten: speculating again
  EXPECT_LE(real, 8);
}

// kNN-LM over an IVF datastore: a batch costs about what its keys cost one
// by one, so every round loses. Each retry after a fallback is a round of 2,
// and each lost round in a row doubles how long OS3 waits before the next
// (8, 16, then 32 real searches); a round that pays brings it back to 8.
TEST(Os3Scheduler, RetriesAfterLostRoundsAreShortAndFurtherApart) {
  Os3Scheduler scheduler(settings(1.0));
  auto state = scheduler.begin();
  const double a = 0.0005, r = 0.0023;
  for (int i = 0; i < 5; ++i)
    scheduler.observe(*state, real_round(a, r));
  scheduler.observe(*state, round(5, 2, a, 0.010));  // kept 3 steps; their searches: 6.9 ms
  // Real searches until OS3 speculates again; the stride it then chooses.
  auto wait_for_retry = [&](int& gap) {
    gap = 0;
    std::int32_t stride = 0;
    while ((stride = scheduler.next_stride(*state)) == 0 && gap < 100) {
      scheduler.observe(*state, real_round(a, r));
      ++gap;
    }
    return stride;
  };
  int gap = 0;
  EXPECT_EQ(wait_for_retry(gap), 2);
  EXPECT_LE(gap, 8);
  scheduler.observe(*state, round(2, 2, a, 0.005));  // 5 ms for two searches' worth: lost
  EXPECT_EQ(wait_for_retry(gap), 2);
  EXPECT_GT(gap, 8);
  EXPECT_LE(gap, 16);
  scheduler.observe(*state, round(2, 2, a, 0.005));
  EXPECT_EQ(wait_for_retry(gap), 2);
  EXPECT_GT(gap, 16);
  EXPECT_LE(gap, 32);
  scheduler.observe(*state, round(2, 2, a, 0.003));  // paid: 3 ms for 4.6 ms of searches
  // A round that paid is remembered for verify_memory rounds again; here the
  // paying batch keeps OS3 speculating, and it is no longer capped at 2.
  int real = 0;
  while (scheduler.next_stride(*state) == 0 && real < 100) {
    scheduler.observe(*state, real_round(a, r));
    ++real;
  }
  EXPECT_LE(real, 8);
}

TEST(Os3Scheduler, ARequestStartsFromTheRunsLatestObservations) {
  Os3Scheduler shared(settings(1.0));
  auto first = shared.begin();
  shared.observe(*first, round(8, 8, 0.005, 0.1));
  auto second = shared.begin();  // begun after the first request's round
  EXPECT_EQ(shared.next_stride(*second), shared.next_stride(*first));
  EXPECT_GT(shared.next_stride(*second), 1);
  // The second request's own rounds are its, and the run's.
  shared.observe(*second, round(8, 0, 0.005, 0.1));
  EXPECT_EQ(static_cast<const Os3State&>(*first).rounds.size(), 1u);
  EXPECT_EQ(static_cast<const Os3State&>(*shared.begin()).rounds.size(), 2u);

  Os3Settings alone = settings(1.0);
  alone.share_estimates = false;
  Os3Scheduler own(alone);
  auto a = own.begin();
  own.observe(*a, round(8, 8, 0.005, 0.1));
  EXPECT_EQ(own.next_stride(*own.begin()), alone.initial_stride);
}

TEST(Os3Scheduler, FallbackJudgesTheHitRateOverTheWholeHistory) {
  Os3Scheduler scheduler(settings(0.6));
  auto state = scheduler.begin();
  // 9 of 10 right, then 5 right in a row: the gamma window (5 rounds) says 1,
  // the hit rate over everything remembered (14 + 1) / (15 + 1).
  for (int i = 0; i < 10; ++i)
    scheduler.observe(*state, real_round(0.01, 0.0001, 1, i == 3 ? 0 : 1));
  for (int i = 0; i < 5; ++i)
    scheduler.observe(*state, real_round(0.01, 0.0001, 1, 1));
  const auto& st = static_cast<const Os3State&>(*state);
  EXPECT_DOUBLE_EQ(scheduler.estimate_gamma(st), 0.6);  // 1, capped
  EXPECT_DOUBLE_EQ(scheduler.estimate_hit_rate(st), 15.0 / 16.0);
  // BM25-like (a search 0.1 ms, a step 10 ms): one wrong guess in ten costs
  // more than a search, so OS3 keeps retrieving for real.
  EXPECT_EQ(scheduler.next_stride(*state), 0);
}

TEST(Os3Scheduler, APoorFirstRoundDoesNotStopSpeculationWhereSearchIsDear) {
  // Exact dense over 2M vectors (a trace): a step 3 ms, a search 64 ms, and
  // the run's first round (from a cache of one search's passages) 1 right in
  // 2, its batch of 5 taking 90 ms. At the cautious rate (0.5) speculation
  // costs 55 ms a kept step against 67 for a real one: keep speculating.
  Os3Scheduler scheduler(settings(1.0));
  auto state = scheduler.begin();
  scheduler.observe(*state, real_round(0.003, 0.064));
  auto first = round(5, 1, 0.003, 0.090);
  first.asynchronous = true;
  scheduler.observe(*state, first);
  EXPECT_DOUBLE_EQ(scheduler.estimate_cautious_hit_rate(static_cast<const Os3State&>(*state)), 0.5);
  EXPECT_GE(scheduler.next_stride(*state), 2);
}

TEST(Os3Scheduler, BeforeAnyTrialASearchATenthOfAStepIsDoneForReal) {
  // IVF over the default corpus: a search 0.8 ms, a step 8 ms, no trial yet.
  // At the optimistic rate (1) speculation would save 9%; at the cautious
  // one (0.5) it would lose far more than 5%: retrieve for real (and learn).
  Os3Scheduler scheduler(settings(1.0));
  auto state = scheduler.begin();
  scheduler.observe(*state, real_round(0.008, 0.0008));
  EXPECT_EQ(scheduler.next_stride(*state), 0);
  // Dense-like, same step: a search 80 ms is worth guessing at even odds.
  Os3Scheduler dear(settings(1.0));
  auto dear_state = dear.begin();
  dear.observe(*dear_state, real_round(0.008, 0.08));
  EXPECT_GE(dear.next_stride(*dear_state), 1);
}

TEST(Os3Scheduler, LatenciesAreMediansSoOneOutlierDoesNotCount) {
  Os3Settings s = settings();
  s.latency_window = 3;
  Os3Scheduler scheduler(s);
  auto state = scheduler.begin();
  scheduler.observe(*state, round(2, 2, 0.005, 0.1));
  scheduler.observe(*state, round(2, 2, 0.050, 0.9));
  scheduler.observe(*state, round(2, 2, 0.006, 0.12));
  const auto& st = static_cast<const Os3State&>(*state);
  EXPECT_DOUBLE_EQ(scheduler.estimate_step_seconds(st), 0.006);
  EXPECT_DOUBLE_EQ(scheduler.estimate_verify_seconds(st), 0.12);
}

TEST(Os3Scheduler, VerificationCostIsALineInTheBatchSize) {
  Os3Settings fitted = settings(1.0);
  fitted.batch_cost = true;
  Os3Scheduler scheduler(fitted);
  auto state = scheduler.begin();
  // One search costs 0.10 s, a batch of 2 0.12 s, a batch of 4 0.16 s.
  scheduler.observe(*state, real_round(0.01, 0.10, 1, 1));
  scheduler.observe(*state, round(2, 2, 0.01, 0.12));
  scheduler.observe(*state, round(4, 3, 0.01, 0.16));
  const auto& st = static_cast<const Os3State&>(*state);
  const VerifyCost cost = scheduler.estimate_verify_cost(st);
  EXPECT_NEAR(cost.per_query, 0.02, 1e-12);
  EXPECT_NEAR(cost.fixed, 0.08, 1e-12);
  const double gamma = scheduler.estimate_gamma(st);
  EXPECT_EQ(scheduler.next_stride(*state),
            best_stride(
                gamma, 0.01, [&](std::int32_t s) { return cost.at(s); }, Overlap::none, 16));
  // The paper's single b (the last round's) would choose a longer stride.
  Os3Settings paper = settings(1.0);
  paper.batch_cost = false;
  Os3Scheduler constant(paper);
  auto st2 = constant.begin();
  for (const auto& r : st.rounds)
    constant.observe(*st2, r);
  EXPECT_EQ(constant.next_stride(*st2), best_stride(gamma, 0.01, 0.16, false, 16));
  EXPECT_GT(constant.next_stride(*st2), scheduler.next_stride(*state));
}

TEST(FixedScheduler, AlwaysItsStride) {
  FixedScheduler fixed(6);
  auto state = fixed.begin();
  EXPECT_EQ(fixed.next_stride(*state), 6);
  fixed.observe(*state, round(6, 0));
  EXPECT_EQ(fixed.next_stride(*state), 6);
}

}  // namespace

namespace {

// Real searches of 2.4 ms and a step of 0.5 ms, the cache right 9 times in
// 10, then rounds of 2 whose verification costs `per_batch` seconds.
std::int32_t stride_after(double per_batch) {
  Os3Scheduler scheduler(settings(1.0));
  auto state = scheduler.begin();
  for (int i = 0; i < 10; ++i) {
    ralm::RoundObservation r;
    r.real = true;
    r.stride = 1;
    r.accepted = i % 10 ? 1 : 0;
    r.step_seconds = 0.0005;
    r.retrieve_seconds = 0.0024;
    scheduler.observe(*state, r);
  }
  for (int i = 0; i < 3; ++i)
    scheduler.observe(*state, round(2, 2, 0.0005, per_batch));
  return scheduler.next_stride(*state);
}

}  // namespace

// Whether to speculate is judged with the batch's cost growing with its size
// as measured: where 2 queries cost 2 searches (an IVF datastore's keys probe
// different lists) the long rounds OS3 would choose cannot pay, and it falls
// back; where they cost about one (an exact scan over memory) it speculates.
TEST(Os3Scheduler, FallsBackWhenABatchCostsWhatItsQueriesCostOneByOne) {
  EXPECT_EQ(stride_after(2 * 0.0024), 0);
  EXPECT_GT(stride_after(1.05 * 0.0024), 1);
}
