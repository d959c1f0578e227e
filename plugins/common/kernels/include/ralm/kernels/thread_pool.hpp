// The kernels' worker threads, rather than OpenMP's.
//
// Why not OpenMP: libgomp's threads spin at barriers (up to ~300k polls by
// default, before sleeping), and the wait policy can only be chosen through
// OMP_WAIT_POLICY before libgomp starts, which a plugin loaded into someone
// else's process does not control. On this shared 2-core machine, with
// another process holding a core, 2 spinning OpenMP threads run a tiny model
// 28 times slower than 1 thread: each barrier spins while the thread it waits
// for is descheduled. Here a waiting thread spins for at most kSpin (a few
// hundred microseconds, less than one scheduling quantum), then sleeps on a
// condition variable; an idle pool burns no CPU, so FAISS's OpenMP threads
// in the same process have the cores to themselves.
//
// Each participating thread takes task indices one at a time from its own
// share of the range, then from what is left of the others' shares: which
// thread computes a task never changes its result (kernels.hpp's invariant),
// so the bits do not depend on the thread count or the scheduling.
#pragma once

#include <cstdint>
#include <functional>

namespace ralm::kernels {

// Work (multiply-adds, or elements for element-wise steps) below which a
// step runs on the calling thread alone: waking a sleeping worker costs
// microseconds, more than a small product takes.
inline constexpr std::int64_t kMinParallelWork = std::int64_t{1} << 18;

// Runs task(i) for every i in [0, tasks) on up to `threads` threads, the
// calling thread among them, and returns when all are done. One job runs at
// a time in the process (concurrent callers wait their turn); a call from
// inside a task runs serially. Tasks must not throw.
void parallel_for(int threads, std::int64_t tasks, const std::function<void(std::int64_t)>& task);

}  // namespace ralm::kernels
