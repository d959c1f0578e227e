// The SpeculationScheduler interface: how many steps to speculate before the
// next verification.
#pragma once

#include <cstdint>
#include <memory>

#include "ralm/component.hpp"

namespace ralm {

// What one speculation round showed: the engine reports it after verifying.
//
// A step the engine retrieved for real (the cache too small, or the
// scheduler chose stride 0) is reported too, with `real` set: its
// `retrieve_seconds` is the latency of one real search, and when the engine
// could check what the cache would have said, `stride` is 1 and `accepted`
// tells whether the cache was right (a free trial of gamma); otherwise
// `stride` is 0.
struct RoundObservation {
  std::int32_t stride = 0;    // steps speculated in the round (s)
  std::int32_t accepted = 0;  // leading steps whose speculated passages were right
  // Mean wall time of one speculation step (a), and of the round's batched
  // verification (b), in seconds.
  double step_seconds = 0.0;
  double verify_seconds = 0.0;
  bool asynchronous = false;      // verification overlapped the next step
  bool real = false;              // a real retrieval, not a speculation round
  double retrieve_seconds = 0.0;  // with `real`: the one search's latency
};

// A scheduler's per-request observations.
class SchedulerState {
 public:
  virtual ~SchedulerState();
};

class SpeculationScheduler : public Component {
 public:
  static constexpr const char* kKind = "scheduler";
  ~SpeculationScheduler() override;

  virtual std::unique_ptr<SchedulerState> begin() const = 0;
  // The stride s >= 1 for the next round, or 0 to retrieve for real at the
  // next step because speculation would not pay (retrieval is cheap, or the
  // cache is too often wrong).
  virtual std::int32_t next_stride(const SchedulerState& state) const = 0;
  virtual void observe(SchedulerState& state, const RoundObservation& round) const = 0;
};

}  // namespace ralm
