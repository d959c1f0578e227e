// Writing a GGUF file (version 3, the layout gguf_file.hpp describes) that
// llama.cpp reads: metadata first, then the tensors, each produced only when
// the writer reaches it (a model is quantized tensor by tensor, never held
// whole in memory), each padded to the alignment as llama.cpp's writer
// pads them (its reader insists on those offsets).
//
// The file is written under a temporary name in the same folder and renamed
// onto the target once complete: a failure (a `fill` that throws, a full
// disk) leaves the target as it was and no temporary behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ralm/gguf/ggml_types.hpp"
#include "ralm/gguf/gguf_value.hpp"

namespace ralm::gguf {

// llama.cpp keeps tensor names in a 64-byte buffer, terminator included.
inline constexpr std::size_t kMaxTensorNameBytes = 63;

class Writer {
 public:
  // Writes the bytes of one tensor: exactly row_bytes(type, dims[0]) × rows
  // bytes into `dst` (zeroed beforehand).
  using Fill = std::function<void(std::byte* dst)>;
  using ProgressFn = std::function<void(std::size_t done, std::size_t total)>;

  // Sets a metadata value, replacing one the key already has (it keeps its
  // place; keys are written in the order first set). general.alignment must
  // be a uint32 power of two (an InputError otherwise).
  void set(std::string key, Value value);
  const Value* find(std::string_view key) const;
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }

  // Adds a tensor of `dims` (the row length first, 1 to 4 of them) to be
  // written in the order added. A repeated or over-long name, a type not
  // stored in files, or a row length that is not a whole number of blocks is
  // an InputError naming the tensor.
  void add_tensor(std::string name, GgmlType type, std::vector<std::int64_t> dims, Fill fill);
  std::size_t tensor_count() const { return tensors_.size(); }

  // Writes the file: version 3, general.alignment (32 unless set; appended
  // after the other keys when not set), the tensors in order. `progress`
  // (may be empty) is called after each tensor with (tensors done, total).
  void write(const std::filesystem::path& out, const ProgressFn& progress = {}) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<std::int64_t> dims;
    std::size_t bytes;
    Fill fill;
  };

  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace ralm::gguf
