#include "completion_run.hpp"

#include <algorithm>
#include <limits>

namespace ralm::server {
namespace {

double seconds_between(CompletionRun::Clock::time_point from, CompletionRun::Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

CompletionRun::CompletionRun(core::Engine& engine, const Tokenizer& tokenizer,
                             const CompletionRequest& request, Clock::time_point deadline)
    : channel_(std::make_shared<TokenChannel>()),
      text_(tokenizer, request.stop),
      eos_(tokenizer.eos()),
      max_new_tokens_(request.options.max_new_tokens.value_or(std::numeric_limits<std::int32_t>::max())),
      submitted_(Clock::now()),
      deadline_(deadline) {
  request_ = engine.submit(
      request.prompt, [channel = channel_](std::span<const TokenId> tokens) { channel->push(tokens); },
      request.options);
}

CompletionRun::~CompletionRun() {
  if (!request_->finished()) request_->cancel();
}

std::string CompletionRun::next(std::chrono::milliseconds wait) {
  if (done_) return {};
  const Tokens tokens = channel_->take(wait);
  std::string fresh = tokens.empty() ? std::string() : text_.add(tokens);
  generated_ += static_cast<std::int64_t>(tokens.size());
  // The request's last token (its length reached, or EOS) has come: the
  // engine ends it as soon as the callback returns, so wait for that rather
  // than for the next look.
  const bool last_token_came = !tokens.empty() && (tokens.back() == eos_ || generated_ >= max_new_tokens_);
  const Clock::time_point now = Clock::now();
  if (!fresh.empty() && !first_text_) first_text_ = now;
  if (text_.stopped() || now >= deadline_) request_->cancel();
  if (!last_token_came && !request_->finished()) return fresh;
  try {
    result_ = request_->wait();
  } catch (...) {
    failure_ = std::current_exception();
  }
  // The engine hands a request's last tokens over before it ends the request,
  // so every token is in the channel now.
  fresh += text_.add(channel_->take(std::chrono::milliseconds(0)));
  fresh += text_.finish();
  ended_ = Clock::now();
  if (!fresh.empty() && !first_text_) first_text_ = ended_;
  done_ = true;
  return fresh;
}

const core::RequestResult& CompletionRun::result() const {
  if (failure_) std::rethrow_exception(failure_);
  return result_;
}

std::string CompletionRun::finish_reason() const {
  if (text_.stopped() || result_.stopped_at_eos) return "stop";
  return result_.cancelled ? "cancelled" : "length";
}

double CompletionRun::seconds() const {
  return seconds_between(submitted_, done_ ? ended_ : Clock::now());
}

double CompletionRun::queued_seconds() const {
  return std::max(0.0, seconds() - result_.times.total);
}

std::optional<double> CompletionRun::first_text_seconds() const {
  if (!first_text_) return std::nullopt;
  return seconds_between(submitted_, *first_text_);
}

}  // namespace ralm::server
