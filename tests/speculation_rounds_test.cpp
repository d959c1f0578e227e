// The speculation round loop against a speculator written only to its
// interface (core/src/engine/speculator.hpp): a request of scripted steps
// whose cache guesses wrong where the test says. Whatever the scheduler's
// rounds and whether verification is synchronous, the steps the request keeps
// are the truth, and the loop books every round, rollback and real step.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "scripted_scheduler.hpp"
#include "speculation_rounds.hpp"
#include "speculator.hpp"

namespace {

using ralm::Hit;
using ralm::RoundObservation;
using ralm::core::Judgement;
using ralm::core::RequestResult;
using ralm::core::Verification;
using ralm::test::ScriptedScheduler;

// Step i's truth is 100 + i; the cache guesses it right except at the steps
// in `wrong`, and stands in once the first real step has run.
class ScriptedSpeculator final : public ralm::core::Speculator {
 public:
  ScriptedSpeculator(std::size_t steps, std::set<std::size_t> wrong)
      : steps_(steps), wrong_(std::move(wrong)) {}

  bool done() const override { return position_ == steps_; }
  bool cache_ready() const override { return real_steps_ > 0; }
  std::size_t pending() const override { return pending_.size(); }

  std::optional<RoundObservation> real_step() override {
    ++real_steps_;
    kept_.push_back(truth(position_++));
    RoundObservation round;
    round.real = true;
    return round;
  }

  void speculate() override {
    const auto guess = static_cast<ralm::PassageId>(wrong_.count(position_) ? 0 : truth(position_));
    pending_.push_back({position_++, guess});
    ++speculated_;
  }

  std::function<Verification()> verification(std::size_t n) const override {
    std::vector<std::size_t> positions;
    for (std::size_t i = 0; i < n; ++i)
      positions.push_back(pending_[i].position);
    return [this, positions] {
      {
        std::lock_guard lock(threads_mutex_);
        verification_threads_.insert(std::this_thread::get_id());
      }
      Verification v;
      for (const std::size_t p : positions)
        v.truth.push_back({Hit{truth(p), 1.0f}});
      return v;
    };
  }

  Judgement judge(std::size_t n, const Verification& v) override {
    Judgement j;
    while (j.agreed < n && pending_[j.agreed].guess == v.truth[j.agreed][0].id)
      ++j.agreed;
    j.examined = std::min(n, j.agreed + 1);
    j.accepted = j.agreed;
    return j;
  }

  void accept(std::size_t n) override {
    for (std::size_t i = 0; i < n; ++i)
      kept_.push_back(pending_[i].guess);
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  }

  void roll_back(std::size_t wrong, const Verification& v) override {
    for (std::size_t i = 0; i < wrong; ++i)
      kept_.push_back(pending_[i].guess);
    position_ = pending_[wrong].position;
    pending_.clear();
    kept_.push_back(v.truth[wrong][0].id);
    ++position_;
  }

  static ralm::PassageId truth(std::size_t position) { return static_cast<ralm::PassageId>(100 + position); }
  std::vector<ralm::PassageId> expected() const {
    std::vector<ralm::PassageId> all;
    for (std::size_t i = 0; i < steps_; ++i)
      all.push_back(truth(i));
    return all;
  }

  const std::vector<ralm::PassageId>& kept() const { return kept_; }
  std::size_t real_steps() const { return real_steps_; }
  std::size_t speculated() const { return speculated_; }
  std::set<std::thread::id> verification_threads() const {
    std::lock_guard lock(threads_mutex_);
    return verification_threads_;
  }

 private:
  struct Pending {
    std::size_t position;
    ralm::PassageId guess;
  };
  const std::size_t steps_;
  const std::set<std::size_t> wrong_;
  std::size_t position_ = 0;
  std::size_t real_steps_ = 0;
  std::size_t speculated_ = 0;
  std::deque<Pending> pending_;
  std::vector<ralm::PassageId> kept_;
  mutable std::mutex threads_mutex_;
  mutable std::set<std::thread::id> verification_threads_;
};

TEST(SpeculationRounds, BooksEachRoundAndRedoesTheFirstWrongStep) {
  // One real step, then rounds of 4: steps 1-4 right; 5 wrong (redone, 6-8
  // thrown away); 6-9 right.
  ScriptedSpeculator s(10, {5});
  ScriptedScheduler scheduler({4});
  RequestResult result;
  ralm::core::run_speculation_rounds(s, scheduler, /*async_verification=*/false, result);
  EXPECT_EQ(s.kept(), s.expected());
  EXPECT_EQ(result.speculation.real, 1);
  EXPECT_EQ(result.speculation.rounds, 3);
  EXPECT_EQ(result.speculation.speculated, 4 + 1 + 4);  // the examined steps
  EXPECT_EQ(result.speculation.accepted, 4 + 0 + 4);
  EXPECT_EQ(result.speculation.rollbacks, 1);
}

TEST(SpeculationRounds, ARequestEndingInsideARoundVerifiesWhatIsLeft) {
  ScriptedSpeculator s(7, {});
  ScriptedScheduler scheduler({4});
  RequestResult result;
  ralm::core::run_speculation_rounds(s, scheduler, false, result);
  EXPECT_EQ(s.kept(), s.expected());
  EXPECT_EQ(result.speculation.rounds, 2);  // steps 1-4, then 5-6
  EXPECT_EQ(result.speculation.speculated, 6);
}

TEST(SpeculationRounds, ARoundOfNoStepsSettlesWhatIsPendingAndSearchesForReal) {
  // 2, then 0 twice: pending steps are settled, then a real step runs.
  ScriptedSpeculator s(12, {3, 8});
  ScriptedScheduler scheduler({2, 0, 0, 3});
  RequestResult result;
  ralm::core::run_speculation_rounds(s, scheduler, false, result);
  EXPECT_EQ(s.kept(), s.expected());
  EXPECT_GT(s.real_steps(), 1u);
  EXPECT_EQ(result.speculation.real, static_cast<std::int64_t>(s.real_steps()));
}

TEST(SpeculationRounds, AsynchronousVerificationKeepsTheTruthAndSearchesOnAnotherThread) {
  for (const std::vector<std::int32_t>& script : {std::vector<std::int32_t>{1}, {2}, {4}, {3, 0, 5}}) {
    for (const std::set<std::size_t>& wrong : {std::set<std::size_t>{}, {2}, {2, 3, 9, 17}}) {
      ScriptedSpeculator s(20, wrong);
      ScriptedScheduler scheduler(script);
      RequestResult result;
      ralm::core::run_speculation_rounds(s, scheduler, /*async_verification=*/true, result);
      EXPECT_EQ(s.kept(), s.expected()) << "first stride " << script[0] << ", " << wrong.size() << " wrong";
      EXPECT_EQ(result.speculation.rollbacks, static_cast<std::int64_t>(wrong.size()));
      const auto threads = s.verification_threads();
      // Rounds verified while speculating ran their search off this thread;
      // only the rounds that settle what is pending at the end run here.
      EXPECT_TRUE(std::any_of(threads.begin(), threads.end(),
                              [](std::thread::id id) { return id != std::this_thread::get_id(); }));
      // Steps speculated during a search beyond what the rounds examined
      // were thrown away or became later rounds' steps: never more steps
      // than the request has.
      EXPECT_LE(s.real_steps() + result.speculation.accepted, 20u);
    }
  }
}

}  // namespace
