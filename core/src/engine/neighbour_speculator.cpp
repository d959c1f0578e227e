#include "neighbour_speculator.hpp"

#include <algorithm>
#include <deque>
#include <future>

#include "speculation_rounds.hpp"
#include "speculator.hpp"
#include "stopwatch.hpp"

namespace ralm::core {

namespace {

// A position decoded with speculated neighbours, not yet verified: what is
// needed to redo its choice with the true ones.
struct PendingPosition {
  Generation::Checkpoint before;
  std::vector<float> key;
  std::vector<float> logits;  // the model's, before any adjustment
  TokenId chosen = -1;
  double seconds = 0;  // wall time: cache lookup, adjustment and the model's next evaluation
};

// One real search's answer and its latency.
struct Found {
  std::vector<Hit> hits;
  double seconds = 0;
};

// The token `sampler` (a copy: the request's generator does not move) would
// draw: for trials and verification, where the request does not advance.
// Where it does, Generation::advance() draws it once.
TokenId would_draw(std::span<const float> logits, Sampler sampler) {
  return sampler.sample(logits);
}

class NeighbourSpeculator final : public Speculator {
 public:
  NeighbourSpeculator(Generation& gen, const NeighbourSearch& search, const EngineSettings& settings,
                      SpeculativeCache& cache, RequestResult& result)
      : gen_(gen),
        search_(search),
        settings_(settings),
        cache_(cache),
        result_(result),
        fetch_(std::max<std::int64_t>(search.top_k(), settings.speculation.prefetch)) {
    gen_.publish_when_settled();
  }

  bool done() const override { return gen_.done(); }
  bool cache_ready() const override { return cache_.size() >= static_cast<std::size_t>(search_.top_k()); }
  std::size_t pending() const override { return pending_.size(); }

  // A position searched for real, as non-speculative kNN-LM does. When the
  // cache could have answered, whether it would have chosen the same token is
  // a free trial of gamma for the scheduler.
  std::optional<RoundObservation> real_step() override {
    RoundObservation round;
    round.real = true;
    round.asynchronous = settings_.speculation.async_verification;
    const std::vector<float> key(gen_.key().begin(), gen_.key().end());
    const auto run_search = [this, &key] {
      const auto t = Clock::now();
      Found f{search_.search(key, fetch_)[0], 0.0};
      f.seconds = seconds_since(t);
      return f;
    };
    // With a second thread at hand the search runs there while this one
    // makes the trial, which then costs no wall time.
    std::future<Found> out;
    if (round.asynchronous) out = std::async(std::launch::async, run_search);
    TokenId guess = -1;
    if (cache_ready() && (round.asynchronous || trial_due())) {
      const auto t0 = Clock::now();
      try {
        guess = would_draw(adjusted(gen_.logits(), cached_neighbours(key)), gen_.sampler());
      } catch (...) {
        if (out.valid()) out.wait();  // never leave the search running on a policy we may destroy
        throw;
      }
      trial_seconds_ = seconds_since(t0);
      result_.times.cache += trial_seconds_;
      round.stride = 1;
      since_trial_ = 0;
    }
    ++since_trial_;
    const auto t1 = Clock::now();
    const Found found = out.valid() ? out.get() : run_search();
    round.retrieve_seconds = found.seconds;
    search_seconds_ = found.seconds;
    remember(found.hits);
    const std::vector<float> truly = adjusted(gen_.logits(), top(found.hits));
    result_.times.retrieval += seconds_since(t1);  // the search, or the wait for it
    const auto t2 = Clock::now();
    const TokenId token = gen_.advance(truly);
    round.step_seconds = seconds_since(t2);
    round.accepted = round.stride == 1 && guess == token ? 1 : 0;
    publish_settled();
    return round;
  }

  void speculate() override {
    const auto t0 = Clock::now();
    PendingPosition p;
    p.before = gen_.checkpoint();
    p.key.assign(gen_.key().begin(), gen_.key().end());
    p.logits.assign(gen_.logits().begin(), gen_.logits().end());
    const std::vector<float> guessed = adjusted(p.logits, cached_neighbours(p.key));
    result_.times.cache += seconds_since(t0);
    p.chosen = gen_.advance(guessed);
    p.seconds = seconds_since(t0);
    pending_.push_back(std::move(p));
  }

  std::function<Verification()> verification(std::size_t n) const override {
    std::vector<float> keys;
    for (std::size_t i = 0; i < n; ++i)
      keys.insert(keys.end(), pending_[i].key.begin(), pending_[i].key.end());
    return [&search = search_, keys = std::move(keys), k = fetch_] {
      Verification v;
      const auto t0 = Clock::now();
      v.truth = search.search(keys, k);
      v.seconds = seconds_since(t0);
      return v;
    };
  }

  // Keeps the leading positions whose true neighbours give the token chosen;
  // the first that does not keeps its corrected logits for roll_back().
  Judgement judge(std::size_t n, const Verification& v) override {
    const auto t0 = Clock::now();
    Judgement j;
    for (; j.agreed < n; ++j.agreed) {
      const PendingPosition& p = pending_[j.agreed];
      j.step_seconds += p.seconds;
      std::vector<float> truly = adjusted(p.logits, top(v.truth[j.agreed]));
      if (would_draw(truly, p.before.sampler) != p.chosen) {
        corrected_ = std::move(truly);
        break;
      }
    }
    j.examined = std::min(n, j.agreed + 1);
    j.accepted = j.agreed;
    // Positions after the first mismatch are thrown away unexamined. Only the
    // examined positions' neighbours seed the cache: the others answer keys
    // of a text that is being thrown away, and would evict the entries the
    // next positions need.
    for (std::size_t i = 0; i < j.examined; ++i)
      remember(v.truth[i]);
    result_.times.verification += seconds_since(t0);
    return j;
  }

  void accept(std::size_t n) override {
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    publish_settled();
  }

  // No model work is redone: the position's logits stand, only the token
  // chosen from them changes.
  void roll_back(std::size_t wrong, const Verification&) override {
    const Generation::Checkpoint before = std::move(pending_[wrong].before);
    pending_.clear();
    gen_.restore(before);
    gen_.advance(corrected_);
    publish_settled();
  }

 private:
  // Every position before the first pending one is final.
  void publish_settled() {
    gen_.publish(pending_.empty() ? gen_.generated_count() : pending_.front().before.generated);
  }

  // The cache's best neighbours for a key, ranked by the policy's own score.
  std::vector<Hit> cached_neighbours(std::span<const float> key) {
    return cache_.top([&](std::span<const PassageId> ids) { return search_.score(key, ids); },
                      search_.top_k());
  }

  // The model's logits adjusted with `neighbours`.
  std::vector<float> adjusted(std::span<const float> logits, std::span<const Hit> neighbours) const {
    std::vector<float> out(logits.begin(), logits.end());
    search_.adjust_with(out, neighbours);
    return out;
  }

  void remember(std::span<const Hit> found) {
    std::vector<PassageId> next;
    for (const Hit& h : found) {
      const std::vector<PassageId> s = search_.successors(h.id, settings_.speculation.successors);
      next.insert(next.end(), s.begin(), s.end());
    }
    cache_.insert(std::span<const PassageId>(next));
  }

  // The neighbours that adjust the logits: a search's first top_k().
  std::span<const Hit> top(const std::vector<Hit>& hits) const {
    return std::span(hits).first(std::min(hits.size(), static_cast<std::size_t>(search_.top_k())));
  }

  // Whether a synchronous real position should make the cache's trial: a
  // cache lookup can cost a good part of a fast search (an IVF datastore's
  // few milliseconds), and while the scheduler keeps falling back that would
  // be a cost on every position. So trials are spaced to cost at most
  // kTrialShare of the searches between them.
  bool trial_due() const {
    static constexpr double kTrialShare = 0.02;
    if (trial_seconds_ <= 0 || search_seconds_ <= 0) return true;
    return static_cast<double>(since_trial_) * kTrialShare * search_seconds_ >= trial_seconds_;
  }

  Generation& gen_;
  const NeighbourSearch& search_;
  const EngineSettings& settings_;
  SpeculativeCache& cache_;
  RequestResult& result_;
  // Neighbours fetched per search: the first top_k() adjust the logits, all
  // of them seed the cache (the engine's prefetch).
  const std::int64_t fetch_;
  std::deque<PendingPosition> pending_;
  std::vector<float> corrected_;  // the first wrong position's logits with its true neighbours
  double trial_seconds_ = 0, search_seconds_ = 0;  // the latest trial's and real search's latency
  std::int64_t since_trial_ = 0;                   // real positions since the last trial
};

}  // namespace

void run_neighbour_speculation(Generation& gen, const BuiltPipeline& pipeline, const NeighbourSearch& search,
                               const EngineSettings& settings, SpeculativeCache& cache,
                               RequestResult& result) {
  gen.start_token_by_token();
  NeighbourSpeculator speculator(gen, search, settings, cache, result);
  run_speculation_rounds(speculator, *pipeline.scheduler, settings.speculation.async_verification, result);
}

}  // namespace ralm::core
