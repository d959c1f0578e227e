#include "speculation.hpp"

#include <algorithm>
#include <deque>
#include <future>

#include "ralm/core/engine/retrieval_step.hpp"
#include "speculation_rounds.hpp"

namespace ralm::core {

namespace {

// A step run with speculated passages, not yet verified.
struct PendingStep {
  Generation::Checkpoint before;
  std::string query;
  bool needs_verification = true;  // false for a blank query, which keeps the previous passages
  std::vector<Hit> speculated;
  double seconds = 0;  // wall time of the step: cache lookup and model
};

class Speculator {
 public:
  Speculator(Generation& gen, const BuiltPipeline& pipeline, const EngineSettings& settings,
             SpeculativeCache& cache, RequestResult& result)
      : gen_(gen),
        retriever_(*pipeline.retriever),
        scheduler_(*pipeline.scheduler),
        settings_(settings),
        cache_(cache),
        result_(result),
        fetch_(std::min<std::int64_t>(std::max(settings.top_k, settings.speculation.prefetch),
                                      pipeline.retriever->size())),
        scheduler_state_(scheduler_.begin()) {}

  void run() { ralm::core::run_speculation_rounds(*this); }

  // The round structure (speculation_rounds.hpp) reads this class's parts.
  template <class S>
  friend void ralm::core::run_speculation_rounds(S&);
  template <class S>
  friend bool ralm::core::close_round(S&, std::size_t, std::size_t, std::size_t, std::size_t, double, double,
                                      bool);

 private:
  bool cache_ready() const { return cache_.size() >= static_cast<std::size_t>(settings_.top_k); }

  // A retrieval the baseline would do: before the cache can stand in, or
  // when the scheduler says speculation would not pay. When the cache could
  // have answered, what it would have said is checked too: a free trial that
  // keeps the scheduler's estimate of gamma current. The scheduler learns the
  // search's latency and the step's.
  void real_step() {
    RetrievalRecord record{gen_.position(), gen_.query(), {}, false};
    if (is_blank_query(record.query)) {
      record.hits = gen_.last_hits();
      const auto passages = gen_.passages(record.hits);
      gen_.step(std::move(record), passages);
      return;
    }
    RoundObservation round;
    round.real = true;
    round.asynchronous = settings_.speculation.async_verification;
    std::vector<Hit> guess;
    if (cache_.size() >= static_cast<std::size_t>(settings_.top_k)) {
      const auto t0 = Clock::now();
      guess = cache_.top(retriever_, record.query, settings_.top_k);
      result_.times.cache += seconds_since(t0);
      round.stride = 1;
    }
    const auto t0 = Clock::now();
    std::vector<Hit> hits = retriever_.search(std::span(&record.query, 1), fetch_)[0];
    round.retrieve_seconds = seconds_since(t0);
    cache_.insert(prefetched(hits));
    record.hits = top(hits);
    round.accepted = round.stride == 1 && same_passages(guess, record.hits) ? 1 : 0;
    const auto passages = gen_.passages(record.hits);
    result_.times.retrieval += seconds_since(t0);
    ++result_.speculation.real;
    const auto t1 = Clock::now();
    gen_.step(std::move(record), passages);
    round.step_seconds = seconds_since(t1);
    scheduler_.observe(*scheduler_state_, round);
  }

  // One step with the cache's passages. Its lookup happens now; the step's
  // model work runs when `run_model` is called (async verification prepares
  // the step, starts the search, and only then runs the model).
  struct Prepared {
    PendingStep step;
    RetrievalRecord record;
    std::vector<RetrievedPassage> passages;
    Clock::time_point start;
  };
  Prepared prepare() {
    Prepared p;
    p.start = Clock::now();
    p.step.before = gen_.checkpoint();
    p.step.query = gen_.query();
    p.step.needs_verification = !is_blank_query(p.step.query);
    p.step.speculated =
        p.step.needs_verification ? cache_.top(retriever_, p.step.query, settings_.top_k) : gen_.last_hits();
    p.record = {gen_.position(), p.step.query, p.step.speculated, p.step.needs_verification};
    p.passages = gen_.passages(p.step.speculated);
    result_.times.cache += seconds_since(p.start);
    return p;
  }
  void run_model(Prepared& p) {
    gen_.step(std::move(p.record), p.passages);
    p.step.seconds = seconds_since(p.start);
    pending_.push_back(std::move(p.step));
  }
  void speculate() {
    Prepared p = prepare();
    run_model(p);
  }

  // One batched search for the first n pending steps' queries. Runs on the
  // verification thread when asynchronous: it touches nothing but the
  // retriever and its own copies of the queries.
  static Verification search(Retriever& retriever, std::vector<std::string> queries, std::vector<bool> needed,
                             std::int64_t fetch) {
    Verification v;
    const auto t0 = Clock::now();
    std::vector<std::vector<Hit>> found;
    if (!queries.empty()) found = retriever.search(queries, fetch);
    v.seconds = seconds_since(t0);
    v.truth.resize(needed.size());
    for (std::size_t i = 0, q = 0; i < needed.size(); ++i) {
      if (needed[i]) v.truth[i] = std::move(found[q++]);
    }
    return v;
  }
  std::pair<std::vector<std::string>, std::vector<bool>> queries_of(std::size_t n) const {
    std::vector<std::string> queries;
    std::vector<bool> needed;
    for (std::size_t i = 0; i < n; ++i) {
      needed.push_back(pending_[i].needs_verification);
      if (pending_[i].needs_verification) queries.push_back(pending_[i].query);
    }
    return {std::move(queries), std::move(needed)};
  }
  Verification verify(std::size_t n) {
    auto [queries, needed] = queries_of(n);
    Verification v = search(retriever_, std::move(queries), std::move(needed), fetch_);
    result_.times.verification += v.seconds;
    return v;
  }

  // Starts the search for the first n steps on another thread and keeps
  // speculating meanwhile: one step at least (the paper's asynchronous
  // verification), and more while the search is not back, up to a round's
  // worth, so that a search much slower than a step overlaps the whole next
  // round instead of one step of it. Then settles the n.
  void verify_while_speculating(std::size_t n) {
    Prepared extra = prepare();
    auto [queries, needed] = queries_of(n);
    auto future = std::async(std::launch::async, &Speculator::search, std::ref(retriever_),
                             std::move(queries), std::move(needed), fetch_);
    // The step prepared before the search went out runs first.
    bool first = true;
    Verification v = speculate_while_verifying(
        future, n, [this] { return !gen_.done(); },
        [&] {
          if (first) {
            run_model(extra);
            first = false;
          } else {
            speculate();
          }
        },
        result_.times);
    settle(n, std::move(v), true);
  }

  // Compares the first n pending steps with the truth, accepts the leading
  // ones that agree, and at the first that does not, restores its checkpoint
  // and reruns it with the true passages.
  void settle(std::size_t n, Verification v, bool asynchronous) {
    for (auto& truth : v.truth)
      cache_.insert(prefetched(truth));
    std::size_t accepted = 0;
    std::size_t speculated = 0;
    double step_seconds = 0;
    for (; accepted < n; ++accepted) {
      const PendingStep& step = pending_[accepted];
      if (!step.needs_verification) continue;
      ++speculated;
      step_seconds += step.seconds;
      const std::vector<Hit> truth = top(v.truth[accepted]);
      if (!same_passages(step.speculated, truth)) break;
      // The record shows what the retriever said (equal ids; and equal scores
      // for a retriever whose score() honours its contract).
      result_.retrievals[step.before.records].hits = truth;
    }
    const std::size_t agreed = accepted;
    if (close_round(*this, n, agreed, speculated, agreed < n ? speculated - 1 : speculated, step_seconds,
                    v.seconds, asynchronous)) {
      return;
    }
    PendingStep wrong = std::move(pending_[agreed]);
    pending_.clear();
    gen_.restore(wrong.before);
    const auto t0 = Clock::now();
    RetrievalRecord record{gen_.position(), wrong.query, top(v.truth[agreed]), false};
    const auto passages = gen_.passages(record.hits);
    result_.times.retrieval += seconds_since(t0);
    gen_.step(std::move(record), passages);
  }

  std::vector<Hit> top(const std::vector<Hit>& hits) const {
    const auto k = std::min(hits.size(), static_cast<std::size_t>(settings_.top_k));
    return {hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(k)};
  }
  std::span<const Hit> prefetched(const std::vector<Hit>& hits) const {
    return std::span(hits).first(std::min(hits.size(), static_cast<std::size_t>(fetch_)));
  }
  static bool same_passages(const std::vector<Hit>& a, const std::vector<Hit>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const Hit& x, const Hit& y) { return x.id == y.id; });
  }

  Generation& gen_;
  Retriever& retriever_;
  const SpeculationScheduler& scheduler_;
  const EngineSettings& settings_;
  SpeculativeCache& cache_;
  RequestResult& result_;
  const std::int64_t fetch_;
  std::unique_ptr<SchedulerState> scheduler_state_;
  std::deque<PendingStep> pending_;
};

}  // namespace

void run_speculative(Generation& gen, const BuiltPipeline& pipeline, const EngineSettings& settings,
                     SpeculativeCache& cache, RequestResult& result) {
  Speculator(gen, pipeline, settings, cache, result).run();
}

}  // namespace ralm::core
