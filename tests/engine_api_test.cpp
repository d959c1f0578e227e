// The engine as a library (ralm/core/engine/engine.hpp): requests submitted
// from several threads at once each get the output RequestLoop gives them
// alone, stream exactly their final tokens, and can be cancelled; an engine
// going away ends what it had queued.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "append_policy.hpp"
#include "engine_fixture.hpp"
#include "fixed_scheduler.hpp"
#include "none_policy.hpp"
#include "prepend_policy.hpp"
#include "ralm/core/engine/engine.hpp"
#include "ralm/error.hpp"
#include "synthetic_corpus.hpp"

namespace {

using namespace ralm;
using test::Fixture;
using test::settings;

const std::vector<std::string> kPrompts = {
    "Compilers translate a programming language into machine code",
    "the kernel schedules each thread and process",
    "a router forwards every network packet",
    "garbage collection reclaims memory that is no longer used",
    "search the index with a query string",
    "lisp lists and fortran arrays",
};

struct Case {
  std::string name;
  std::shared_ptr<ContextPolicy> policy;
  bool speculate = false;
  bool sampled = false;
};

std::vector<Case> cases() {
  return {
      {"none", std::make_shared<policies::NonePolicy>()},
      {"prepend", std::make_shared<policies::PrependPolicy>(1, false)},
      {"append", std::make_shared<policies::AppendPolicy>(std::nullopt)},
      {"prepend, speculative", std::make_shared<policies::PrependPolicy>(1, false), true},
      {"append, speculative, sampled", std::make_shared<policies::AppendPolicy>(std::nullopt), true, true},
      {"prepend, sampled", std::make_shared<policies::PrependPolicy>(1, false), false, true},
  };
}

core::EngineSettings case_settings(const Case& c) {
  core::EngineSettings s = settings(2, 12);
  if (c.sampled) {
    s.sampling.temperature = 0.9;
    s.sampling.seed = 5;
  }
  s.speculation.async_verification = c.speculate;
  return s;
}

core::BuiltPipeline case_pipeline(const Fixture& f, const Case& c) {
  core::BuiltPipeline p = f.pipeline(c.policy, /*checked=*/false);
  if (c.speculate) p.scheduler = std::make_shared<schedulers::FixedScheduler>(3);
  return p;
}

TEST(EngineApi, ConcurrentSubmissionsEachGetTheirSoloOutputAndStreamIt) {
  const test::TempDir corpus_dir;
  Fixture f(test::write_synthetic_corpus(corpus_dir));
  for (const Case& c : cases()) {
    const core::BuiltPipeline pipeline = case_pipeline(f, c);
    const core::EngineSettings s = case_settings(c);
    std::vector<core::RequestResult> solo;
    std::int64_t rollbacks = 0;
    for (const std::string& prompt : kPrompts) {
      solo.push_back(core::RequestLoop(pipeline, s).run(prompt));
      rollbacks += solo.back().speculation.rollbacks;
    }
    // Speculation's rollbacks are where a stream could hand over a token it
    // later takes back: the speculative cases must have some.
    if (c.speculate) {
      EXPECT_GT(rollbacks, 0) << c.name;
    }

    core::Engine engine(pipeline, s);
    std::vector<std::shared_ptr<core::Engine::Request>> requests(kPrompts.size());
    std::vector<Tokens> streamed(kPrompts.size());
    std::mutex streamed_mutex;
    std::vector<std::thread> clients;
    for (std::size_t t = 0; t < 3; ++t) {
      clients.emplace_back([&, t] {
        for (std::size_t i = t; i < kPrompts.size(); i += 3) {
          requests[i] = engine.submit(kPrompts[i], [&, i](std::span<const TokenId> tokens) {
            std::lock_guard lock(streamed_mutex);
            streamed[i].insert(streamed[i].end(), tokens.begin(), tokens.end());
          });
        }
      });
    }
    for (auto& t : clients)
      t.join();
    for (std::size_t i = 0; i < kPrompts.size(); ++i) {
      const core::RequestResult r = requests[i]->wait();
      EXPECT_TRUE(requests[i]->finished());
      EXPECT_EQ(r.output, solo[i].output) << c.name << ", prompt " << i;
      EXPECT_EQ(r.text, solo[i].text) << c.name << ", prompt " << i;
      EXPECT_EQ(r.retrievals.size(), solo[i].retrievals.size()) << c.name << ", prompt " << i;
      EXPECT_FALSE(r.cancelled);
      std::lock_guard lock(streamed_mutex);
      EXPECT_EQ(streamed[i], r.output)
          << c.name << ", prompt " << i << ": the stream is the output, in order";
    }
  }
}

TEST(EngineApi, ACancelledRequestStopsEarlyWithTheTokensThatWereFinal) {
  Fixture f;
  for (const Case& c : {cases()[1], cases()[3]}) {
    const core::BuiltPipeline pipeline = case_pipeline(f, c);
    core::EngineSettings s = case_settings(c);
    s.max_new_tokens = 40;
    const core::RequestResult whole = core::RequestLoop(pipeline, s).run(kPrompts[0]);
    ASSERT_GE(whole.output.size(), 20u) << c.name << ": the fixture model ends this prompt early";

    // The engine's thread waits inside the callback until the request is
    // cancelled, so the cancellation lands at a known point.
    core::Engine engine(pipeline, s);
    Tokens streamed;
    std::promise<void> first_tokens, cancelled;
    std::shared_future<void> cancelled_future = cancelled.get_future().share();
    bool signalled = false;
    auto request = engine.submit(kPrompts[0], [&](std::span<const TokenId> tokens) {
      streamed.insert(streamed.end(), tokens.begin(), tokens.end());
      if (!signalled && streamed.size() >= 3) {
        signalled = true;
        first_tokens.set_value();
        cancelled_future.wait();
      }
    });
    first_tokens.get_future().wait();
    request->cancel();
    cancelled.set_value();
    const core::RequestResult r = request->wait();
    EXPECT_TRUE(r.cancelled) << c.name;
    EXPECT_LT(r.output.size(), whole.output.size()) << c.name;
    EXPECT_GE(r.output.size(), 3u) << c.name;
    EXPECT_EQ(streamed, r.output) << c.name;
    EXPECT_TRUE(std::equal(r.output.begin(), r.output.end(), whole.output.begin())) << c.name << ": a prefix";
  }
}

TEST(EngineApi, QueuedRequestsEndCancelledWhenCancelledOrWhenTheEngineGoes) {
  Fixture f;
  const Case c = cases()[1];
  const core::BuiltPipeline pipeline = case_pipeline(f, c);
  std::vector<std::shared_ptr<core::Engine::Request>> requests;
  {
    core::Engine engine(pipeline, case_settings(c));
    for (const std::string& prompt : kPrompts)
      requests.push_back(engine.submit(prompt));
    requests.back()->cancel();  // still queued behind the others
    const core::RequestResult last = requests.back()->wait();
    EXPECT_TRUE(last.cancelled);
    EXPECT_TRUE(last.output.empty());
  }
  // Every request ended: finished normally before the engine went, or
  // cancelled by its going.
  for (const auto& r : requests) {
    ASSERT_TRUE(r->finished());
    const core::RequestResult result = r->wait();
    EXPECT_TRUE(result.cancelled || !result.output.empty());
  }
}

TEST(EngineApi, ARequestMayAskForItsOwnLengthAndSampling) {
  Fixture f;
  const Case c = cases()[1];
  const core::BuiltPipeline pipeline = case_pipeline(f, c);
  core::EngineSettings own = case_settings(c);
  own.max_new_tokens = 5;
  own.sampling.temperature = 0.7;
  own.sampling.top_p = 0.9;
  own.sampling.seed = 11;
  const core::RequestResult solo = core::RequestLoop(pipeline, own).run(kPrompts[2]);

  core::Engine engine(pipeline, case_settings(c));
  const auto asked = engine.submit(kPrompts[2], {}, {.max_new_tokens = 5, .sampling = own.sampling})->wait();
  EXPECT_EQ(asked.output, solo.output);
  EXPECT_LE(asked.output.size(), 5u);
  // The engine's own settings are untouched for the next request.
  EXPECT_EQ(engine.submit(kPrompts[2])->wait().output,
            core::RequestLoop(pipeline, case_settings(c)).run(kPrompts[2]).output);
  core::SamplingSettings bad;
  bad.top_p = 0;
  EXPECT_THROW(engine.submit(kPrompts[2], {}, {.sampling = bad})->wait(), InputError);
  EXPECT_THROW(engine.submit(kPrompts[2], {}, {.max_new_tokens = 0})->wait(), InputError);
}

TEST(EngineApi, AFailedRequestRethrowsAndTheNextOneRuns) {
  Fixture f;
  const Case c = cases()[1];
  const core::BuiltPipeline pipeline = case_pipeline(f, c);
  core::Engine engine(pipeline, case_settings(c));
  auto bad = engine.submit("");  // an empty prompt: InputError
  auto good = engine.submit(kPrompts[0]);
  EXPECT_THROW(bad->wait(), InputError);
  EXPECT_EQ(good->wait().output, core::RequestLoop(pipeline, case_settings(c)).run(kPrompts[0]).output);
}

}  // namespace
