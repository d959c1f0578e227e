// The OS³ scheduler: picks each round's speculation stride by maximising the
// objective in os3_objective.hpp with online estimates of a, b and gamma.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>

#include "ralm/speculation_scheduler.hpp"

namespace ralm::schedulers {

struct Os3Settings {
  std::int32_t initial_stride = 1;  // before any round is observed (the paper: 1)
  std::int32_t max_stride = 16;
  std::int32_t gamma_window = 5;  // rounds in the gamma estimate (the paper: 5)
  // Upper bound on gamma (the paper: 0.6; 1 disables it). None by default:
  // with exact dense search over 2M vectors (gamma about 0.82, a 3-8 ms,
  // b 100-250 ms) the objective peaks at strides of 8-12, and a cap of 0.6
  // holds them at 5-6 (docs/BENCHMARKS.md).
  double gamma_cap = 1.0;
  std::int32_t latency_window = 1;  // rounds in the a and b estimates, a median (the paper: the last one)
  // Rounds after which the last verification latency b is forgotten and the
  // real search latency r stands in for it (see estimate_verify_seconds).
  std::int32_t verify_memory = 8;
  // Auto: Sync, or Pipelined (the engine's asynchronous verification) when
  // the engine reports asynchronous rounds; Async is the paper's one-step
  // overlap.
  enum class Objective { Auto, Sync, Async, Pipelined } objective = Objective::Auto;
  // Return stride 0 (retrieve for real) when the best stride's expected cost
  // per kept step, rollback included, is no lower than a real step's a + r.
  bool fallback = true;
  // Verification searches a batch of s queries, and a batch costs more than
  // one query: fit b(s) = b0 + b1·s over recent rounds (real retrievals count
  // as s = 1) instead of taking one b for every s, as the paper does. Off by
  // default: fitted on the small batches, which cost nearly as much as large
  // ones, the line makes OS3 choose strides too short (exact dense over 2M
  // vectors: 1.44x against 1.84x without it, docs/BENCHMARKS.md).
  bool batch_cost = false;
  // Start each request from the run's latest observations instead of from
  // nothing: a request of 16 retrievals is over before OS3 has learned.
  bool share_estimates = true;
};

// b(s) = fixed + per_query·s.
struct VerifyCost {
  double fixed = 0, per_query = 0;
  double at(std::int32_t s) const { return fixed + per_query * s; }
};

class Os3State final : public SchedulerState {
 public:
  std::deque<RoundObservation> rounds;  // newest last
};

class Os3Scheduler final : public SpeculationScheduler {
 public:
  explicit Os3Scheduler(Os3Settings settings) : settings_(settings) {}

  std::unique_ptr<SchedulerState> begin() const override;
  std::int32_t next_stride(const SchedulerState& state) const override;
  void observe(SchedulerState& state, const RoundObservation& round) const override;

  // The estimates next_stride() would use, for tests and logs.
  // gamma for the stride: successes / trials over the gamma window, capped;
  // the hit rate for the fallback: (successes + 1) / (trials + 1) over every
  // round remembered, uncapped.
  double estimate_gamma(const Os3State& state) const;
  double estimate_hit_rate(const Os3State& state) const;
  // (successes + 1) / (trials + 2) over the same rounds.
  double estimate_cautious_hit_rate(const Os3State& state) const;
  double estimate_step_seconds(const Os3State& state) const;
  // b: over the latency window's speculation rounds (real search latency r
  // when there are none yet); r: over its real retrievals (b when none).
  double estimate_verify_seconds(const Os3State& state) const;
  double estimate_retrieve_seconds(const Os3State& state) const;
  // The least-squares line through the last rounds' (batch size, latency);
  // with fewer than two batch sizes seen, b for every s.
  VerifyCost estimate_verify_cost(const Os3State& state) const;

 private:
  struct Trials {
    double successes = 0, trials = 0;
  };
  Trials count_trials(const Os3State& state, std::int32_t window) const;

  Os3Settings settings_;
  // With share_estimates: every request's observations, newest last.
  mutable std::mutex shared_mutex_;
  mutable std::deque<RoundObservation> shared_rounds_;
};

}  // namespace ralm::schedulers
