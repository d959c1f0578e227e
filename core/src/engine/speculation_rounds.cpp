#include "speculation_rounds.hpp"

#include <algorithm>
#include <chrono>
#include <future>

#include "stopwatch.hpp"

namespace ralm::core {

namespace {

class SpeculationRounds {
 public:
  SpeculationRounds(Speculator& speculator, const SpeculationScheduler& scheduler, bool async_verification,
                    RequestResult& result)
      : s_(speculator),
        scheduler_(scheduler),
        state_(scheduler.begin()),
        async_(async_verification),
        result_(result) {}

  void run() {
    while (!s_.done() || s_.pending() > 0) {
      if (s_.done()) {
        settle_pending();
        continue;
      }
      if (s_.pending() == 0 && !s_.cache_ready()) {
        real_step();
        continue;
      }
      const auto steps = static_cast<std::size_t>(std::max(0, scheduler_.next_stride(*state_)));
      if (steps == 0) {
        // Speculation does not pay here: settle what is pending, then
        // retrieve for real.
        if (s_.pending() == 0) {
          real_step();
        } else {
          settle_pending();
        }
        continue;
      }
      if (s_.pending() < steps) {
        s_.speculate();
      } else if (async_) {
        verify_while_speculating(steps);
      } else {
        settle(steps, verify(steps), false);
      }
    }
  }

 private:
  void real_step() {
    if (const std::optional<RoundObservation> round = s_.real_step()) {
      ++result_.speculation.real;
      scheduler_.observe(*state_, *round);
    }
  }

  void settle_pending() { settle(s_.pending(), verify(s_.pending()), false); }

  Verification verify(std::size_t n) {
    Verification v = s_.verification(n)();
    result_.times.verification += v.seconds;
    return v;
  }

  // Starts the search for the first n steps on another thread and keeps
  // speculating meanwhile: one step at least (the paper's asynchronous
  // verification), and more while the search is not back, up to a round's
  // worth, so that a search much slower than a step overlaps the whole next
  // round instead of one step of it. Then waits for it, booking the wait as
  // verification and the search time it hid as overlapped, and settles the n.
  void verify_while_speculating(std::size_t n) {
    std::future<Verification> future = std::async(std::launch::async, s_.verification(n));
    try {
      for (std::size_t i = 0;
           i < n && !s_.done() &&
           (i == 0 || future.wait_for(std::chrono::seconds(0)) != std::future_status::ready);
           ++i) {
        s_.speculate();
      }
    } catch (...) {
      future.wait();  // never leave the search running on a retriever or policy we may destroy
      throw;
    }
    const auto t0 = Clock::now();
    Verification v = future.get();
    const double waited = seconds_since(t0);
    result_.times.verification += waited;
    result_.times.overlapped += std::max(0.0, v.seconds - waited);
    settle(n, std::move(v), true);
  }

  // Books the round, tells the scheduler, and keeps the steps that agreed;
  // at the first that did not, the speculator redoes it with its truth.
  void settle(std::size_t n, const Verification& v, bool asynchronous) {
    const Judgement j = s_.judge(n, v);
    result_.speculation.rounds += 1;
    result_.speculation.speculated += static_cast<std::int64_t>(j.examined);
    result_.speculation.accepted += static_cast<std::int64_t>(j.accepted);
    RoundObservation round;
    round.stride = static_cast<std::int32_t>(n);
    round.accepted = static_cast<std::int32_t>(j.agreed);
    round.step_seconds = j.examined > 0 ? j.step_seconds / static_cast<double>(j.examined) : 0.0;
    round.verify_seconds = v.seconds;
    round.asynchronous = asynchronous;
    scheduler_.observe(*state_, round);
    if (j.agreed == n) {
      s_.accept(n);
      return;
    }
    ++result_.speculation.rollbacks;
    s_.roll_back(j.agreed, v);
  }

  Speculator& s_;
  const SpeculationScheduler& scheduler_;
  std::unique_ptr<SchedulerState> state_;
  const bool async_;
  RequestResult& result_;
};

}  // namespace

void run_speculation_rounds(Speculator& speculator, const SpeculationScheduler& scheduler,
                            bool async_verification, RequestResult& result) {
  SpeculationRounds(speculator, scheduler, async_verification, result).run();
}

}  // namespace ralm::core
