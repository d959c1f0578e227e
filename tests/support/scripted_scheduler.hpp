// A speculation scheduler that plays strides from a script, 0 (search for
// real) among them, to drive a speculation loop through every transition:
// speculating, settling what is pending when the scheduler falls back, and
// speculating again.
#pragma once

#include <memory>
#include <vector>

#include "ralm/speculation_scheduler.hpp"

namespace ralm::test {

class ScriptedScheduler final : public SpeculationScheduler {
 public:
  explicit ScriptedScheduler(std::vector<std::int32_t> script) : script_(std::move(script)) {}
  struct State final : SchedulerState {
    std::size_t rounds = 0;
  };
  std::unique_ptr<SchedulerState> begin() const override { return std::make_unique<State>(); }
  std::int32_t next_stride(const SchedulerState& s) const override {
    return script_[static_cast<const State&>(s).rounds % script_.size()];
  }
  void observe(SchedulerState& s, const RoundObservation&) const override { ++static_cast<State&>(s).rounds; }

 private:
  std::vector<std::int32_t> script_;
};

}  // namespace ralm::test
