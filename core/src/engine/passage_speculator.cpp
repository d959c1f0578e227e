#include "passage_speculator.hpp"

#include <algorithm>
#include <deque>

#include "ralm/core/engine/retrieval_step.hpp"
#include "speculation_rounds.hpp"
#include "speculator.hpp"
#include "stopwatch.hpp"

namespace ralm::core {

namespace {

// A step run with speculated passages, not yet verified.
struct PendingStep {
  Generation::Checkpoint before;
  std::string query;
  bool needs_verification = true;  // false for a blank query, which keeps the previous passages
  std::vector<Hit> speculated;
  bool from_draft = false;  // a speculated passage came from the draft retriever alone
  double seconds = 0;       // wall time of the step: cache lookup and model
};

// A speculative step's passages, and whether the draft retriever supplied
// one the cache did not hold.
struct Speculated {
  std::vector<Hit> hits;
  bool from_draft = false;
};

bool same_passages(const std::vector<Hit>& a, const std::vector<Hit>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const Hit& x, const Hit& y) { return x.id == y.id; });
}

class PassageSpeculator final : public Speculator {
 public:
  PassageSpeculator(Generation& gen, const BuiltPipeline& pipeline, const EngineSettings& settings,
                    SpeculativeCache& cache, RequestResult& result)
      : gen_(gen),
        retriever_(*pipeline.retriever),
        draft_(settings.speculation.draft == DraftMode::off ? nullptr : pipeline.draft_retriever.get()),
        settings_(settings),
        cache_(cache),
        result_(result),
        fetch_(std::min<std::int64_t>(std::max(settings.top_k, settings.speculation.prefetch),
                                      pipeline.retriever->size())) {
    gen_.publish_when_settled();
  }

  bool done() const override { return gen_.done(); }
  // A draft retriever can answer from the first step on.
  bool cache_ready() const override {
    return draft_ || cache_.size() >= static_cast<std::size_t>(settings_.top_k);
  }
  std::size_t pending() const override { return pending_.size(); }

  // A retrieval the baseline would do. When the cache could have answered,
  // what it would have said is checked too: a free trial that keeps the
  // scheduler's estimate of gamma current.
  std::optional<RoundObservation> real_step() override {
    RetrievalRecord record{gen_.position(), gen_.query(), {}, false};
    if (is_blank_query(record.query)) {
      record.hits = gen_.last_hits();
      const auto passages = gen_.passages(record.hits);
      gen_.step(std::move(record), passages);
      publish_settled();
      return std::nullopt;
    }
    RoundObservation round;
    round.real = true;
    round.asynchronous = settings_.speculation.async_verification;
    std::vector<Hit> guess;
    if (cache_ready()) {
      const auto t0 = Clock::now();
      guess = speculated_passages(record.query).hits;
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
    const auto t1 = Clock::now();
    gen_.step(std::move(record), passages);
    round.step_seconds = seconds_since(t1);
    publish_settled();
    return round;
  }

  void speculate() override {
    PendingStep step;
    const auto start = Clock::now();
    step.before = gen_.checkpoint();
    step.query = gen_.query();
    step.needs_verification = !is_blank_query(step.query);
    if (step.needs_verification) {
      Speculated speculated = speculated_passages(step.query);
      step.speculated = std::move(speculated.hits);
      step.from_draft = speculated.from_draft;
    } else {
      step.speculated = gen_.last_hits();
    }
    RetrievalRecord record{gen_.position(), step.query, step.speculated, step.needs_verification};
    const auto passages = gen_.passages(step.speculated);
    result_.times.cache += seconds_since(start);
    gen_.step(std::move(record), passages);
    step.seconds = seconds_since(start);
    pending_.push_back(std::move(step));
  }

  std::function<Verification()> verification(std::size_t n) const override {
    std::vector<std::string> queries;
    std::vector<bool> needed;
    for (std::size_t i = 0; i < n; ++i) {
      needed.push_back(pending_[i].needs_verification);
      if (pending_[i].needs_verification) queries.push_back(pending_[i].query);
    }
    return [&retriever = retriever_, queries = std::move(queries), needed = std::move(needed), k = fetch_] {
      Verification v;
      const auto t0 = Clock::now();
      std::vector<std::vector<Hit>> found;
      if (!queries.empty()) found = retriever.search(queries, k);
      v.seconds = seconds_since(t0);
      v.truth.resize(needed.size());
      for (std::size_t i = 0, q = 0; i < needed.size(); ++i) {
        if (needed[i]) v.truth[i] = std::move(found[q++]);
      }
      return v;
    };
  }

  Judgement judge(std::size_t n, const Verification& v) override {
    for (const auto& truth : v.truth)
      cache_.insert(prefetched(truth));
    Judgement j;
    for (; j.agreed < n; ++j.agreed) {
      const PendingStep& step = pending_[j.agreed];
      if (!step.needs_verification) continue;
      ++j.examined;
      j.step_seconds += step.seconds;
      result_.speculation.draft_speculated += step.from_draft ? 1 : 0;
      const std::vector<Hit> truth = top(v.truth[j.agreed]);
      if (!same_passages(step.speculated, truth)) break;
      ++j.accepted;
      result_.speculation.draft_accepted += step.from_draft ? 1 : 0;
      // The record shows what the retriever said (equal ids; and equal scores
      // for a retriever whose score() honours its contract).
      result_.retrievals[step.before.records].hits = truth;
    }
    return j;
  }

  void accept(std::size_t n) override {
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    publish_settled();
  }

  void roll_back(std::size_t wrong, const Verification& v) override {
    PendingStep step = std::move(pending_[wrong]);
    pending_.clear();
    gen_.restore(step.before);
    const auto t0 = Clock::now();
    RetrievalRecord record{gen_.position(), step.query, top(v.truth[wrong]), false};
    const auto passages = gen_.passages(record.hits);
    result_.times.retrieval += seconds_since(t0);
    gen_.step(std::move(record), passages);
    publish_settled();
  }

 private:
  // The top_k passages a speculative step takes for `query`: of the cache's
  // passages, the draft retriever's top `fetch_`, or both (engine.draft),
  // ranked by the retriever's own score(). That is the ranking the
  // verification's search gives, so a step is right whenever the true top_k
  // is among the candidates, whichever of the two offered them.
  Speculated speculated_passages(const std::string& query) {
    if (!draft_) return {cache_.top(retriever_, query, settings_.top_k), false};
    const auto t0 = Clock::now();
    const std::vector<Hit> drafted = draft_->search(std::span(&query, 1), fetch_)[0];
    result_.speculation.draft_seconds += seconds_since(t0);
    ++result_.speculation.draft_searches;
    std::vector<PassageId> ids;
    for (const Hit& h : drafted)
      ids.push_back(h.id);
    Speculated out;
    if (settings_.speculation.draft == DraftMode::only) {
      const std::vector<float> scores = retriever_.score(query, ids);
      for (std::size_t i = 0; i < ids.size(); ++i)
        out.hits.push_back({ids[i], scores[i]});
      rank_hits(out.hits, settings_.top_k);
      out.from_draft = !out.hits.empty();
      return out;
    }
    std::vector<PassageId> draft_only;
    for (const PassageId id : ids) {
      if (!cache_.contains(id)) draft_only.push_back(id);
    }
    out.hits =
        cache_.top([&](std::span<const PassageId> candidates) { return retriever_.score(query, candidates); },
                   settings_.top_k, ids);
    out.from_draft = std::any_of(out.hits.begin(), out.hits.end(), [&](const Hit& h) {
      return std::find(draft_only.begin(), draft_only.end(), h.id) != draft_only.end();
    });
    return out;
  }

  // Every step before the first pending one is final.
  void publish_settled() {
    gen_.publish(pending_.empty() ? gen_.generated_count() : pending_.front().before.generated);
  }

  std::vector<Hit> top(const std::vector<Hit>& hits) const {
    const auto k = std::min(hits.size(), static_cast<std::size_t>(settings_.top_k));
    return {hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(k)};
  }
  std::span<const Hit> prefetched(const std::vector<Hit>& hits) const {
    return std::span(hits).first(std::min(hits.size(), static_cast<std::size_t>(fetch_)));
  }

  Generation& gen_;
  Retriever& retriever_;
  Retriever* draft_;  // null: speculation from the cache alone
  const EngineSettings& settings_;
  SpeculativeCache& cache_;
  RequestResult& result_;
  const std::int64_t fetch_;
  std::deque<PendingStep> pending_;
};

}  // namespace

void run_passage_speculation(Generation& gen, const BuiltPipeline& pipeline, const EngineSettings& settings,
                             SpeculativeCache& cache, RequestResult& result) {
  PassageSpeculator speculator(gen, pipeline, settings, cache, result);
  run_speculation_rounds(speculator, *pipeline.scheduler, settings.speculation.async_verification, result);
}

}  // namespace ralm::core
