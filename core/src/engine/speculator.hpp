// The contract between the speculation round loop (speculation_rounds.cpp)
// and one kind of speculation: what RaLMSpec's speculative passages
// (passage_speculator.cpp) and speculative kNN-LM's neighbours
// (neighbour_speculator.cpp) each supply. A third speculator implements this
// class and reuses the loop: when to speculate, how a round is verified
// (synchronously, or on a second thread while speculating further), how it is
// booked and what the scheduler learns are the loop's; what a step is, what
// its truth is and how a wrong one is redone are the speculator's.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

#include "ralm/speculation_scheduler.hpp"
#include "ralm/types.hpp"

namespace ralm::core {

// The outcome of one batched search over a round's steps.
struct Verification {
  std::vector<std::vector<Hit>> truth;  // per step; empty for a step that needs none (a blank query)
  double seconds = 0;                   // the search's own latency
};

// How the first n pending steps compared with their truth.
struct Judgement {
  std::size_t agreed = 0;    // leading steps that stand; the first wrong one is step `agreed`
  std::size_t examined = 0;  // steps whose speculation was checked (a step that needs no check is not)
  std::size_t accepted = 0;  // examined steps that were right
  double step_seconds = 0;   // wall time of the examined steps
};

class Speculator {
 public:
  virtual ~Speculator() = default;

  // Whether the request has decided its last step (it may still have steps
  // pending verification).
  virtual bool done() const = 0;
  // Whether the cache holds enough to stand in for a search (a draft
  // retriever always can).
  virtual bool cache_ready() const = 0;
  // One step with a real search, as the baseline runs it. Returns what the
  // scheduler should learn from it (nothing when the step needed no search).
  virtual std::optional<RoundObservation> real_step() = 0;
  // One step from the cache, kept pending until a verification settles it.
  virtual void speculate() = 0;
  // Steps speculated and not settled yet.
  virtual std::size_t pending() const = 0;

  // The batched search for the first n pending steps, as a job that may run
  // on another thread while speculate() runs on this one: it owns copies of
  // what it searches for and calls only the search, which the SDK requires to
  // be thread-safe.
  virtual std::function<Verification()> verification(std::size_t n) const = 0;
  // Compares the first n pending steps with `v`, and lets the cache learn
  // from what the search found.
  virtual Judgement judge(std::size_t n, const Verification& v) = 0;
  // Keeps the first n pending steps: each agreed with its truth.
  virtual void accept(std::size_t n) = 0;
  // Keeps the pending steps before `wrong` (each agreed with its truth),
  // throws away step `wrong` and every step after it, and redoes that step
  // with its truth.
  virtual void roll_back(std::size_t wrong, const Verification& v) = 0;
};

}  // namespace ralm::core
