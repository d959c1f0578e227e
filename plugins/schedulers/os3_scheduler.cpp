#include "os3_scheduler.hpp"

#include <algorithm>

#include "os3_objective.hpp"

namespace ralm::schedulers {

std::unique_ptr<SchedulerState> Os3Scheduler::begin() const {
  return std::make_unique<Os3State>();
}

// Each round is a run of Bernoulli trials that stops at the first failure:
// `accepted` successes, then one failure unless the whole stride was right.
// The maximum-likelihood gamma over the window is successes / trials.
// Only rounds that tried something count (a real retrieval the engine could
// not check against the cache has stride 0).
double Os3Scheduler::estimate_gamma(const Os3State& state) const {
  double successes = 0, trials = 0;
  std::int32_t rounds = 0;
  for (auto it = state.rounds.rbegin(); it != state.rounds.rend() && rounds < settings_.gamma_window; ++it) {
    if (it->stride == 0) continue;
    successes += it->accepted;
    trials += it->accepted + (it->accepted < it->stride ? 1 : 0);
    ++rounds;
  }
  const double gamma = trials > 0 ? successes / trials : 1.0;
  return std::min(gamma, settings_.gamma_cap);
}

namespace {

// Rounds kept for the latency estimates: real retrievals and speculation
// rounds interleave, so the window of each kind is looked for further back.
constexpr std::size_t kHistory = 64;

// The mean of `field` over the newest `window` rounds that `counts`.
template <class Counts, class Field>
double recent_mean(const std::deque<RoundObservation>& rounds, std::int32_t window, Counts counts,
                   Field field) {
  double sum = 0;
  std::int32_t n = 0;
  for (auto it = rounds.rbegin(); it != rounds.rend() && n < window; ++it) {
    if (!counts(*it)) continue;
    sum += field(*it);
    ++n;
  }
  return n ? sum / n : -1.0;  // -1: nothing observed
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
  return std::max(0.0, recent_mean(state.rounds, settings_.latency_window, any,
                                   [](const RoundObservation& r) { return r.step_seconds; }));
}

double Os3Scheduler::estimate_verify_seconds(const Os3State& state) const {
  const double b = recent_mean(state.rounds, settings_.latency_window, speculated,
                               [](const RoundObservation& r) { return r.verify_seconds; });
  if (b >= 0) return b;
  return std::max(0.0, recent_mean(state.rounds, settings_.latency_window, retrieved,
                                   [](const RoundObservation& r) { return r.retrieve_seconds; }));
}

double Os3Scheduler::estimate_retrieve_seconds(const Os3State& state) const {
  const double r = recent_mean(state.rounds, settings_.latency_window, retrieved,
                               [](const RoundObservation& o) { return o.retrieve_seconds; });
  return r >= 0 ? r : estimate_verify_seconds(state);
}

VerifyCost Os3Scheduler::estimate_verify_cost(const Os3State& state) const {
  // The last 16 searches of either kind: enough batch sizes to fit a line,
  // recent enough to follow the machine.
  constexpr int kFitRounds = 16;
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (auto it = state.rounds.rbegin(); it != state.rounds.rend() && n < kFitRounds; ++it) {
    double x = 0, y = 0;
    if (speculated(*it) && it->stride > 0) {
      x = it->stride;
      y = it->verify_seconds;
    } else if (retrieved(*it)) {
      x = 1;
      y = it->retrieve_seconds;
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
  if (settings_.fallback &&
      seconds_per_kept_step(gamma, a, cost.at(best), best, overlap) >= a + estimate_retrieve_seconds(s)) {
    return 0;
  }
  return best;
}

void Os3Scheduler::observe(SchedulerState& state, const RoundObservation& round) const {
  auto& s = static_cast<Os3State&>(state);
  s.rounds.push_back(round);
  const auto keep = std::max(
      kHistory, static_cast<std::size_t>(std::max(settings_.gamma_window, settings_.latency_window)));
  while (s.rounds.size() > keep)
    s.rounds.pop_front();
}

}  // namespace ralm::schedulers
