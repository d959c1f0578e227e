// The round structure RaLMSpec's two speculators share (passages,
// speculation.cpp; kNN-LM's neighbours, neighbour_speculation.cpp): retrieve
// for real until the cache can stand in; then speculate up to the
// scheduler's stride and verify the round; stride 0 settles what is pending
// and retrieves for real; a request that ends inside a round verifies what
// is left.
//
// Both speculators are friends of run_speculation_rounds() and close_round()
// and name their parts alike: gen_ (the Generation), pending_ (steps
// speculated and not verified), scheduler_ and scheduler_state_, settings_,
// result_, and the steps
// cache_ready(), real_step(), speculate(), verify(n) (a batched search of the
// first n), verify_while_speculating(n) and settle(n, verification, async).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <future>
#include <vector>

#include "ralm/core/engine/request_result.hpp"
#include "ralm/speculation_scheduler.hpp"
#include "ralm/types.hpp"
#include "stopwatch.hpp"

namespace ralm::core {

// The outcome of one batched search over a round's queries or keys.
struct Verification {
  std::vector<std::vector<Hit>> truth;  // per step; empty for a step that needs none (a blank query)
  double seconds = 0;                   // the search's own latency
};

template <class Speculator>
void run_speculation_rounds(Speculator& s) {
  const auto settle_pending = [&s] { s.settle(s.pending_.size(), s.verify(s.pending_.size()), false); };
  while (!s.gen_.done() || !s.pending_.empty()) {
    if (s.gen_.done()) {
      settle_pending();
      continue;
    }
    if (s.pending_.empty() && !s.cache_ready()) {
      s.real_step();
      continue;
    }
    const auto stride = static_cast<std::size_t>(std::max(0, s.scheduler_.next_stride(*s.scheduler_state_)));
    if (stride == 0) {
      // Speculation does not pay here: settle what is pending, then
      // retrieve for real.
      if (s.pending_.empty()) {
        s.real_step();
      } else {
        settle_pending();
      }
      continue;
    }
    if (s.pending_.size() < stride) {
      s.speculate();
      continue;
    }
    if (s.settings_.speculation.async_verification) {
      s.verify_while_speculating(stride);
    } else {
      s.settle(stride, s.verify(stride), false);
    }
  }
}

// Books a settled round of n steps: `examined` of them compared with the
// truth (taking `step_seconds` together), `accepted` right, the leading
// `agreed` kept. Counts it, tells the scheduler, and when every step agreed
// drops the n from pending_ and returns true; otherwise counts a rollback,
// which the caller makes.
template <class Speculator>
bool close_round(Speculator& s, std::size_t n, std::size_t agreed, std::size_t examined, std::size_t accepted,
                 double step_seconds, double verify_seconds, bool asynchronous) {
  s.result_.speculation.rounds += 1;
  s.result_.speculation.speculated += static_cast<std::int64_t>(examined);
  s.result_.speculation.accepted += static_cast<std::int64_t>(accepted);
  RoundObservation round;
  round.stride = static_cast<std::int32_t>(n);
  round.accepted = static_cast<std::int32_t>(agreed);
  round.step_seconds = examined > 0 ? step_seconds / static_cast<double>(examined) : 0.0;
  round.verify_seconds = verify_seconds;
  round.asynchronous = asynchronous;
  s.scheduler_.observe(*s.scheduler_state_, round);
  if (agreed == n) {
    s.pending_.erase(s.pending_.begin(), s.pending_.begin() + static_cast<std::ptrdiff_t>(n));
    return true;
  }
  ++s.result_.speculation.rollbacks;
  return false;
}

// Asynchronous verification's overlap: while `future` (a batched search on
// another thread) is out, runs `speculate` once, and again while the search
// is not back, at most `limit` times in all and while `more()` holds. Then
// waits for it, booking the wait as verification and the search time it hid
// as overlapped.
template <class More, class Speculate>
Verification speculate_while_verifying(std::future<Verification>& future, std::size_t limit, More more,
                                       Speculate speculate, PhaseTimes& times) {
  try {
    for (std::size_t n = 0; n < limit && more() &&
                            (n == 0 || future.wait_for(std::chrono::seconds(0)) != std::future_status::ready);
         ++n) {
      speculate();
    }
  } catch (...) {
    future.wait();  // never leave the search running on a retriever or policy we may destroy
    throw;
  }
  const auto t0 = Clock::now();
  Verification v = future.get();
  const double waited = seconds_since(t0);
  times.verification += waited;
  times.overlapped += std::max(0.0, v.seconds - waited);
  return v;
}

}  // namespace ralm::core
