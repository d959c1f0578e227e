#include "token_channel.hpp"

namespace ralm::server {

void TokenChannel::push(std::span<const TokenId> tokens) {
  {
    std::lock_guard lock(mutex_);
    pending_.insert(pending_.end(), tokens.begin(), tokens.end());
  }
  ready_.notify_one();
}

Tokens TokenChannel::take(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, wait, [this] { return !pending_.empty(); });
  Tokens taken;
  taken.swap(pending_);
  return taken;
}

}  // namespace ralm::server
