// The engine as a library (ralm/core/engine/engine.hpp): requests submitted
// from several threads at once each get the output RequestLoop gives them
// alone, stream exactly their final tokens, and can be cancelled; an engine
// going away ends what it had queued.
#include <gtest/gtest.h>

#include <condition_variable>
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

const std::vector<std::string>& kPrompts = test::topic_prompts();

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

// Requests one at a time, and stepped together by the continuous batcher
// with prompts cut into small chunks (so prefills join running decodes).
struct Batching {
  std::string name;
  std::int32_t max_batch;
  std::int32_t prefill_chunk;
};
const std::vector<Batching> kBatchings = {{"one at a time", 1, 256}, {"batched", 6, 5}};

core::EngineSettings case_settings(const Case& c, const Batching& b = kBatchings[0]) {
  core::EngineSettings s = settings(2, 12);
  s.max_batch = b.max_batch;
  s.prefill_chunk = b.prefill_chunk;
  if (c.sampled) {
    s.sampling.temperature = 0.9;
    s.sampling.seed = 5;
  }
  s.speculation.async_verification = c.speculate;
  return s;
}

std::vector<std::pair<Batching, Case>> all_cases() {
  std::vector<std::pair<Batching, Case>> all;
  for (const Batching& b : kBatchings) {
    for (Case c : cases()) {
      c.name += ", " + b.name;
      all.emplace_back(b, c);
    }
  }
  return all;
}

core::BuiltPipeline case_pipeline(const Fixture& f, const Case& c) {
  core::BuiltPipeline p = f.pipeline(c.policy, /*checked=*/false);
  if (c.speculate) p.scheduler = std::make_shared<schedulers::FixedScheduler>(3);
  return p;
}

TEST(EngineApi, ConcurrentSubmissionsEachGetTheirSoloOutputAndStreamIt) {
  const test::TempDir corpus_dir;
  Fixture f(test::write_synthetic_corpus(corpus_dir));
  for (const auto& [b, c] : all_cases()) {
    const core::BuiltPipeline pipeline = case_pipeline(f, c);
    const core::EngineSettings s = case_settings(c, b);
    std::vector<core::RequestResult> solo;
    std::int64_t rollbacks = 0;
    for (const std::string& prompt : kPrompts) {
      solo.push_back(core::RequestLoop(pipeline, case_settings(c)).run(prompt));
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
  for (const auto& [b, c] : all_cases()) {
    if (c.name.find("prepend") != 0 || c.sampled) continue;
    const core::BuiltPipeline pipeline = case_pipeline(f, c);
    core::EngineSettings s = case_settings(c, b);
    s.max_new_tokens = 40;
    core::EngineSettings alone = s;
    alone.max_batch = 1;
    const core::RequestResult whole = core::RequestLoop(pipeline, alone).run(kPrompts[0]);
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
  for (const Batching& b : {kBatchings[0], Batching{"two at once", 2, 5}}) {
    std::vector<std::shared_ptr<core::Engine::Request>> requests;
    {
      core::Engine engine(pipeline, case_settings(c, b));
      for (const std::string& prompt : kPrompts)
        requests.push_back(engine.submit(prompt));
      requests.back()->cancel();  // still queued behind the others
      const core::RequestResult last = requests.back()->wait();
      EXPECT_TRUE(last.cancelled) << b.name;
      EXPECT_TRUE(last.output.empty()) << b.name;
    }
    // Every request ended: finished normally before the engine went, or
    // cancelled by its going.
    for (const auto& r : requests) {
      ASSERT_TRUE(r->finished()) << b.name;
      const core::RequestResult result = r->wait();
      EXPECT_TRUE(result.cancelled || !result.output.empty()) << b.name;
    }
  }
}

// Forwards to a model, holding every caller of new_sequence() until `n` have
// called it: requests that start a sequence then all reach the batcher
// together, so their first steps are shared whatever the thread timing.
class GatheringModel final : public Model {
 public:
  GatheringModel(std::shared_ptr<Model> inner, int n) : inner_(std::move(inner)), n_(n) {}
  const Tokenizer& tokenizer() const override { return inner_->tokenizer(); }
  ModelInfo info() const override { return inner_->info(); }
  std::unique_ptr<Sequence> new_sequence() override {
    std::unique_lock lock(mutex_);
    if (++arrived_ >= n_) all_.notify_all();
    all_.wait_for(lock, std::chrono::seconds(10), [this] { return arrived_ >= n_; });
    return inner_->new_sequence();
  }
  EvalResult eval(Sequence& seq, std::span<const TokenId> tokens, const EvalOptions& options) override {
    return inner_->eval(seq, tokens, options);
  }
  std::vector<EvalResult> eval_batch(std::span<Sequence* const> seqs,
                                     std::span<const std::span<const TokenId>> tokens,
                                     const EvalOptions& options) override {
    return inner_->eval_batch(seqs, tokens, options);
  }

 private:
  std::shared_ptr<Model> inner_;
  int n_;
  int arrived_ = 0;
  std::mutex mutex_;
  std::condition_variable all_;
};

TEST(EngineApi, BatchedRequestsShareModelStepsAndSearches) {
  Fixture f;
  const Case c = cases()[1];  // prepend: a search every 2 tokens
  core::BuiltPipeline pipeline = case_pipeline(f, c);
  pipeline.model = std::make_shared<GatheringModel>(pipeline.model, static_cast<int>(kPrompts.size()));
  core::Engine engine(pipeline, case_settings(c, kBatchings[1]));
  std::vector<std::shared_ptr<core::Engine::Request>> requests;
  for (const std::string& prompt : kPrompts)
    requests.push_back(engine.submit(prompt));
  std::int64_t tokens = 0;
  for (const auto& r : requests)
    tokens += static_cast<std::int64_t>(r->wait().output.size());
  const core::EngineStats stats = engine.stats();
  EXPECT_EQ(stats.finished, static_cast<std::int64_t>(kPrompts.size()));
  EXPECT_EQ(stats.generated_tokens, tokens);
  EXPECT_GT(stats.largest_batch, 1) << "the requests never shared a model step";
  EXPECT_GT(stats.stepped_sequences, stats.steps);
  EXPECT_GT(stats.searched_queries, stats.searches) << "the requests never shared a search";
  EXPECT_GT(stats.prefill_tokens, 0);
  EXPECT_GT(stats.decode_tokens, 0);
  EXPECT_EQ(stats.running, 0);
  EXPECT_EQ(stats.queued, 0);
}

TEST(EngineApi, SubmittingPastAFullQueueThrowsQueueFull) {
  Fixture f;
  const Case c = cases()[1];
  const core::BuiltPipeline pipeline = case_pipeline(f, c);
  core::EngineSettings s = case_settings(c);
  s.max_queue = 1;
  core::Engine engine(pipeline, s);
  // The first request holds the engine's only worker inside its callback
  // while the second waits in the queue.
  std::promise<void> running, release;
  std::shared_future<void> released = release.get_future().share();
  bool signalled = false;
  auto first = engine.submit(kPrompts[0], [&](std::span<const TokenId>) {
    if (!signalled) {
      signalled = true;
      running.set_value();
      released.wait();
    }
  });
  running.get_future().wait();
  auto second = engine.submit(kPrompts[1]);
  EXPECT_THROW(engine.submit(kPrompts[2]), core::QueueFull);
  EXPECT_EQ(engine.stats().rejected, 1);
  EXPECT_EQ(engine.stats().queued, 1);
  release.set_value();
  EXPECT_FALSE(first->wait().output.empty());
  EXPECT_FALSE(second->wait().output.empty());
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

TEST(EngineApi, AFailedRequestRethrowsAndTheOthersRun) {
  Fixture f;
  const Case c = cases()[1];
  const core::BuiltPipeline pipeline = case_pipeline(f, c);
  const Tokens want = core::RequestLoop(pipeline, case_settings(c)).run(kPrompts[0]).output;
  for (const Batching& b : kBatchings) {
    core::Engine engine(pipeline, case_settings(c, b));
    auto bad = engine.submit("");  // an empty prompt: InputError
    auto good = engine.submit(kPrompts[0]);
    EXPECT_THROW(bad->wait(), InputError) << b.name;
    EXPECT_EQ(good->wait().output, want) << b.name;
    EXPECT_EQ(engine.stats().failed, 1) << b.name;
  }
}

}  // namespace
