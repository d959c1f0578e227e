#include "kv_buffer_pool.hpp"

namespace ralm::llama {

KvBufferPool::Buffer KvBufferPool::take() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      Buffer b = std::move(idle_.back());
      idle_.pop_back();
      return b;
    }
  }
  return Buffer(static_cast<std::byte*>(allocate_aligned(bytes_)));
}

void KvBufferPool::give_back(Buffer buffer) {
  if (!buffer) return;
  std::lock_guard lock(mutex_);
  if (idle_.size() < idle_limit()) idle_.push_back(std::move(buffer));
}

}  // namespace ralm::llama
