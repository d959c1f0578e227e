#include "os3_scheduler.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "os3_objective.hpp"
#include "ralm/log.hpp"

namespace ralm::schedulers {

std::unique_ptr<SchedulerState> Os3Scheduler::begin() const {
  auto state = std::make_unique<Os3State>();
  if (settings_.share_estimates) {
    std::lock_guard lock(shared_mutex_);
    state->rounds = shared_rounds_;
  }
  return state;
}

// Each round is a run of Bernoulli trials that stops at the first failure:
// `accepted` successes, then one failure unless the whole stride was right.
// Only rounds that tried something count (a real retrieval the engine could
// not check against the cache has stride 0).
Os3Scheduler::Trials Os3Scheduler::count_trials(const Os3State& state, std::int32_t window) const {
  Trials t;
  std::int32_t rounds = 0;
  for (auto it = state.rounds.rbegin(); it != state.rounds.rend() && rounds < window; ++it) {
    if (it->stride == 0) continue;
    t.successes += it->accepted;
    t.trials += it->accepted + (it->accepted < it->stride ? 1 : 0);
    ++rounds;
  }
  return t;
}

// The maximum-likelihood gamma over the window, successes / trials, capped;
// even odds before any trial. (Not 1: that would make a run's first round,
// guessed from a cache of one search's passages, its longest stride, 16,
// mostly wrong, and its slow batch would make OS3 fall back; exact dense
// over 2M vectors.)
double Os3Scheduler::estimate_gamma(const Os3State& state) const {
  const Trials t = count_trials(state, settings_.gamma_window);
  return std::min(t.trials > 0 ? t.successes / t.trials : 0.5, settings_.gamma_cap);
}

// One success more than seen, (successes + 1) / (trials + 1), over every
// round remembered: optimistic while there are few trials, the plain rate
// once there are many. Optimistic, because the first round of a run, from a
// cache of one search's passages, is its worst (1 right in 2), and judging
// on it would cost real searches where speculation is 2x faster (exact dense
// over 2M vectors); over every round, because a window of 5 swings enough to
// make OS3 fall back now and then. BM25 is kept from guessing by the margin
// in next_stride(), not by pessimism here.
double Os3Scheduler::estimate_hit_rate(const Os3State& state) const {
  const Trials t = count_trials(state, static_cast<std::int32_t>(state.rounds.size()));
  return (t.successes + 1) / (t.trials + 1);
}

// Laplace's rule of succession, (successes + 1) / (trials + 2): even odds
// before any trial.
double Os3Scheduler::estimate_cautious_hit_rate(const Os3State& state) const {
  const Trials t = count_trials(state, static_cast<std::int32_t>(state.rounds.size()));
  return (t.successes + 1) / (t.trials + 2);
}

namespace {

// Rounds kept for the latency estimates: real retrievals and speculation
// rounds interleave, so the window of each kind is looked for further back.
constexpr std::size_t kHistory = 64;

// The median of `field` over the newest `window` rounds that `counts`,
// looked for among the newest `horizon` rounds only. A median, not a mean:
// one search slowed by a neighbouring process (255 ms against 90-120 ms in a
// trace) must not decide the next strides.
template <class Counts, class Field>
double recent_median(const std::deque<RoundObservation>& rounds, std::int32_t window, std::size_t horizon,
                     Counts counts, Field field) {
  std::vector<double> values;
  std::size_t looked = 0;
  for (auto it = rounds.rbegin();
       it != rounds.rend() && looked < horizon && static_cast<std::int32_t>(values.size()) < window;
       ++it, ++looked) {
    if (counts(*it)) values.push_back(field(*it));
  }
  if (values.empty()) return -1.0;  // nothing observed
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

bool speculated(const RoundObservation& r) {
  return !r.real;
}
bool retrieved(const RoundObservation& r) {
  return r.real && r.retrieve_seconds > 0;
}
bool any(const RoundObservation&) {
  return true;
}

}  // namespace

double Os3Scheduler::estimate_step_seconds(const Os3State& state) const {
  return std::max(0.0, recent_median(state.rounds, settings_.latency_window, kHistory, any,
                                     [](const RoundObservation& r) { return r.step_seconds; }));
}

namespace {

// The median real search latency over at least the last 5 real searches, or
// -1 when there was none: with BM25 a single search slowed to 4 ms (against
// 0.1-0.3 ms) would make speculation look worth it for as long as it is the
// last one.
double real_search_seconds(const Os3State& state, std::int32_t latency_window) {
  constexpr std::int32_t kRetrieveWindow = 5;
  return recent_median(state.rounds, std::max(latency_window, kRetrieveWindow), kHistory, retrieved,
                       [](const RoundObservation& o) { return o.retrieve_seconds; });
}

// Rounds a verification latency is remembered for: verify_memory, doubled
// for each speculation round in a row (newest first) after the first whose
// batch cost at least what the real searches of the steps it kept would
// have, up to 4 times as long (kNN-LM over an IVF datastore, where a batch
// costs about what its keys cost one by one: trying again every 8 searches
// keeps it 10% slower than never speculating). One slow batch among good
// ones is still forgotten after verify_memory rounds.
std::size_t verify_horizon(const Os3State& state, const Os3Settings& settings) {
  const auto memory = static_cast<std::size_t>(std::max(settings.verify_memory, 1));
  const double r = real_search_seconds(state, settings.latency_window);
  if (!(r > 0)) return memory;
  int lost = 0;
  for (auto it = state.rounds.rbegin(); it != state.rounds.rend() && lost < 3; ++it) {
    if (!speculated(*it) || it->stride <= 0) continue;
    const int kept = it->accepted + (it->accepted < it->stride ? 1 : 0);
    if (it->verify_seconds < kept * r) break;
    ++lost;
  }
  return memory << std::max(lost - 1, 0);
}

// The median remembered verification latency, or -1 when none is.
double remembered_verify_seconds(const Os3State& state, const Os3Settings& settings) {
  return recent_median(state.rounds, settings.latency_window, verify_horizon(state, settings), speculated,
                       [](const RoundObservation& r) { return r.verify_seconds; });
}

}  // namespace

// A verification latency is remembered for `verify_memory` rounds only: while
// OS3 falls back it verifies nothing, so without forgetting, one slow batch
// would keep it retrieving for real for the rest of the request (seen with
// exact dense search over 2M vectors). Forgotten, b becomes the real search
// latency r, speculation is tried again and b measured anew.
double Os3Scheduler::estimate_verify_seconds(const Os3State& state) const {
  const double b = remembered_verify_seconds(state, settings_);
  return b >= 0 ? b : std::max(0.0, real_search_seconds(state, settings_.latency_window));
}

double Os3Scheduler::estimate_retrieve_seconds(const Os3State& state) const {
  const double r = real_search_seconds(state, settings_.latency_window);
  return r >= 0 ? r : estimate_verify_seconds(state);
}

VerifyCost Os3Scheduler::estimate_verify_cost(const Os3State& state) const {
  // The last 16 real searches and every verification remembered (as in
  // estimate_verify_seconds()): enough batch sizes to fit a line, recent
  // enough to follow the machine. (The last 16 searches of either kind would
  // let a long fallback push the verifications out while b still remembers
  // one, and the flat line left would make a long round look cheap.)
  constexpr int kFitRealSearches = 16;
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  int reals = 0;
  std::size_t age = 0;
  const std::size_t horizon = verify_horizon(state, settings_);
  for (auto it = state.rounds.rbegin(); it != state.rounds.rend(); ++it, ++age) {
    double x = 0, y = 0;
    if (speculated(*it) && it->stride > 0 && age < horizon) {
      x = it->stride;
      y = it->verify_seconds;
    } else if (retrieved(*it) && reals < kFitRealSearches) {
      x = 1;
      y = it->retrieve_seconds;
      ++reals;
    } else {
      continue;
    }
    n += 1;
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const double var = n * sxx - sx * sx;
  if (n < 2 || var <= 1e-12) return {estimate_verify_seconds(state), 0.0};
  VerifyCost c;
  c.per_query = std::max(0.0, (n * sxy - sx * sy) / var);
  c.fixed = std::max(0.0, (sy - c.per_query * sx) / n);
  return c;
}

std::int32_t Os3Scheduler::next_stride(const SchedulerState& state) const {
  const auto& s = static_cast<const Os3State&>(state);
  if (s.rounds.empty()) return settings_.initial_stride;
  const double a = estimate_step_seconds(s);
  const double b = estimate_verify_seconds(s);
  if (!(a > 0) && !(b > 0)) return settings_.initial_stride;  // no timing yet: nothing to trade off
  Overlap overlap = s.rounds.back().asynchronous ? Overlap::pipelined : Overlap::none;
  if (settings_.objective == Os3Settings::Objective::Sync) overlap = Overlap::none;
  if (settings_.objective == Os3Settings::Objective::Async) overlap = Overlap::one_step;
  if (settings_.objective == Os3Settings::Objective::Pipelined) overlap = Overlap::pipelined;
  const double gamma = estimate_gamma(s);
  const VerifyCost cost = settings_.batch_cost ? estimate_verify_cost(s) : VerifyCost{b, 0.0};
  const std::int32_t best = best_stride(
      gamma, a, [&](std::int32_t stride) { return cost.at(stride); }, overlap, settings_.max_stride);
  const double r = estimate_retrieve_seconds(s);
  // The cap keeps strides short where an optimistic gamma would waste long
  // rounds; whether to speculate at all is judged on the hit rate itself
  // (not capped), or a cache right 4 times in 5 would look no better than
  // one right 3 times in 5. Speculation must promise to save 5% of a real
  // step at the optimistic hit rate, and risk losing at most 5% at the
  // cautious one: where a search costs a hundredth of a step (BM25) the
  // saving is within the estimates' noise, and where it costs a tenth (IVF
  // over the default corpus) one wrong guess before any trial, a rollback of
  // the whole context, costs 8% of a run.
  //
  // The batch's cost is judged as a line in its size fitted to recent
  // searches (real ones count as size 1), whatever `batch_cost` says for
  // choosing the stride: where a batch costs about what its queries cost one
  // by one (an IVF datastore's keys probe different lists) one verification
  // time for every stride makes long rounds look free, and speculation loses
  // about 20% there (kNN-LM, docs/BENCHMARKS.md).
  constexpr double kMargin = 0.05;
  const double hit_rate = estimate_hit_rate(s);
  const double real_step = a + r;
  const double judged_b = std::max(cost.at(best), estimate_verify_cost(s).at(best));
  const bool fall_back =
      settings_.fallback &&
      (seconds_per_kept_step(hit_rate, a, judged_b, best, overlap) >= (1 - kMargin) * real_step ||
       seconds_per_kept_step(estimate_cautious_hit_rate(s), a, judged_b, best, overlap) >=
           (1 + kMargin) * real_step);
  if (log_enabled(LogLevel::Trace)) {
    char line[160];
    std::snprintf(line, sizeof line, "os3: a %.2f ms, b %.2f ms, r %.2f ms, hit rate %.2f: stride %d%s",
                  1e3 * a, 1e3 * cost.at(best), 1e3 * r, hit_rate, best,
                  fall_back ? ", falling back to a real search" : "");
    log(LogLevel::Trace, line);
  }
  if (fall_back) return 0;
  // With no verification remembered (none yet, or forgotten after a
  // fallback), r stands in for b whatever the batch's size, and a long round
  // chosen on it can cost many searches (in traces: IVF over 2M vectors
  // opening with a round of 16 whose batch takes 3x a search, after which
  // OS3 falls back for most of the run, 0.91x; kNN-LM over an IVF datastore
  // retrying after a fallback with a round of 10 whose batch takes 7x a
  // search). A round of 2 measures how the batch grows for the price of two.
  if (remembered_verify_seconds(s, settings_) < 0) return std::min(best, 2);
  return best;
}

void Os3Scheduler::observe(SchedulerState& state, const RoundObservation& round) const {
  const auto keep = std::max(
      kHistory, static_cast<std::size_t>(
                    std::max({settings_.gamma_window, settings_.latency_window, settings_.verify_memory})));
  auto remember = [&](std::deque<RoundObservation>& rounds) {
    rounds.push_back(round);
    while (rounds.size() > keep)
      rounds.pop_front();
  };
  remember(static_cast<Os3State&>(state).rounds);
  if (settings_.share_estimates) {
    std::lock_guard lock(shared_mutex_);
    remember(shared_rounds_);
  }
}

}  // namespace ralm::schedulers
