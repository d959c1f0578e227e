// The SpeculationScheduler interface: how many steps to speculate before the
// next verification.
#pragma once

#include <cstdint>
#include <memory>

#include "ralm/component.hpp"

namespace ralm {

// What one speculation round showed: the engine reports it after verifying.
struct RoundObservation {
  std::int32_t stride = 0;    // steps speculated in the round (s)
  std::int32_t accepted = 0;  // leading steps whose speculated passages were right
  // Mean wall time of one speculation step (a), and of the round's batched
  // verification (b), in seconds.
  double step_seconds = 0.0;
  double verify_seconds = 0.0;
  bool asynchronous = false;  // verification overlapped the next step
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
  // The stride s >= 1 for the next round.
  virtual std::int32_t next_stride(const SchedulerState& state) const = 0;
  virtual void observe(SchedulerState& state, const RoundObservation& round) const = 0;
};

}  // namespace ralm
