// Speculative kNN-LM in the request loop: each position's neighbours guessed
// from a cache of datastore successors, verified by one batched search per
// round, rolled back at the first position whose true neighbours give another
// token. The property that matters: every output equals non-speculative
// kNN-LM's, token for token, with exact and approximate datastores, every
// scheduler, synchronous and asynchronous verification, greedy and sampled.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "datastore_files.hpp"
#include "engine_fixture.hpp"
#include "fixed_scheduler.hpp"
#include "knnlm_policy.hpp"
#include "os3_scheduler.hpp"
#include "ralm/core/engine/engine.hpp"
#include "ralm/core/engine/perplexity.hpp"
#include "ralm/error.hpp"
#include "scripted_scheduler.hpp"

namespace {

using namespace ralm;
using test::Fixture;

// Forwards to the knnlm policy and records how its search was called.
class CountingKnnLm final : public ContextPolicy, public NeighbourSearch {
 public:
  explicit CountingKnnLm(std::shared_ptr<dense::KnnLmPolicy> inner) : inner_(std::move(inner)) {}

  bool uses_passages() const override { return false; }
  std::unique_ptr<PolicyState> begin(const Tokens& input) override { return inner_->begin(input); }
  Layout on_retrieval(PolicyState& s, const Tokens& input, const Tokens& generated,
                      std::span<const RetrievedPassage> passages) override {
    return inner_->on_retrieval(s, input, generated, passages);
  }
  bool adjusts_logits() const override { return true; }
  void adjust_logits(PolicyState& s, std::span<float> logits, std::span<const float> key) override {
    ++single_lookups;
    inner_->adjust_logits(s, logits, key);
  }
  const NeighbourSearch* neighbour_search() const override { return expose ? this : nullptr; }

  std::vector<std::vector<Hit>> search(std::span<const float> keys, std::int64_t k) const override {
    {
      std::lock_guard lock(mutex_);
      batches.push_back(keys.size() / static_cast<std::size_t>(key_dim()));
      threads.push_back(std::this_thread::get_id());
    }
    return inner_->search(keys, k);
  }
  std::int64_t key_dim() const override { return inner_->key_dim(); }
  std::int64_t top_k() const override { return inner_->top_k(); }
  std::vector<float> score(std::span<const float> key, std::span<const PassageId> ids) const override {
    return inner_->score(key, ids);
  }
  std::vector<PassageId> successors(PassageId id, std::int32_t n) const override {
    return inner_->successors(id, n);
  }
  void adjust_with(std::span<float> logits, std::span<const Hit> neighbours) const override {
    inner_->adjust_with(logits, neighbours);
  }

  mutable std::vector<std::size_t> batches;
  mutable std::vector<std::thread::id> threads;
  int single_lookups = 0;
  bool expose = true;  // false: the engine sees a policy it cannot batch or speculate

 private:
  std::shared_ptr<dense::KnnLmPolicy> inner_;
  mutable std::mutex mutex_;
};

// kNN-LM over a datastore the fixture's tiny model builds from the fixture
// corpus; λ high enough that the datastore steers generation into the
// corpus's text, where its successors predict the next neighbours.
std::shared_ptr<dense::KnnLmPolicy> knnlm(const Fixture& f, const std::string& index,
                                          double temperature = 1.0) {
  dense::DatastoreSpec spec;
  spec.model = f.unchecked;
  spec.index = index;
  spec.dir = f.corpus.dir.path() / ("knnlm-" + index);
  if (!dense::datastore_exists(spec)) dense::build_datastore(*f.corpus.store, spec, false);
  dense::Datastore ds = dense::open_datastore(*f.corpus.store, spec);
  // One list in four: approximate neighbours differ from exact ones, so
  // speculation must agree with the approximate search, not the truth.
  if (ds.faiss) ds.faiss->set_search_parameters(/*nprobe=*/1, /*efSearch=*/0);
  dense::KnnLmOptions o;
  o.k = 8;
  o.lambda = 0.7;
  o.temperature = temperature;
  return std::make_shared<dense::KnnLmPolicy>(f.corpus.store, std::move(ds), o);
}

const std::vector<std::string> kPrompts = {
    "Lisp is a functional", "A compiler translates", "Garbage collection reclaims",
    "the cache keeps",      "Fortran optimise",
};

std::vector<std::pair<std::string, std::shared_ptr<SpeculationScheduler>>> schedulers() {
  return {{"fixed1", std::make_shared<schedulers::FixedScheduler>(1)},
          {"fixed3", std::make_shared<schedulers::FixedScheduler>(3)},
          {"fixed8", std::make_shared<schedulers::FixedScheduler>(8)},
          {"os3", std::make_shared<schedulers::Os3Scheduler>(schedulers::Os3Settings{})},
          {"scripted",
           std::make_shared<test::ScriptedScheduler>(std::vector<std::int32_t>{2, 0, 3, 0, 0, 1, 4})}};
}

core::EngineSettings knn_settings(std::int32_t new_tokens) {
  core::EngineSettings s = test::settings(4, new_tokens);
  s.speculation.cache_capacity = 512;
  return s;
}

class KnnLmSpeculationEquivalence : public testing::TestWithParam<std::string> {};

TEST_P(KnnLmSpeculationEquivalence, OutputsEqualNonSpeculativeKnnLm) {
  Fixture f;
  const auto policy = knnlm(f, GetParam());
  core::BuiltPipeline built = f.pipeline(policy);
  const core::EngineSettings base_settings = knn_settings(24);
  std::vector<core::RequestResult> baseline;
  for (const auto& prompt : kPrompts)
    baseline.push_back(core::RequestLoop(built, base_settings).run(prompt));
  core::SpeculationStats total;
  for (const auto& [name, scheduler] : schedulers()) {
    for (const bool async : {false, true}) {
      core::BuiltPipeline spec = built;
      spec.scheduler = scheduler;
      core::EngineSettings s = base_settings;
      s.speculation.async_verification = async;
      core::RequestLoop loop(spec, s);
      for (std::size_t i = 0; i < kPrompts.size(); ++i) {
        const auto r = loop.run(kPrompts[i]);
        ASSERT_EQ(r.output, baseline[i].output)
            << GetParam() << " " << name << (async ? " async" : " sync") << " prompt " << i;
        total += r.speculation;
      }
    }
  }
  // Both paths ran many times: positions kept and positions rolled back.
  EXPECT_GT(total.accepted, 100);
  EXPECT_GT(total.rollbacks, 10);
  EXPECT_LT(total.accepted, total.speculated);
  // The cache the rollbacks rewound was reused exactly.
  EXPECT_GT(f.model->checked, 100);
  EXPECT_EQ(f.model->mismatches, 0);
}

INSTANTIATE_TEST_SUITE_P(Datastores, KnnLmSpeculationEquivalence, testing::Values("Flat", "IVF4,Flat"),
                         [](const testing::TestParamInfo<std::string>& param) {
                           return param.param == "Flat" ? std::string("exact") : std::string("approximate");
                         });

// Continuous batching: kNN-LM requests stepped together in an engine, with
// and without speculation, each give the output they give alone.
TEST(KnnLmSpeculation, RequestsBatchedInAnEngineEachGetTheirSoloOutput) {
  Fixture f;
  core::BuiltPipeline built = f.pipeline(knnlm(f, "Flat"));
  built.model = f.unchecked;
  const core::EngineSettings alone = knn_settings(24);
  std::vector<Tokens> want;
  for (const auto& prompt : kPrompts)
    want.push_back(core::RequestLoop(built, alone).run(prompt).output);
  for (const bool speculate : {false, true}) {
    core::BuiltPipeline pipeline = built;
    if (speculate) pipeline.scheduler = std::make_shared<schedulers::FixedScheduler>(3);
    core::EngineSettings s = alone;
    s.speculation.async_verification = speculate;
    s.max_batch = static_cast<std::int32_t>(kPrompts.size());
    s.prefill_chunk = 3;
    core::Engine engine(pipeline, s);
    std::vector<std::shared_ptr<core::Engine::Request>> requests;
    for (const auto& prompt : kPrompts)
      requests.push_back(engine.submit(prompt));
    for (std::size_t i = 0; i < kPrompts.size(); ++i)
      EXPECT_EQ(requests[i]->wait().output, want[i]) << (speculate ? "speculative, " : "") << "prompt " << i;
    EXPECT_GT(engine.stats().steps, 0) << "the requests did not go through the batcher";
  }
}

// Sampling: a rolled-back position draws its true token from the generator
// as it stood there, so sampled outputs are the baseline's too.
TEST(KnnLmSpeculation, SampledOutputsEqualTheBaseline) {
  Fixture f;
  core::BuiltPipeline built = f.pipeline(knnlm(f, "Flat"));
  core::EngineSettings s = knn_settings(24);
  s.sampling.temperature = 0.8;
  s.sampling.top_p = 0.95;
  s.sampling.seed = 11;
  core::SpeculationStats total;
  for (const bool async : {false, true}) {
    core::BuiltPipeline spec = built;
    spec.scheduler = std::make_shared<schedulers::FixedScheduler>(4);
    core::EngineSettings a = s;
    a.speculation.async_verification = async;
    for (const auto& prompt : kPrompts) {
      const auto want = core::RequestLoop(built, s).run(prompt);
      const auto got = core::RequestLoop(spec, a).run(prompt);
      ASSERT_EQ(got.output, want.output) << prompt << (async ? " async" : " sync");
      total += got.speculation;
    }
  }
  EXPECT_GT(total.rollbacks, 0);
  EXPECT_GT(total.accepted, 0);
}

TEST(KnnLmSpeculation, EachRoundIsOneBatchedSearchAndTheCacheServesTheRest) {
  Fixture f;
  auto counting = std::make_shared<CountingKnnLm>(knnlm(f, "Flat"));
  core::BuiltPipeline built = f.pipeline(counting);
  built.scheduler = std::make_shared<schedulers::FixedScheduler>(3);
  const auto r = core::RequestLoop(built, knn_settings(30)).run(kPrompts[0]);
  EXPECT_EQ(r.output.size(), 30u);
  // The policy's own per-position lookup never ran: the engine searched.
  EXPECT_EQ(counting->single_lookups, 0);
  ASSERT_EQ(counting->batches.size(), static_cast<std::size_t>(r.speculation.real + r.speculation.rounds));
  EXPECT_GE(r.speculation.real, 1);
  EXPECT_EQ(counting->batches[0], 1u);
  std::size_t verified = 0;
  for (std::size_t b : counting->batches) {
    EXPECT_GE(b, 1u);
    EXPECT_LE(b, 3u);
    verified += b;
  }
  // Every examined position was accepted or rolled back at; the positions
  // after a mismatch were searched but never examined.
  EXPECT_EQ(r.speculation.speculated, r.speculation.accepted + r.speculation.rollbacks);
  EXPECT_GE(static_cast<std::int64_t>(verified), r.speculation.real + r.speculation.speculated);
  // Far fewer searches than positions: the point of speculation.
  EXPECT_LT(counting->batches.size(), r.output.size());
  // The time breakdown adds up, and each speculative phase was timed.
  EXPECT_GT(r.times.cache, 0.0);
  EXPECT_GT(r.times.verification, 0.0);
  EXPECT_GE(r.times.other, -1e-9);
}

TEST(KnnLmSpeculation, AsynchronousVerificationSearchesOnAnotherThread) {
  Fixture f;
  auto counting = std::make_shared<CountingKnnLm>(knnlm(f, "Flat"));
  core::BuiltPipeline built = f.pipeline(counting);
  built.scheduler = std::make_shared<schedulers::FixedScheduler>(2);
  core::EngineSettings s = knn_settings(30);
  s.speculation.async_verification = true;
  const auto r = core::RequestLoop(built, s).run(kPrompts[1]);
  int elsewhere = 0;
  for (const auto& id : counting->threads)
    elsewhere += id != std::this_thread::get_id();
  EXPECT_GT(elsewhere, 0);
  // The first, real, search too: the cache's trial runs here meanwhile.
  EXPECT_NE(counting->threads.front(), std::this_thread::get_id());
  EXPECT_GE(r.times.overlapped, 0.0);
}

// The successors the cache takes: the next entries of the same passage.
TEST(KnnLmSpeculation, SuccessorsFollowThePassageAndStopAtItsEnd) {
  Fixture f;
  const auto policy = knnlm(f, "Flat");
  const auto& ds = policy->datastore();
  for (PassageId id = 0; id < ds.entries; ++id) {
    const std::vector<PassageId> next = policy->successors(id, 10);
    PassageId at = id;
    for (PassageId n : next) {
      EXPECT_EQ(n, ds.successor(at));
      at = n;
    }
    if (next.size() < 10) {
      EXPECT_EQ(ds.successor(at), -1) << id;
    }
  }
  // score() ranks as search() does: the same bits for the same entries.
  const std::span<const float> key(ds.key_rows() + 3 * ds.key_dim, static_cast<std::size_t>(ds.key_dim));
  const std::vector<Hit> found = policy->search(key, 8)[0];
  std::vector<PassageId> ids;
  for (const Hit& h : found)
    ids.push_back(h.id);
  const std::vector<float> scores = policy->score(key, ids);
  for (std::size_t i = 0; i < found.size(); ++i)
    EXPECT_EQ(scores[i], found[i].score);
}

}  // namespace

// An IVF…,Flat datastore is scanned list by list: a key's neighbours are the
// same alone and in a batch, and probing every list is the exact search.
TEST(IvfFlatScan, AnswersEachKeyAsAloneAndProbingEveryListIsExact) {
  Fixture f;
  const auto approx = knnlm(f, "IVF4,Flat");  // nprobe 1
  const auto exact = knnlm(f, "Flat");
  const dense::Datastore& ds = exact->datastore();
  const auto dim = static_cast<std::size_t>(ds.key_dim);
  std::vector<float> keys;
  for (const PassageId id : {3, 40, 41, 42, 97, 150})
    keys.insert(keys.end(), ds.key_rows() + id * ds.key_dim, ds.key_rows() + (id + 1) * ds.key_dim);
  const auto together = approx->search(keys, 8);
  ASSERT_EQ(together.size(), 6u);
  bool differs_from_exact = false;
  for (std::size_t i = 0; i < 6; ++i) {
    const std::span<const float> key(keys.data() + i * dim, dim);
    EXPECT_EQ(together[i], approx->search(key, 8)[0]) << i;
    differs_from_exact |= together[i] != exact->search(key, 8)[0];
  }
  EXPECT_TRUE(differs_from_exact);  // one list in four is approximate

  // The scan reads the index's nprobe at each search.
  approx->datastore().faiss->set_search_parameters(/*nprobe=*/4, 0);
  const auto everywhere = approx->search(keys, 8);
  for (std::size_t i = 0; i < 6; ++i)
    EXPECT_EQ(everywhere[i], exact->search(std::span<const float>(keys.data() + i * dim, dim), 8)[0]) << i;
}

// The perplexity task searches a stride's keys in one batch when the policy
// exposes its search: the same score, bit for bit, as one lookup per token.
TEST(KnnLmPerplexity, BatchesEachStridesKeysWithTheSameScore) {
  Fixture f;
  for (const std::string index : {"Flat", "IVF4,Flat"}) {
    auto batched = std::make_shared<CountingKnnLm>(knnlm(f, index));
    auto single = std::make_shared<CountingKnnLm>(knnlm(f, index));
    single->expose = false;
    core::PerplexitySettings ps;
    ps.engine = knn_settings(1);
    ps.engine.stride = 4;
    const core::HeldOutDocument doc{"d", "", "Lisp is a functional programming language based on lists.", -1};
    const auto a = core::PerplexityEvaluator(f.pipeline(batched, false), ps).score(doc);
    const auto b = core::PerplexityEvaluator(f.pipeline(single, false), ps).score(doc);
    EXPECT_EQ(a.nll, b.nll) << index;
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(batched->single_lookups, 0);
    EXPECT_EQ(single->single_lookups, b.tokens);
    ASSERT_FALSE(batched->batches.empty());
    EXPECT_EQ(batched->batches.front(), 4u);
    std::size_t keys = 0;
    for (std::size_t n : batched->batches)
      keys += n;
    EXPECT_EQ(static_cast<std::int64_t>(keys), a.tokens);
  }
}

// A cache smaller than a search's neighbours could never stand in for one:
// an error naming the setting, not a run that silently never speculates.
TEST(KnnLmSpeculation, ACacheSmallerThanKIsAnInputError) {
  Fixture f;
  core::BuiltPipeline built = f.pipeline(knnlm(f, "Flat"));  // k = 8
  built.scheduler = std::make_shared<schedulers::FixedScheduler>(3);
  core::EngineSettings s = knn_settings(8);
  s.speculation.cache_capacity = 4;
  s.speculation.prefetch = 1;
  try {
    core::RequestLoop(built, s).run(kPrompts[0]);
    ADD_FAILURE() << "ran with a cache that cannot hold k neighbours";
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("engine.cache_capacity"), std::string::npos) << e.what();
  }
}
