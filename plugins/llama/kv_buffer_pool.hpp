// Key/value cache buffers of one size, kept for reuse by the sequences of one
// model. A sequence preallocates its cache for the whole context (the shipped
// model at its 2,048 positions: 16 MiB in f32), and allocating and zeroing that for
// every request cost a short request of the shipped model a quarter of its
// time. A reused buffer holds stale values: a sequence reads only the
// positions it has written.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "shared_kernels.hpp"

namespace ralm::llama {

class KvBufferPool {
  struct Free {
    void operator()(std::byte* p) const noexcept { free_aligned(p); }
  };

 public:
  // Bytes, aligned as allocate_aligned aligns them: the sequence reads them
  // as floats or as bf16, as its model's KV cache type says.
  using Buffer = std::unique_ptr<std::byte[], Free>;

  explicit KvBufferPool(std::size_t bytes) : bytes_(bytes) {}
  std::size_t bytes() const { return bytes_; }

  // A buffer of bytes() bytes, not initialised: an idle one if there is one.
  Buffer take();
  // Keeps `buffer` for the next take(), up to kIdle of them; frees the rest.
  void give_back(Buffer buffer);

 private:
  // Idle buffers kept: at least kIdle (a request holds one sequence, two
  // buffers, at a time; speculation's checkpoints none), and as many more as
  // fit kIdleBytes. A server's prefix cache clones a sequence at every hit
  // and frees one at every eviction: a fresh buffer's pages are zeroed by the
  // kernel on first touch, which costs more than the copy itself.
  static constexpr std::size_t kIdle = 4;
  static constexpr std::size_t kIdleBytes = std::size_t{256} << 20;
  std::size_t idle_limit() const { return std::max(kIdle, kIdleBytes / std::max<std::size_t>(bytes_, 1)); }
  std::size_t bytes_;
  std::mutex mutex_;
  std::vector<Buffer> idle_;
};

}  // namespace ralm::llama
