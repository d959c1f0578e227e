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
// Requests run one at a time, in the order submitted, on the engine's own
// thread: the only one that touches the model, the policy and the caches. A
// request's output is the one RequestLoop::run gives it alone.
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

#include "ralm/core/engine/request_loop.hpp"
#include "ralm/core/engine/request_result.hpp"
#include "ralm/core/pipeline_builder.hpp"

namespace ralm::core {

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
    RequestOptions options_;
    std::atomic<bool> cancel_{false};
    std::promise<RequestResult> promise_;
    std::shared_future<RequestResult> result_ = promise_.get_future().share();
  };

  // The pipeline must outlive the engine. Throws InputError as RequestLoop's
  // constructor does for a pipeline that cannot run requests.
  Engine(const BuiltPipeline& pipeline, EngineSettings settings);
  // Cancels every request not finished and waits for the running one to stop.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request. `on_tokens` gets its final tokens as they come, on the
  // engine's thread (keep it short; never call the engine from it);
  // `options` sets this request's own length and sampling.
  std::shared_ptr<Request> submit(std::string prompt, TokenCallback on_tokens = {},
                                  RequestOptions options = {});

  const EngineSettings& settings() const { return loop_.settings(); }

 private:
  void serve();

  RequestLoop loop_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Request>> queue_;
  std::shared_ptr<Request> running_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything it reads exists
};

}  // namespace ralm::core
