// OS³'s objective (RaLMSpec, Zhang et al. 2024): expected verified steps per
// second for a speculation stride s, given the latency a of one speculation
// step, b of one batched verification, and the probability gamma that a
// speculated passage is right.
#pragma once

#include <cstdint>
#include <functional>

namespace ralm::schedulers {

// 1 + gamma + ... + gamma^(s-1) = (1 - gamma^s) / (1 - gamma), the expected
// number of steps a round of stride s keeps (written as a sum, so gamma = 1
// needs no special case).
double expected_kept_steps(double gamma, std::int32_t s);

// Synchronous verification: (1-γ^s) / ((1-γ)(s·a + b)).
double sync_objective(double gamma, double a, double b, std::int32_t s);

// Asynchronous verification, overlapping the next step:
// (1-γ^s) / ((1-γ)·[γ^s((s-1)a + max(a,b)) + (1-γ^s)(s·a + b)]).
double async_objective(double gamma, double a, double b, std::int32_t s);

// How verification overlaps speculation: not at all; by one step (the
// paper's asynchronous verification); or pipelined, the engine's: the next
// round's steps run while the search is out (one at least), so a round that
// comes back right costs max(s·a, b) and one that does not costs
// s·a + max(a, b) (the overlapped steps are thrown away).
enum class Overlap { none, one_step, pipelined };

// Pipelined: (1-γ^s) / ((1-γ)·[γ^s·max(s·a, b) + (1-γ^s)(s·a + max(a, b))]).
double pipelined_objective(double gamma, double a, double b, std::int32_t s);

// The expected wall time of one round of stride s (the denominators above
// without the (1-γ) factor).
double round_seconds(double gamma, double a, double b, std::int32_t s, Overlap overlap);
double round_seconds(double gamma, double a, double b, std::int32_t s, bool asynchronous);

// Expected seconds per kept step of speculating with stride s, counting the
// step that is redone with the true passage after a mismatch (probability
// 1-γ^s, cost a), which the paper's objective leaves out. Retrieving for real
// costs a + r per step; speculation pays only when this is lower.
double seconds_per_kept_step(double gamma, double a, double b, std::int32_t s, Overlap overlap);
double seconds_per_kept_step(double gamma, double a, double b, std::int32_t s, bool asynchronous);

// The stride in [1, max_stride] maximising the objective; ties go to the
// smaller stride (less work lost on a mismatch).
std::int32_t best_stride(double gamma, double a, double b, Overlap overlap, std::int32_t max_stride);
std::int32_t best_stride(double gamma, double a, double b, bool asynchronous, std::int32_t max_stride);

// The same with a verification latency that depends on the stride (a batch
// of s queries), b(s).
std::int32_t best_stride(double gamma, double a, const std::function<double(std::int32_t)>& b,
                         Overlap overlap, std::int32_t max_stride);

}  // namespace ralm::schedulers
