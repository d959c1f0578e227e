// Timing helpers the kernel benchmarks share.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace ralm::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Median time of `fn` over repetitions filling about `budget` seconds (at
// least min_reps, at most 200).
inline double time_median(const std::function<void()>& fn, double budget = 0.25, int min_reps = 3) {
  std::vector<double> t;
  const auto start = Clock::now();
  while (static_cast<int>(t.size()) < min_reps || seconds_since(start) < budget) {
    const auto s = Clock::now();
    fn();
    t.push_back(seconds_since(s));
    if (t.size() >= 200) break;
  }
  return median(t);
}

}  // namespace ralm::bench
