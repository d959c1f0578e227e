#include "ralm/core/engine/engine.hpp"

#include <utility>

#include "batched_pipeline.hpp"
#include "continuous_batcher.hpp"

namespace ralm::core {

QueueFull::~QueueFull() = default;

namespace {

std::unique_ptr<ContinuousBatcher> batcher_for(const BuiltPipeline& pipeline,
                                               const EngineSettings& settings) {
  if (settings.max_batch <= 1 || !pipeline.model) return nullptr;
  return std::make_unique<ContinuousBatcher>(*pipeline.model, pipeline.retriever.get(),
                                             settings.prefill_chunk);
}

}  // namespace

Engine::Engine(const BuiltPipeline& pipeline, EngineSettings settings)
    : batcher_(batcher_for(pipeline, settings)),
      pipeline_(batcher_ ? batched_pipeline(pipeline, *batcher_) : pipeline),
      loop_(pipeline_, settings) {
  // One thread per request that may run at once; each runs its request's
  // loop as plain sequential code, and the batcher steps them together.
  for (std::int32_t i = 0; i < std::max<std::int32_t>(1, settings.max_batch); ++i)
    workers_.emplace_back([this] { serve(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (const auto& r : queue_)
      r->cancel();
    for (const auto& r : running_)
      r->cancel();
  }
  wake_.notify_all();
  for (std::thread& worker : workers_)
    worker.join();
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
  EngineStats s;
  {
    std::lock_guard lock(mutex_);
    s = stats_;
    s.queued = static_cast<std::int32_t>(queue_.size());
    s.running = static_cast<std::int32_t>(running_.size());
  }
  s.prefix_cache = loop_.prefix_cache_stats();
  if (batcher_) {
    const BatcherStats b = batcher_->stats();
    s.steps = b.steps;
    s.stepped_sequences = b.stepped_sequences;
    s.largest_batch = b.largest_batch;
    s.searches = b.searches;
    s.searched_queries = b.searched_queries;
    s.prefill_tokens = b.prefill_tokens;
    s.decode_tokens = b.decode_tokens;
  }
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
      running_.push_back(request);
    }
    run(request);
  }
}

void Engine::run(const std::shared_ptr<Request>& running) {
  Request& request = *running;
  const double queued =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - request.submitted_).count();
  RequestResult result;
  std::exception_ptr error;
  try {
    if (request.cancel_.load(std::memory_order_relaxed)) {
      result.cancelled = true;
    } else {
      const auto on_tokens = [&](std::span<const TokenId> tokens) {
        {
          std::lock_guard lock(mutex_);
          stats_.generated_tokens += static_cast<std::int64_t>(tokens.size());
        }
        if (request.on_tokens_) request.on_tokens_(tokens);
      };
      std::optional<ContinuousBatcher::Participant> participant;
      if (batcher_) participant.emplace(*batcher_);
      result = loop_.run(request.prompt_, RequestControl{on_tokens, &request.cancel_, request.options_});
    }
    result.times.queued = queued;
  } catch (...) {
    error = std::current_exception();
  }
  // Counted before the caller can see the result: stats() never lags wait().
  {
    std::lock_guard lock(mutex_);
    ++(error ? stats_.failed : result.cancelled ? stats_.cancelled : stats_.finished);
    std::erase(running_, running);
  }
  if (error) {
    request.promise_.set_exception(error);
  } else {
    request.promise_.set_value(std::move(result));
  }
}

}  // namespace ralm::core
