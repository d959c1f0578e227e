#include "os3_objective.hpp"

#include <algorithm>
#include <cmath>

namespace ralm::schedulers {

double expected_kept_steps(double gamma, std::int32_t s) {
  double sum = 0.0, term = 1.0;
  for (std::int32_t i = 0; i < s; ++i) {
    sum += term;
    term *= gamma;
  }
  return sum;
}

double round_seconds(double gamma, double a, double b, std::int32_t s, Overlap overlap) {
  const double all_right = std::pow(gamma, s);
  switch (overlap) {
    case Overlap::none:
      return s * a + b;
    case Overlap::one_step:
      return all_right * ((s - 1) * a + std::max(a, b)) + (1.0 - all_right) * (s * a + b);
    case Overlap::pipelined:
      // A mismatch throws away what ran while the search was out: at least
      // one step, as the engine always runs one. Counting b alone where a
      // search is shorter than a step favours single-step rounds that lose to
      // retrieving for real: with the exact dense scan over the default
      // corpus, dense-spec-psa runs at 0.90-0.95x of its baseline that way
      // against 0.97-1.01x (docs/BENCHMARKS.md, RaLMSpec).
      return all_right * std::max(s * a, b) + (1.0 - all_right) * (s * a + std::max(a, b));
  }
  return s * a + b;
}

double round_seconds(double gamma, double a, double b, std::int32_t s, bool asynchronous) {
  return round_seconds(gamma, a, b, s, asynchronous ? Overlap::one_step : Overlap::none);
}

double sync_objective(double gamma, double a, double b, std::int32_t s) {
  return expected_kept_steps(gamma, s) / round_seconds(gamma, a, b, s, Overlap::none);
}

double async_objective(double gamma, double a, double b, std::int32_t s) {
  return expected_kept_steps(gamma, s) / round_seconds(gamma, a, b, s, Overlap::one_step);
}

double pipelined_objective(double gamma, double a, double b, std::int32_t s) {
  return expected_kept_steps(gamma, s) / round_seconds(gamma, a, b, s, Overlap::pipelined);
}

double seconds_per_kept_step(double gamma, double a, double b, std::int32_t s, Overlap overlap) {
  const double redo = (1.0 - std::pow(gamma, s)) * a;
  return (round_seconds(gamma, a, b, s, overlap) + redo) / expected_kept_steps(gamma, s);
}

double seconds_per_kept_step(double gamma, double a, double b, std::int32_t s, bool asynchronous) {
  return seconds_per_kept_step(gamma, a, b, s, asynchronous ? Overlap::one_step : Overlap::none);
}

std::int32_t best_stride(double gamma, double a, double b, Overlap overlap, std::int32_t max_stride) {
  return best_stride(
      gamma, a, [b](std::int32_t) { return b; }, overlap, max_stride);
}

std::int32_t best_stride(double gamma, double a, const std::function<double(std::int32_t)>& b,
                         Overlap overlap, std::int32_t max_stride) {
  std::int32_t best = 1;
  double best_value = -1.0;
  for (std::int32_t s = 1; s <= max_stride; ++s) {
    const double v = expected_kept_steps(gamma, s) / round_seconds(gamma, a, b(s), s, overlap);
    if (v > best_value * (1.0 + 1e-12)) {
      best_value = v;
      best = s;
    }
  }
  return best;
}

std::int32_t best_stride(double gamma, double a, double b, bool asynchronous, std::int32_t max_stride) {
  return best_stride(gamma, a, b, asynchronous ? Overlap::one_step : Overlap::none, max_stride);
}

}  // namespace ralm::schedulers
