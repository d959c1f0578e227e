// One completion from its submission to the engine to its end, driven by the
// HTTP thread that answers it (streamed or not): takes the tokens the
// engine's thread hands over (token_channel.hpp), turns them into text
// (completion_text.hpp), and cancels the request at a stop string, past its
// deadline, or when the server says so (a client gone, a shutdown).
//
// The engine has no callback for a request's end, so the run waits for it
// once the request's last token has come (its length reached, or EOS), and
// otherwise looks at Request::finished() each time it wakes: at once when
// tokens come, else every `wait` of next() (a request cancelled, or failed).
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "completion_request.hpp"
#include "completion_text.hpp"
#include "ralm/core/engine/engine.hpp"
#include "token_channel.hpp"

namespace ralm::server {

class CompletionRun {
 public:
  using Clock = std::chrono::steady_clock;

  // Submits the request; throws core::QueueFull when the engine's queue is
  // full. `deadline`: when the request is cancelled if it has not ended.
  CompletionRun(core::Engine& engine, const Tokenizer& tokenizer, const CompletionRequest& request,
                Clock::time_point deadline);
  // Cancels the request if it has not ended: nobody would read its tokens.
  ~CompletionRun();
  CompletionRun(const CompletionRun&) = delete;
  CompletionRun& operator=(const CompletionRun&) = delete;

  // Waits up to `wait` for the request to move on; returns the text that
  // became certain, often empty. Once done(), nothing more.
  std::string next(std::chrono::milliseconds wait);
  bool done() const { return done_; }
  void cancel() { request_->cancel(); }

  // After done(). result() rethrows what made the request fail.
  const core::RequestResult& result() const;
  // "stop" (a stop string or EOS), "length" (max_tokens), or "cancelled".
  std::string finish_reason() const;
  const std::string& text() const { return text_.text(); }
  // From submission to the end, and the part of it before the engine
  // started the request.
  double seconds() const;
  double queued_seconds() const;
  // From submission to the first text, if any came.
  std::optional<double> first_text_seconds() const;

 private:
  std::shared_ptr<TokenChannel> channel_;  // shared with the engine's callback, which may outlive the run
  CompletionText text_;
  TokenId eos_;
  std::int64_t max_new_tokens_;
  std::int64_t generated_ = 0;  // tokens taken from the channel
  Clock::time_point submitted_;
  Clock::time_point deadline_;
  std::shared_ptr<core::Engine::Request> request_;
  bool done_ = false;
  Clock::time_point ended_;
  std::optional<Clock::time_point> first_text_;
  core::RequestResult result_;
  std::exception_ptr failure_;
};

}  // namespace ralm::server
