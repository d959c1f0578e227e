// The fixed scheduler: the same speculation stride every round (RaLMSpec's
// Table 5 rows s = 2, 4, 8).
#pragma once

#include <cstdint>

#include "ralm/speculation_scheduler.hpp"

namespace ralm::schedulers {

class FixedScheduler final : public SpeculationScheduler {
 public:
  explicit FixedScheduler(std::int32_t stride) : stride_(stride) {}
  std::unique_ptr<SchedulerState> begin() const override { return std::make_unique<SchedulerState>(); }
  std::int32_t next_stride(const SchedulerState&) const override { return stride_; }
  void observe(SchedulerState&, const RoundObservation&) const override {}

 private:
  std::int32_t stride_;
};

}  // namespace ralm::schedulers
