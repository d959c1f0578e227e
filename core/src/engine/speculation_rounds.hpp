// The round structure RaLMSpec's two speculators share (passages,
// speculation.cpp; kNN-LM's neighbours, neighbour_speculation.cpp): retrieve
// for real until the cache can stand in; then speculate up to the
// scheduler's stride and verify the round; stride 0 settles what is pending
// and retrieves for real; a request that ends inside a round verifies what
// is left.
//
// A speculator provides: done() (the request has ended), pending() (steps
// speculated and not verified), cache_ready(), next_stride(), real_step(),
// speculate(), settle_pending() (verify and settle every pending step) and
// verify_round(n) (verify the first n, synchronously or not, and settle).
#pragma once

#include <cstddef>

namespace ralm::core {

template <class Speculator>
void run_speculation_rounds(Speculator& s) {
  while (!s.done() || s.pending() > 0) {
    if (s.done()) {
      s.settle_pending();
      continue;
    }
    if (s.pending() == 0 && !s.cache_ready()) {
      s.real_step();
      continue;
    }
    const std::size_t stride = s.next_stride();
    if (stride == 0) {
      // Speculation does not pay here: settle what is pending, then
      // retrieve for real.
      if (s.pending() == 0) {
        s.real_step();
      } else {
        s.settle_pending();
      }
      continue;
    }
    if (s.pending() < stride) {
      s.speculate();
      continue;
    }
    s.verify_round(stride);
  }
}

}  // namespace ralm::core
