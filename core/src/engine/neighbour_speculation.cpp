#include "neighbour_speculation.hpp"

#include <algorithm>
#include <deque>
#include <future>

#include "speculation_rounds.hpp"

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

class NeighbourSpeculator {
 public:
  NeighbourSpeculator(Generation& gen, const BuiltPipeline& pipeline, const NeighbourSearch& search,
                      const EngineSettings& settings, SpeculativeCache& cache, RequestResult& result)
      : gen_(gen),
        search_(search),
        scheduler_(*pipeline.scheduler),
        settings_(settings),
        cache_(cache),
        result_(result),
        fetch_(std::max<std::int64_t>(search.top_k(), settings.speculation.prefetch)),
        scheduler_state_(scheduler_.begin()) {}

  void run() {
    gen_.start_token_by_token();
    ralm::core::run_speculation_rounds(*this);
  }

  // The round structure (speculation_rounds.hpp) reads this class's parts.
  template <class S>
  friend void ralm::core::run_speculation_rounds(S&);
  template <class S>
  friend bool ralm::core::close_round(S&, std::size_t, std::size_t, std::size_t, std::size_t, double, double,
                                      bool);

 private:
  bool cache_ready() const { return cache_.size() >= static_cast<std::size_t>(search_.top_k()); }

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
  // The token `sampler` (a copy: the request's generator does not move)
  // would draw: for trials and verification, where the request does not
  // advance. Where it does, Generation::advance() draws it once.
  static TokenId would_draw(std::span<const float> logits, Sampler sampler) { return sampler.sample(logits); }

  void remember(std::span<const Hit> found) {
    std::vector<PassageId> next;
    for (const Hit& h : found) {
      const std::vector<PassageId> s = search_.successors(h.id, settings_.speculation.successors);
      next.insert(next.end(), s.begin(), s.end());
    }
    cache_.insert(std::span<const PassageId>(next));
  }

  // A position searched for real, as non-speculative kNN-LM does: before the
  // cache can stand in, or when the scheduler says speculation would not pay.
  // When the cache could have answered, whether it would have chosen the
  // same token is a free trial of gamma for the scheduler.
  void real_step() {
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
    if (cache_.size() >= static_cast<std::size_t>(search_.top_k()) && (round.asynchronous || trial_due())) {
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
    ++result_.speculation.real;
    const auto t2 = Clock::now();
    const TokenId token = gen_.advance(truly);
    round.step_seconds = seconds_since(t2);
    round.accepted = round.stride == 1 && guess == token ? 1 : 0;
    scheduler_.observe(*scheduler_state_, round);
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

  // One position with the cache's neighbours.
  void speculate() {
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

  // One batched search of the first n pending positions' keys. Runs on the
  // verification thread when asynchronous: it touches nothing but the
  // (thread-safe) search and its own copy of the keys.
  static Verification search(const NeighbourSearch& search, std::vector<float> keys, std::int64_t fetch) {
    Verification v;
    const auto t0 = Clock::now();
    v.truth = search.search(keys, fetch);
    v.seconds = seconds_since(t0);
    return v;
  }
  std::vector<float> keys_of(std::size_t n) const {
    std::vector<float> keys;
    for (std::size_t i = 0; i < n; ++i)
      keys.insert(keys.end(), pending_[i].key.begin(), pending_[i].key.end());
    return keys;
  }
  Verification verify(std::size_t n) {
    Verification v = search(search_, keys_of(n), fetch_);
    result_.times.verification += v.seconds;
    return v;
  }

  // Starts the search for the first n positions on another thread and keeps
  // speculating meanwhile: one position at least, and more while the search
  // is not back, up to a round's worth. Then settles the n.
  void verify_while_speculating(std::size_t n) {
    auto future =
        std::async(std::launch::async, &NeighbourSpeculator::search, std::cref(search_), keys_of(n), fetch_);
    Verification v = speculate_while_verifying(
        future, n, [this] { return !gen_.done(); }, [this] { speculate(); }, result_.times);
    settle(n, std::move(v), true);
  }

  // Keeps the leading positions whose true neighbours give the token chosen;
  // at the first that does not, restores the request there and continues
  // with the true token.
  void settle(std::size_t n, Verification v, bool asynchronous) {
    const auto t0 = Clock::now();
    std::size_t agreed = 0;
    double step_seconds = 0;
    std::vector<float> corrected;
    for (; agreed < n; ++agreed) {
      const PendingPosition& p = pending_[agreed];
      step_seconds += p.seconds;
      std::vector<float> truly = adjusted(p.logits, top(v.truth[agreed]));
      if (would_draw(truly, p.before.sampler) != p.chosen) {
        corrected = std::move(truly);
        break;
      }
    }
    // Positions after the first mismatch are thrown away unexamined. Only the
    // examined positions' neighbours seed the cache: the others answer keys
    // of a text that is being thrown away, and would evict the entries the
    // next positions need.
    const std::size_t examined = std::min(n, agreed + 1);
    for (std::size_t i = 0; i < examined; ++i)
      remember(v.truth[i]);
    result_.times.verification += seconds_since(t0);
    if (close_round(*this, n, agreed, examined, agreed, step_seconds, v.seconds, asynchronous)) return;
    const Generation::Checkpoint before = std::move(pending_[agreed].before);
    pending_.clear();
    gen_.restore(before);
    gen_.advance(corrected);
  }

  Generation& gen_;
  const NeighbourSearch& search_;
  const SpeculationScheduler& scheduler_;
  const EngineSettings& settings_;
  SpeculativeCache& cache_;
  RequestResult& result_;
  // Neighbours fetched per search: the first top_k() adjust the logits, all
  // of them seed the cache (the engine's prefetch).
  const std::int64_t fetch_;
  std::unique_ptr<SchedulerState> scheduler_state_;
  std::deque<PendingPosition> pending_;
  double trial_seconds_ = 0, search_seconds_ = 0;  // the latest trial's and real search's latency
  std::int64_t since_trial_ = 0;                   // real positions since the last trial
};

}  // namespace

void run_neighbour_speculation(Generation& gen, const BuiltPipeline& pipeline, const NeighbourSearch& search,
                               const EngineSettings& settings, SpeculativeCache& cache,
                               RequestResult& result) {
  NeighbourSpeculator(gen, pipeline, search, settings, cache, result).run();
}

}  // namespace ralm::core
