// The round loop every speculator shares (speculator.hpp): retrieve for real
// until the cache can stand in; then speculate up to the scheduler's number
// of steps and verify the round with one batched search; a round of 0 steps
// settles what is pending and retrieves for real; a request that ends inside
// a round verifies what is left. Asynchronous verification runs the search on
// a second thread and keeps speculating meanwhile.
//
// Only this thread touches the model, the policy and the cache; the second
// thread runs the speculator's verification job alone.
#pragma once

#include "ralm/core/engine/request_result.hpp"
#include "speculator.hpp"

namespace ralm::core {

void run_speculation_rounds(Speculator& speculator, const SpeculationScheduler& scheduler,
                            bool async_verification, RequestResult& result);

}  // namespace ralm::core
