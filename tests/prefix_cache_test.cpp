// The prefix cache (ralm/core/engine/prefix_cache.hpp): its radix tree finds
// the longest cached prefix, splits an edge where prefixes part, keeps a
// prefix once, evicts the least recently used sequence beyond its budget and
// counts what it did, from several threads at once; and requests with
// prepend and the cache on generate exactly what they do with it off, the
// logits of every evaluation included, whatever the budget, and an engine's
// requests share it.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "append_policy.hpp"
#include "engine_fixture.hpp"
#include "fixed_scheduler.hpp"
#include "prepend_policy.hpp"
#include "ralm/core/engine/engine.hpp"
#include "ralm/core/engine/prefix_cache.hpp"
#include "ralm/core/engine/request_loop.hpp"
#include "ralm/core/pipeline.hpp"
#include "ralm/core/registry.hpp"
#include "ralm/error.hpp"
#include "synthetic_corpus.hpp"

namespace {

using namespace ralm;
using core::PrefixCache;

// A sequence of tokens with no keys or values: enough for the tree, and it
// counts the copies alive, so that a test sees evicted ones freed.
class TokenSequence final : public Sequence {
 public:
  explicit TokenSequence(Tokens tokens) : tokens_(std::move(tokens)) { ++alive; }
  ~TokenSequence() override { --alive; }
  std::int32_t length() const override { return static_cast<std::int32_t>(tokens_.size()); }
  const Tokens& tokens() const override { return tokens_; }
  void truncate(std::int32_t n) override { tokens_.resize(static_cast<std::size_t>(n)); }
  std::unique_ptr<Sequence> clone() const override { return std::make_unique<TokenSequence>(tokens_); }
  static inline std::atomic<int> alive{0};

 private:
  Tokens tokens_;
};

void insert(PrefixCache& cache, const Tokens& tokens) {
  cache.insert(TokenSequence(tokens), static_cast<std::int32_t>(tokens.size()));
}

Tokens looked_up(PrefixCache& cache, const Tokens& tokens, std::int32_t at_least = 1) {
  const auto copy = cache.lookup(tokens, at_least);
  return copy ? copy->tokens() : Tokens{};
}

TEST(PrefixCache, ALookupReturnsACopyOfTheLongestCachedPrefix) {
  PrefixCache cache(1000, 100);
  insert(cache, {1, 2, 3, 4});
  EXPECT_EQ(looked_up(cache, {1, 2, 3, 9}), (Tokens{1, 2, 3}));
  EXPECT_EQ(looked_up(cache, {1, 2, 3, 4, 5, 6}), (Tokens{1, 2, 3, 4}));
  EXPECT_EQ(looked_up(cache, {1}), (Tokens{1}));
  EXPECT_EQ(looked_up(cache, {5, 1, 2}), Tokens{});
  EXPECT_EQ(looked_up(cache, {}), Tokens{});
  // A caller who already holds two tokens wants more than two.
  EXPECT_EQ(looked_up(cache, {1, 2, 9}, 3), Tokens{});
  EXPECT_EQ(looked_up(cache, {1, 2, 3}, 3), (Tokens{1, 2, 3}));
  // The copy is the caller's: truncating or growing it leaves the cache alone.
  auto copy = cache.lookup(Tokens{1, 2, 3, 4});
  copy->truncate(1);
  EXPECT_EQ(looked_up(cache, {1, 2, 3, 4}), (Tokens{1, 2, 3, 4}));

  const core::PrefixCacheStats s = cache.stats();
  EXPECT_EQ(s.lookups, 9);
  EXPECT_EQ(s.hits, 6);
  EXPECT_EQ(s.misses, 3);
  EXPECT_EQ(s.tokens_saved, 3 + 4 + 1 + 3 + 4 + 4);
  EXPECT_EQ(s.insertions, 1);
  EXPECT_EQ(s.entries, 1);
  EXPECT_EQ(s.tokens_held, 4);
  EXPECT_EQ(s.bytes_held, 100);
  EXPECT_EQ(s.capacity_bytes, 1000);
  EXPECT_EQ(s.evictions, 0);
}

TEST(PrefixCache, PrefixesThatPartInsideAnEdgeSplitIt) {
  PrefixCache cache(1000, 100);
  insert(cache, {1, 2, 3, 4});
  insert(cache, {1, 2, 7, 8});
  EXPECT_EQ(cache.stats().entries, 2);
  EXPECT_EQ(cache.matched_length(Tokens{1, 2, 3, 4}), 4);
  EXPECT_EQ(cache.matched_length(Tokens{1, 2, 7, 8, 9}), 4);
  EXPECT_EQ(cache.matched_length(Tokens{1, 2, 5}), 2);
  EXPECT_EQ(looked_up(cache, {1, 2, 7, 0}), (Tokens{1, 2, 7}));
  EXPECT_EQ(looked_up(cache, {1, 2, 3, 0}), (Tokens{1, 2, 3}));
  // Where the split left the edges: a third branch at the same point, and
  // one at the root.
  insert(cache, {1, 2, 5});
  insert(cache, {9});
  EXPECT_EQ(cache.stats().entries, 4);
  for (const Tokens& t : {Tokens{1, 2, 3, 4}, Tokens{1, 2, 7, 8}, Tokens{1, 2, 5}, Tokens{9}})
    EXPECT_EQ(looked_up(cache, t), t);
  // A prefix extending a leaf's replaces it: the longer one covers both.
  insert(cache, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(cache.stats().entries, 4);
  EXPECT_EQ(cache.stats().tokens_held, 6 + 4 + 3 + 1);
  EXPECT_EQ(looked_up(cache, {1, 2, 3, 4, 5, 6, 7}), (Tokens{1, 2, 3, 4, 5, 6}));
}

TEST(PrefixCache, APrefixAlreadyHeldIsNotCopiedAgain) {
  PrefixCache cache(1000, 100);
  const int before = TokenSequence::alive;
  insert(cache, {1, 2, 3, 4});
  insert(cache, {1, 2, 3, 4});
  insert(cache, {1, 2});  // inside the edge: held by the leaf below
  insert(cache, {1, 2, 3, 9});
  insert(cache, {1, 2, 3});  // at the branch point the split made
  const core::PrefixCacheStats s = cache.stats();
  EXPECT_EQ(s.insertions, 2);
  EXPECT_EQ(s.entries, 2);
  EXPECT_EQ(s.tokens_held, 8);
  EXPECT_EQ(TokenSequence::alive - before, 2);
  cache.insert(TokenSequence({1, 2, 3, 4}), 0);  // nothing to keep
  EXPECT_EQ(cache.stats().insertions, 2);
  EXPECT_THROW(cache.insert(TokenSequence({4, 4}), 3), Error);
}

TEST(PrefixCache, BeyondTheBudgetTheLeastRecentlyUsedSequenceGoes) {
  const int before = TokenSequence::alive;
  {
    PrefixCache cache(250, 100);  // two sequences
    insert(cache, {1, 2, 3});
    insert(cache, {1, 2, 4});
    EXPECT_EQ(looked_up(cache, {1, 2, 3}), (Tokens{1, 2, 3}));  // {1, 2, 3} is now the more recent
    insert(cache, {7, 8});
    core::PrefixCacheStats s = cache.stats();
    EXPECT_EQ(s.evictions, 1);
    EXPECT_EQ(s.entries, 2);
    EXPECT_EQ(s.bytes_held, 200);
    EXPECT_EQ(s.tokens_held, 5);
    EXPECT_EQ(TokenSequence::alive - before, 2) << "the evicted sequence is freed";
    EXPECT_EQ(cache.matched_length(Tokens{1, 2, 4}), 2) << "{1, 2, 3} still holds {1, 2}";
    EXPECT_EQ(looked_up(cache, {1, 2, 4}), (Tokens{1, 2}));
    EXPECT_EQ(looked_up(cache, {7, 8}), (Tokens{7, 8}));  // {7, 8} is now the more recent

    // The branch point the evicted leaf left has merged away; a new branch
    // splits the remaining edge again, and the oldest, {1, 2, 3}, goes.
    insert(cache, {1, 5});
    s = cache.stats();
    EXPECT_EQ(s.evictions, 2);
    EXPECT_EQ(cache.matched_length(Tokens{1, 2, 3}), 1);
    EXPECT_EQ(looked_up(cache, {1, 5}), (Tokens{1, 5}));
    EXPECT_EQ(looked_up(cache, {7, 8}), (Tokens{7, 8}));  // {1, 5} is the older
    insert(cache, {1, 2, 3});
    EXPECT_EQ(cache.matched_length(Tokens{1, 5}), 1);
    EXPECT_EQ(cache.matched_length(Tokens{1, 2, 3}), 3);
    EXPECT_EQ(cache.matched_length(Tokens{7, 8}), 2);
    s = cache.stats();
    EXPECT_EQ(s.evictions, 3);
    EXPECT_EQ(s.entries, 2);
    EXPECT_EQ(s.tokens_held, 5);
  }
  EXPECT_EQ(TokenSequence::alive.load(), before);
}

TEST(PrefixCache, ABudgetThatHoldsNoSequenceIsRefusedNamingTheKey) {
  EXPECT_THROW(PrefixCache(99, 100), Error);
  ModelInfo info;
  info.context_length = 1024;
  info.kv_bytes_per_token = 4096;  // 4 MiB a sequence
  EXPECT_EQ(core::make_prefix_cache(info, 0), nullptr);
  EXPECT_EQ(core::make_prefix_cache(info, 4 << 20)->stats().capacity_bytes, 4 << 20);
  try {
    core::make_prefix_cache(info, 3 << 20);
    ADD_FAILURE() << "a 3 MiB budget for 4 MiB sequences";
  } catch (const InputError& e) {
    EXPECT_NE(
        std::string(e.what()).find("engine.prefix_cache_mb: 3 MiB cannot hold one cached sequence of this "
                                   "model (1024 positions x 4096 bytes); raise it to at least 4"),
        std::string::npos)
        << e.what();
  }
  info.kv_bytes_per_token = 0;
  EXPECT_THROW(core::make_prefix_cache(info, 4 << 20), InputError);
}

TEST(PrefixCache, ManyThreadsLookUpAndInsertAtOnce) {
  PrefixCache cache(600, 100);  // six sequences of the many, so eviction runs all along
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 2000; ++i) {
        // Prefixes from a small family, so that they share and part.
        Tokens tokens = {1};
        const std::size_t n = 2 + rng() % 6;
        for (std::size_t k = 1; k < n; ++k)
          tokens.push_back(static_cast<TokenId>(rng() % 3));
        const auto copy = cache.lookup(tokens);
        if (copy && !std::equal(copy->tokens().begin(), copy->tokens().end(), tokens.begin())) ++wrong;
        insert(cache, tokens);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(wrong.load(), 0) << "every copy is a prefix of what was looked up";
  const core::PrefixCacheStats s = cache.stats();
  EXPECT_EQ(s.lookups, 8000);
  EXPECT_EQ(s.hits + s.misses, s.lookups);
  EXPECT_GT(s.hits, 0);
  EXPECT_GT(s.evictions, 0);
  EXPECT_LE(s.bytes_held, 600);
  EXPECT_EQ(s.bytes_held, s.entries * 100);
}

TEST(PrefixCache, ACachedCopyContinuesWithTheLogitsOfAFreshEvaluation) {
  const auto model = test::tiny_llama();
  const Tokens first = {1, 40, 41, 42, 43, 44, 45, 46, 47, 50, 51, 52};
  const Tokens second = {1, 40, 41, 42, 43, 44, 45, 46, 47, 60, 61, 62, 63};
  PrefixCache cache(std::int64_t{model->info().context_length} * model->info().kv_bytes_per_token,
                    std::int64_t{model->info().context_length} * model->info().kv_bytes_per_token);
  auto seq = model->new_sequence();
  model->eval(*seq, first, {});
  cache.insert(*seq, 9);
  seq.reset();  // the cache's copy is its own

  auto copy = cache.lookup(second);
  ASSERT_NE(copy, nullptr);
  ASSERT_EQ(copy->length(), 9);
  const EvalResult continued = model->eval(*copy, std::span(second).subspan(9), {.all_logits = true});
  auto fresh = model->new_sequence();
  const EvalResult whole = model->eval(*fresh, second, {.all_logits = true});
  EXPECT_EQ(continued.logits,
            std::vector<float>(whole.logits.end() - static_cast<std::ptrdiff_t>(continued.logits.size()),
                               whole.logits.end()));
}

TEST(PrefixCache, PrependSharesBosAndThePassagesAndOtherPoliciesNothing) {
  const Tokens input = {1, 5, 9}, generated = {4, 2};
  const std::vector<RetrievedPassage> passages = {{{3, 1.0f}, {7, 7, 7}}, {{8, 0.5f}, {6, 6}}};
  policies::PrependPolicy prepend(1, false);
  auto state = prepend.begin(input);
  Layout layout = prepend.on_retrieval(*state, input, generated, passages);
  EXPECT_EQ(layout.tokens, (Tokens{1, 6, 6, 7, 7, 7, 5, 9, 4, 2}));
  EXPECT_EQ(layout.shared_prefix, 6);
  layout = prepend.on_retrieval(*state, input, generated, {});
  EXPECT_EQ(layout.shared_prefix, 0) << "a lone BOS is not worth caching";
  const Tokens no_bos = {5, 9};
  layout = prepend.on_retrieval(*state, no_bos, {}, passages);
  EXPECT_EQ(layout.shared_prefix, 5);

  policies::AppendPolicy append(std::nullopt);
  auto append_state = append.begin(input);
  EXPECT_EQ(append.on_retrieval(*append_state, input, generated, passages).shared_prefix, 0);
}

TEST(PrefixCache, TheEngineKeyIsInMebibytesAndOffByDefault) {
  const test::TempDir dir;
  const core::Registry no_plugins;
  const auto spec = [&](const std::string& text) {
    return core::load_pipeline(dir.write("p.yaml", text), {}, no_plugins);
  };
  EXPECT_EQ(core::EngineSettings::from(spec("name: p\n").engine).prefix_cache_bytes, 0);
  EXPECT_EQ(
      core::EngineSettings::from(spec("name: p\nengine: {prefix_cache_mb: 3}\n").engine).prefix_cache_bytes,
      std::int64_t{3} << 20);
  try {
    spec("name: p\nengine: {prefix_cache_mb: -1}\n");
    ADD_FAILURE() << "a negative budget";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("engine.prefix_cache_mb"), std::string::npos) << e.what();
  }
}

// Requests through one RequestLoop, as an engine runs them, and its cache's
// figures afterwards.
struct LoopRun {
  std::vector<core::RequestResult> results;
  core::PrefixCacheStats stats;
};

LoopRun run_all(const core::BuiltPipeline& pipeline, const core::EngineSettings& settings,
                const std::vector<std::string>& prompts) {
  core::RequestLoop loop(pipeline, settings);
  LoopRun run;
  for (const std::string& prompt : prompts)
    run.results.push_back(loop.run(prompt));
  run.stats = loop.prefix_cache_stats();
  return run;
}

// The last two ask again what the first two asked, so they retrieve the same
// passages.
const std::vector<std::string> kPrompts = [] {
  std::vector<std::string> prompts = test::topic_prompts();
  prompts.push_back(prompts[0]);
  prompts.push_back(prompts[1]);
  return prompts;
}();

TEST(PrefixCache, RequestsWithTheCacheOnGenerateExactlyWhatTheyDoWithItOff) {
  const test::TempDir corpus_dir;
  test::Fixture f(test::write_synthetic_corpus(corpus_dir));
  const auto prepend = std::make_shared<policies::PrependPolicy>(1, false);
  struct Case {
    std::string name;
    std::int32_t top_k = 1;
    bool sampled = false;
    bool speculate = false;
  };
  const std::int64_t per_sequence =
      std::int64_t{f.model->info().context_length} * f.model->info().kv_bytes_per_token;
  for (const Case& c : {Case{"greedy"}, Case{"two passages", 2}, Case{"sampled", 1, true},
                        Case{"speculative", 1, false, true}}) {
    core::BuiltPipeline pipeline = f.pipeline(prepend);  // checks every evaluation's logits
    if (c.speculate) pipeline.scheduler = std::make_shared<schedulers::FixedScheduler>(3);
    core::EngineSettings off = test::settings(2, 12);
    off.top_k = c.top_k;
    if (c.sampled) {
      off.sampling.temperature = 0.9;
      off.sampling.seed = 5;
    }
    core::EngineSettings on = off, tiny = off;
    on.prefix_cache_bytes = 64 * per_sequence;
    tiny.prefix_cache_bytes = per_sequence;  // one sequence: every new prefix evicts the last

    const LoopRun without = run_all(pipeline, off, kPrompts);
    for (const auto& [run, name] : {std::pair{run_all(pipeline, on, kPrompts), "cache on"},
                                    std::pair{run_all(pipeline, tiny, kPrompts), "one-sequence budget"}}) {
      const std::string what = c.name + ", " + name;
      ASSERT_EQ(run.results.size(), kPrompts.size());
      std::int64_t reused = 0;
      for (std::size_t i = 0; i < kPrompts.size(); ++i) {
        const core::RequestResult& a = run.results[i];
        const core::RequestResult& b = without.results[i];
        EXPECT_EQ(a.output, b.output) << what << ", prompt " << i;
        ASSERT_EQ(a.retrievals.size(), b.retrievals.size()) << what << ", prompt " << i;
        for (std::size_t r = 0; r < a.retrievals.size(); ++r) {
          ASSERT_EQ(a.retrievals[r].hits.size(), b.retrievals[r].hits.size());
          for (std::size_t h = 0; h < a.retrievals[r].hits.size(); ++h)
            EXPECT_EQ(a.retrievals[r].hits[h].id, b.retrievals[r].hits[h].id) << what << ", prompt " << i;
        }
        // Every position copied is one not computed.
        EXPECT_EQ(a.tokens_computed + a.prefix_tokens_reused, b.tokens_computed) << what << ", prompt " << i;
        EXPECT_EQ(b.prefix_tokens_reused, 0);
        reused += a.prefix_tokens_reused;
      }
      EXPECT_EQ(reused, run.stats.tokens_saved) << what;
      EXPECT_GT(run.stats.hits, 0) << what;
      EXPECT_LE(run.stats.bytes_held, run.stats.capacity_bytes) << what;
      if (name == std::string("cache on")) {
        // The repeated prompts' first layouts are those of prompts 0 and 1.
        EXPECT_GT(run.results[6].prefix_tokens_reused, 0) << what;
        EXPECT_GT(run.results[7].prefix_tokens_reused, 0) << what;
        EXPECT_EQ(run.stats.evictions, 0) << what;
      } else {
        EXPECT_GT(run.stats.evictions, 0) << what;
        EXPECT_EQ(run.stats.entries, 1) << what;
      }
    }
    EXPECT_EQ(without.stats.lookups, 0) << "off by default";
  }
  EXPECT_GT(f.model->checked, 0);
  EXPECT_EQ(f.model->mismatches, 0) << "an evaluation on a copied prefix gave other logits than a fresh one";
}

// An engine's requests share its loop's cache, whichever thread submits them.
TEST(PrefixCache, AnEnginesRequestsShareTheCacheAndKeepTheirOutputs) {
  const test::TempDir corpus_dir;
  test::Fixture f(test::write_synthetic_corpus(corpus_dir));
  const core::BuiltPipeline pipeline = f.pipeline(std::make_shared<policies::PrependPolicy>(1, false), false);
  const core::EngineSettings off = test::settings(2, 12);
  core::EngineSettings on = off;
  on.prefix_cache_bytes =
      64 * std::int64_t{f.unchecked->info().context_length} * f.unchecked->info().kv_bytes_per_token;
  const LoopRun without = run_all(pipeline, off, kPrompts);

  core::Engine engine(pipeline, on);
  std::vector<std::shared_ptr<core::Engine::Request>> requests(kPrompts.size());
  std::vector<std::thread> clients;
  for (std::size_t t = 0; t < 2; ++t) {
    clients.emplace_back([&, t] {
      for (std::size_t i = t; i < kPrompts.size(); i += 2)
        requests[i] = engine.submit(kPrompts[i]);
    });
  }
  for (auto& t : clients)
    t.join();
  std::int64_t reused = 0;
  for (std::size_t i = 0; i < kPrompts.size(); ++i) {
    const core::RequestResult r = requests[i]->wait();
    EXPECT_EQ(r.output, without.results[i].output) << "prompt " << i;
    EXPECT_EQ(r.tokens_computed + r.prefix_tokens_reused, without.results[i].tokens_computed)
        << "prompt " << i;
    reused += r.prefix_tokens_reused;
  }
  // Each prompt asked twice: whichever runs second starts from the first's passages.
  EXPECT_GT(reused, 0) << "the engine's requests did not reach the prefix cache";
}

}  // namespace
