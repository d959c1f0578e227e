#include "ralm/core/engine/engine.hpp"

#include <utility>

namespace ralm::core {

QueueFull::~QueueFull() = default;

Engine::Engine(const BuiltPipeline& pipeline, EngineSettings settings)
    : loop_(pipeline, std::move(settings)), thread_([this] { serve(); }) {}

Engine::~Engine() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (const auto& r : queue_)
      r->cancel();
    if (running_) running_->cancel();
  }
  wake_.notify_all();
  thread_.join();
}

std::shared_ptr<Engine::Request> Engine::submit(std::string prompt, TokenCallback on_tokens,
                                                RequestOptions options) {
  auto request = std::make_shared<Request>();
  request->prompt_ = std::move(prompt);
  request->on_tokens_ = std::move(on_tokens);
  request->options_ = std::move(options);
  {
    std::lock_guard lock(mutex_);
    const std::int32_t max_queue = loop_.settings().max_queue;
    if (max_queue > 0 && static_cast<std::int32_t>(queue_.size()) >= max_queue) {
      ++stats_.rejected;
      throw QueueFull("the engine's queue is full (" + std::to_string(max_queue) +
                      " requests waiting); try again later");
    }
    if (stopping_) request->cancel();
    ++stats_.submitted;
    queue_.push_back(request);
  }
  wake_.notify_one();
  return request;
}

EngineStats Engine::stats() const {
  std::lock_guard lock(mutex_);
  EngineStats s = stats_;
  s.queued = static_cast<std::int32_t>(queue_.size());
  s.running = running_ ? 1 : 0;
  return s;
}

void Engine::serve() {
  for (;;) {
    std::shared_ptr<Request> request;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to answer
      request = std::move(queue_.front());
      queue_.pop_front();
      running_ = request;
    }
    try {
      if (request->cancel_.load(std::memory_order_relaxed)) {
        RequestResult cancelled;
        cancelled.cancelled = true;
        request->promise_.set_value(std::move(cancelled));
      } else {
        request->promise_.set_value(loop_.run(
            request->prompt_, RequestControl{request->on_tokens_, &request->cancel_, request->options_}));
      }
    } catch (...) {
      request->promise_.set_exception(std::current_exception());
    }
    std::lock_guard lock(mutex_);
    running_.reset();
  }
}

}  // namespace ralm::core
