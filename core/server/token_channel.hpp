// Hands a request's final tokens from the engine's thread, where its
// callback runs and must not wait, to the HTTP thread that answers the
// request, which waits for them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <span>

#include "ralm/types.hpp"

namespace ralm::server {

class TokenChannel {
 public:
  // The engine's callback: appends and wakes the reader; never blocks on it.
  void push(std::span<const TokenId> tokens);
  // The tokens pushed since the last take, waiting up to `wait` for the
  // first; empty when none came.
  Tokens take(std::chrono::milliseconds wait);

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  Tokens pending_;
};

}  // namespace ralm::server
