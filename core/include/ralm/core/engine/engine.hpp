// The engine as a library: a built pipeline that accepts requests from any
// thread. Each request streams its tokens as they become final and ends with
// its RequestResult; it can be cancelled at any time. `ralm run` and
// `ralm compare` are clients of it (task_runner.cpp).
//
//   core::Engine engine(built, core::EngineSettings::from(spec.engine));
//   auto request = engine.submit("What is a compiler?",
//                                [](std::span<const TokenId> tokens) { ... });
//   core::RequestResult result = request->wait();
//
// Up to EngineSettings::max_batch requests run at once, in the order
// submitted, the rest wait in a queue (bounded by max_queue; beyond it
// submit() throws QueueFull). Running requests advance together: one
// scheduler thread evaluates all their pending tokens with one
// Model::eval_batch per step and sends the searches that fall due at a step
// as one Retriever::search. A request's output is the one RequestLoop::run
// gives it alone, whatever runs beside it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ralm/core/engine/request_loop.hpp"
#include "ralm/core/engine/request_result.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/error.hpp"

namespace ralm::core {

class ContinuousBatcher;

// submit() when max_queue requests already wait: the caller should come back
// later (the server answers 429).
class QueueFull : public Error {
 public:
  using Error::Error;
  ~QueueFull() override;
};

// What the engine has done since it started, for monitoring (`/metrics`).
struct EngineStats {
  std::int64_t submitted = 0, finished = 0, cancelled = 0, failed = 0, rejected = 0;
  std::int32_t queued = 0, running = 0;  // now
  std::int64_t steps = 0;                // Model::eval_batch calls the scheduler made
  std::int64_t stepped_sequences = 0;    // sequences in them, summed: / steps = mean batch size
  std::int32_t largest_batch = 0;
  std::int64_t searches = 0, searched_queries = 0;  // batched Retriever::search calls, queries in them
  std::int64_t prefill_tokens = 0, decode_tokens = 0;
  std::int64_t generated_tokens = 0;  // tokens handed to callers as final
  PrefixCacheStats prefix_cache;      // all zero with engine.prefix_cache_mb 0
};

class Engine {
 public:
  using TokenCallback = std::function<void(std::span<const TokenId>)>;

  // One submitted request.
  class Request {
   public:
    // Stops the request before its next token (or before it starts); its
    // result says `cancelled` and holds the tokens that were final.
    void cancel() { cancel_.store(true, std::memory_order_relaxed); }
    // Blocks until the request has ended; rethrows what made it fail.
    RequestResult wait() const { return result_.get(); }
    bool finished() const { return result_.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }

   private:
    friend class Engine;
    std::string prompt_;
    TokenCallback on_tokens_;
    std::chrono::steady_clock::time_point submitted_ = std::chrono::steady_clock::now();
    RequestOptions options_;
    std::atomic<bool> cancel_{false};
    std::promise<RequestResult> promise_;
    std::shared_future<RequestResult> result_ = promise_.get_future().share();
  };

  // The pipeline must outlive the engine. Throws InputError as RequestLoop's
  // constructor does for a pipeline that cannot run requests.
  Engine(const BuiltPipeline& pipeline, EngineSettings settings);
  // Cancels every request not finished and waits for the running ones to stop.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request; throws QueueFull when max_queue requests already wait.
  // `on_tokens` gets its final tokens as they come, on the thread running the
  // request (keep it short; never call the engine from it); `options` sets
  // this request's own length and sampling.
  std::shared_ptr<Request> submit(std::string prompt, TokenCallback on_tokens = {},
                                  RequestOptions options = {});

  const EngineSettings& settings() const { return loop_.settings(); }
  EngineStats stats() const;

 private:
  void serve();
  void run(const std::shared_ptr<Request>& request);

  // Null when requests run one at a time (max_batch 1): they then call the
  // pipeline's components directly, exactly as `ralm run` measures them.
  std::unique_ptr<ContinuousBatcher> batcher_;
  BuiltPipeline pipeline_;  // the caller's, through batcher_ when batching
  RequestLoop loop_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Request>> queue_;
  std::vector<std::shared_ptr<Request>> running_;
  EngineStats stats_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;  // last: they start once everything they read exists
};

}  // namespace ralm::core
