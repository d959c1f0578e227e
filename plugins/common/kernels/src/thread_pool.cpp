#include "ralm/kernels/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ralm::kernels {
namespace {

// Spin this long before sleeping: enough to catch the next step's job while a
// model runs (jobs come tens of microseconds apart, but a decoded token's
// serial parts, sampling and the caller's work between tokens leave gaps of
// a few hundred: a worker spinning 50 us sleeps through them and wakes late,
// and bf16 decode of the small shape on 2 threads streams 56-64% of the
// probe's bandwidth against 80-82% at 300 us; `llama_bench --no-kernels
// --no-attention --shapes small --chunks 128 --contexts 128 --pairs 5`), far
// less than the several milliseconds the scheduler may keep a descheduled
// thread away.
constexpr auto kSpin = std::chrono::microseconds(300);

void pause() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// Spins until done() or kSpin has passed; true if done.
template <class Done>
bool spin_until(Done done) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (done()) return true;
    pause();
    if (i % 64 == 63 && std::chrono::steady_clock::now() > until) return false;
  }
}

thread_local bool inside_task = false;

// One job at a time, handed to the workers without a lock on its path: a
// decoded token of the shipped model is some 20 jobs of a few microseconds
// each, so what the hand-over costs is paid 20 times a token (the largest
// part of it would be a task counter shared by the threads, its cache line
// crossing the cores at every task; hence a range per participant, see
// drain()). job_ holds (generation << 1) | open. A worker joins a job by
// counting itself in busy_ and then checking that the job is still the one it
// saw open; run() closes the job and then waits for busy_ to drain. With every
// one of these four operations sequentially consistent, either the worker
// sees the job closed and backs out, or run() sees it counted and waits.
// Sleeping (sleepers_ against job_) and run()'s wait for the last worker
// (main_waiting_ against busy_) pair up the same way.
class ThreadPool {
 public:
  ~ThreadPool() {
    stop_.store(true);
    job_.fetch_add(2);  // a new generation wakes every worker to see stop_
    {
      std::lock_guard lk(m_);
      wake_.notify_all();
    }
    for (auto& t : workers_)
      t.join();
  }

  void run(int threads, std::int64_t tasks, const std::function<void(std::int64_t)>& task) {
    std::lock_guard job(job_mutex_);
    const int helpers = static_cast<int>(std::min<std::int64_t>(threads, tasks)) - 1;
    if (ranges_.empty()) ranges_.push_back(std::make_unique<Range>());  // the caller's
    while (static_cast<int>(workers_.size()) < helpers) {
      const int index = static_cast<int>(workers_.size());
      ranges_.push_back(std::make_unique<Range>());
      workers_.emplace_back([this, index] { work(index); });
    }
    // Each participant starts on its own share of the tasks, in order, and
    // then takes what is left of the others': one shared counter would move
    // its cache line between the cores at every task (16 per matrix product).
    const int parts = helpers + 1;
    for (int p = 0; p < parts; ++p) {
      ranges_[static_cast<std::size_t>(p)]->next.store(tasks * p / parts, std::memory_order_relaxed);
      ranges_[static_cast<std::size_t>(p)]->end = tasks * (p + 1) / parts;
    }
    task_.store(&task, std::memory_order_relaxed);
    parts_.store(parts, std::memory_order_relaxed);
    wanted_.store(helpers, std::memory_order_relaxed);
    const std::uint64_t open = ((job_.load(std::memory_order_relaxed) >> 1) + 1) << 1 | 1;
    job_.store(open);
    if (sleepers_.load() > 0) {
      std::lock_guard lk(m_);
      wake_.notify_all();
    }
    drain(0);
    // The tasks are all taken. A worker that has not joined by now (asleep,
    // or descheduled by another process) is not waited for: closing the job
    // keeps it out, and only those still finishing a task are waited on.
    job_.store(open & ~std::uint64_t{1});
    if (!spin_until([&] { return busy_.load() == 0; })) {
      std::unique_lock lk(m_);
      main_waiting_.store(true);
      done_.wait(lk, [&] { return busy_.load() == 0; });
      main_waiting_.store(false);
    }
  }

 private:
  // Runs tasks until none is left: the participant's own range, then the
  // others' in turn.
  void drain(int slot) {
    inside_task = true;
    const auto& task = *task_.load(std::memory_order_relaxed);
    const int parts = parts_.load(std::memory_order_relaxed);
    for (int k = 0; k < parts; ++k) {
      Range& r = *ranges_[static_cast<std::size_t>((slot + k) % parts)];
      for (std::int64_t i = r.next.fetch_add(1, std::memory_order_relaxed); i < r.end;
           i = r.next.fetch_add(1, std::memory_order_relaxed))
        task(i);
    }
    inside_task = false;
  }

  void leave() {
    if (busy_.fetch_sub(1) == 1 && main_waiting_.load()) {
      std::lock_guard lk(m_);
      done_.notify_one();
    }
  }

  void work(int index) {
    std::uint64_t seen = 0;  // the last generation looked at
    std::uint64_t job = 0;
    const auto changed = [&] {
      job = job_.load();
      return job >> 1 != seen;
    };
    for (;;) {
      if (!spin_until(changed)) {
        std::unique_lock lk(m_);
        sleepers_.fetch_add(1);
        wake_.wait(lk, changed);
        sleepers_.fetch_sub(1);
      }
      if (stop_.load()) return;
      seen = job >> 1;
      if (!(job & 1) || index >= wanted_.load(std::memory_order_relaxed)) continue;
      busy_.fetch_add(1);
      if (job_.load() == job) drain(index + 1);
      leave();
    }
  }

  std::mutex job_mutex_;  // one job at a time
  std::mutex m_;          // sleeping and waking only
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  // Tasks [next, end) of one participant, on a cache line of its own.
  struct alignas(64) Range {
    std::atomic<std::int64_t> next{0};
    std::int64_t end = 0;
  };
  std::vector<std::unique_ptr<Range>> ranges_;  // the caller's, then worker i's at i + 1
  std::atomic<const std::function<void(std::int64_t)>*> task_{nullptr};
  std::atomic<int> parts_{0};
  std::atomic<int> wanted_{0};
  std::atomic<int> busy_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> main_waiting_{false};
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> job_{0};
};

ThreadPool& pool() {
  // Destroyed (its workers woken and joined) at exit or when the plugin is
  // unloaded, so no worker outlives the code it runs.
  static ThreadPool p;
  return p;
}

}  // namespace

void parallel_for(int threads, std::int64_t tasks, const std::function<void(std::int64_t)>& task) {
  if (threads <= 1 || tasks <= 1 || inside_task) {
    for (std::int64_t i = 0; i < tasks; ++i)
      task(i);
    return;
  }
  pool().run(threads, tasks, task);
}

}  // namespace ralm::kernels
