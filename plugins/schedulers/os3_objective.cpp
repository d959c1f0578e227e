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

double round_seconds(double gamma, double a, double b, std::int32_t s, bool asynchronous) {
  if (!asynchronous) return s * a + b;
  const double all_right = std::pow(gamma, s);
  return all_right * ((s - 1) * a + std::max(a, b)) + (1.0 - all_right) * (s * a + b);
}

double sync_objective(double gamma, double a, double b, std::int32_t s) {
  return expected_kept_steps(gamma, s) / round_seconds(gamma, a, b, s, false);
}

double async_objective(double gamma, double a, double b, std::int32_t s) {
  return expected_kept_steps(gamma, s) / round_seconds(gamma, a, b, s, true);
}

double seconds_per_kept_step(double gamma, double a, double b, std::int32_t s, bool asynchronous) {
  const double redo = (1.0 - std::pow(gamma, s)) * a;
  return (round_seconds(gamma, a, b, s, asynchronous) + redo) / expected_kept_steps(gamma, s);
}

std::int32_t best_stride(double gamma, double a, double b, bool asynchronous, std::int32_t max_stride) {
  std::int32_t best = 1;
  double best_value = -1.0;
  for (std::int32_t s = 1; s <= max_stride; ++s) {
    const double v = asynchronous ? async_objective(gamma, a, b, s) : sync_objective(gamma, a, b, s);
    if (v > best_value * (1.0 + 1e-12)) {
      best_value = v;
      best = s;
    }
  }
  return best;
}

}  // namespace ralm::schedulers
