#include "thread_pool.hpp"

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

namespace ralm::llama {
namespace {

// Spin this long before sleeping: enough to catch the next step's job while a
// model runs (jobs come tens of microseconds apart, but a decoded token's
// serial parts, sampling and the caller's work between tokens leave gaps of
// a few hundred: at 50 us the worker slept through them and woke late, and
// bf16 decode of the small shape on 2 threads streamed 56-64% of the probe's
// bandwidth against 80-82% at 300 us), far less than the several
// milliseconds the scheduler may keep a descheduled thread away.
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

class ThreadPool {
 public:
  ~ThreadPool() {
    {
      std::lock_guard lk(m_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : workers_)
      t.join();
  }

  void run(int threads, std::int64_t tasks, const std::function<void(std::int64_t)>& task) {
    std::lock_guard job(job_mutex_);
    const int helpers = static_cast<int>(std::min<std::int64_t>(threads, tasks)) - 1;
    while (static_cast<int>(workers_.size()) < helpers) {
      const int index = static_cast<int>(workers_.size());
      workers_.emplace_back([this, index] { work(index); });
    }
    {
      std::lock_guard lk(m_);
      task_ = &task;
      tasks_ = tasks;
      next_.store(0, std::memory_order_relaxed);
      wanted_ = helpers;
      open_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    drain();
    // The tasks are all taken. A worker that has not joined by now (asleep,
    // or descheduled by another process) is not waited for: closing the job
    // keeps it out, and only those still finishing a task are waited on.
    {
      std::lock_guard lk(m_);
      open_ = false;
    }
    if (!spin_until([&] { return busy_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock lk(m_);
      done_.wait(lk, [&] { return busy_.load(std::memory_order_acquire) == 0; });
    }
    task_ = nullptr;
  }

 private:
  void drain() {
    inside_task = true;
    for (std::int64_t i = next_.fetch_add(1, std::memory_order_relaxed); i < tasks_;
         i = next_.fetch_add(1, std::memory_order_relaxed))
      (*task_)(i);
    inside_task = false;
  }

  void work(int index) {
    std::uint64_t seen = 0;
    for (;;) {
      if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
        std::unique_lock lk(m_);
        wake_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      }
      {
        std::lock_guard lk(m_);  // the job's fields, as run() published them
        if (stop_) return;
        seen = generation_.load(std::memory_order_acquire);
        if (!open_ || index >= wanted_) continue;
        busy_.fetch_add(1, std::memory_order_relaxed);
      }
      drain();
      if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lk(m_);
        done_.notify_one();
      }
    }
  }

  std::mutex job_mutex_;  // one job at a time
  std::mutex m_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(std::int64_t)>* task_ = nullptr;
  std::int64_t tasks_ = 0;
  int wanted_ = 0;
  bool open_ = false;  // workers may still join the current job
  bool stop_ = false;
  std::atomic<std::int64_t> next_{0};
  std::atomic<int> busy_{0};
  std::atomic<std::uint64_t> generation_{0};
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

}  // namespace ralm::llama
