// The engine's clock for its phase times.
#pragma once

#include <chrono>

namespace ralm::core {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace ralm::core
