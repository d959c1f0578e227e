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
double Os3Scheduler::estimate_gamma(const Os3State& state) const {
  double successes = 0, trials = 0;
  const auto n = std::min<std::size_t>(state.rounds.size(), static_cast<std::size_t>(settings_.gamma_window));
  for (auto it = state.rounds.end() - static_cast<std::ptrdiff_t>(n); it != state.rounds.end(); ++it) {
    successes += it->accepted;
    trials += it->accepted + (it->accepted < it->stride ? 1 : 0);
  }
  const double gamma = trials > 0 ? successes / trials : 1.0;
  return std::min(gamma, settings_.gamma_cap);
}

namespace {
template <class Field>
double recent_mean(const std::deque<RoundObservation>& rounds, std::int32_t window, Field field) {
  const auto n = std::min<std::size_t>(rounds.size(), static_cast<std::size_t>(window));
  double sum = 0;
  for (auto it = rounds.end() - static_cast<std::ptrdiff_t>(n); it != rounds.end(); ++it)
    sum += field(*it);
  return n ? sum / static_cast<double>(n) : 0.0;
}
}  // namespace

double Os3Scheduler::estimate_step_seconds(const Os3State& state) const {
  return recent_mean(state.rounds, settings_.latency_window,
                     [](const RoundObservation& r) { return r.step_seconds; });
}

double Os3Scheduler::estimate_verify_seconds(const Os3State& state) const {
  return recent_mean(state.rounds, settings_.latency_window,
                     [](const RoundObservation& r) { return r.verify_seconds; });
}

std::int32_t Os3Scheduler::next_stride(const SchedulerState& state) const {
  const auto& s = static_cast<const Os3State&>(state);
  if (s.rounds.empty()) return settings_.initial_stride;
  const double a = estimate_step_seconds(s);
  const double b = estimate_verify_seconds(s);
  if (!(a > 0) && !(b > 0)) return settings_.initial_stride;  // no timing yet: nothing to trade off
  bool asynchronous = s.rounds.back().asynchronous;
  if (settings_.objective == Os3Settings::Objective::Sync) asynchronous = false;
  if (settings_.objective == Os3Settings::Objective::Async) asynchronous = true;
  return best_stride(estimate_gamma(s), a, b, asynchronous, settings_.max_stride);
}

void Os3Scheduler::observe(SchedulerState& state, const RoundObservation& round) const {
  auto& s = static_cast<Os3State&>(state);
  s.rounds.push_back(round);
  const auto keep = static_cast<std::size_t>(std::max(settings_.gamma_window, settings_.latency_window));
  while (s.rounds.size() > keep)
    s.rounds.pop_front();
}

}  // namespace ralm::schedulers
