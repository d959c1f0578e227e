// Reading and writing Hugging Face safetensors files: the format model
// checkpoints, adapters and optimiser states are exchanged in, so every
// plugin that loads or saves tensors reads and writes it the same way.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of
// JSON naming each tensor's dtype, shape and [begin, end) byte offsets into
// the data that follows (and an optional "__metadata__" object). Files are
// read memory-mapped (MappedFile): a tensor is a view into the mapping, never
// a copy, until to_f32() is asked for. Every field is checked against the
// file before a byte of tensor data is read, so a truncated or inconsistent
// file is a one-line InputError naming the tensor and the file, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ralm/mapped_file.hpp"

namespace ralm::safetensors {

// The element types read: float32, and the two 16-bit floats checkpoints
// are commonly saved in.
enum class DType { F32, F16, BF16 };

// "F32", "F16", "BF16": the header's spelling.
const char* dtype_name(DType dtype);
// Bytes per element.
std::size_t dtype_size(DType dtype);
// "[2, 3]": a shape as error messages print it.
std::string shape_text(const std::vector<std::int64_t>& shape);

// One tensor of a mapped file; valid while its File lives.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const std::byte* data = nullptr;
  std::size_t bytes = 0;
  std::string file;  // for messages

  std::int64_t elements() const;
  // Converts to float32 (F16 and BF16 widen exactly).
  std::vector<float> to_f32() const;
};

// One mapped .safetensors file and the tensors its header lists. A missing,
// truncated or inconsistent file is an InputError naming it.
class File {
 public:
  explicit File(const std::filesystem::path& file);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }

 private:
  std::unique_ptr<MappedFile> map_;
  std::map<std::string, TensorView> tensors_;
};

// A Hugging Face checkpoint folder's weights: model.safetensors, or the
// shards that model.safetensors.index.json lists, seen as one set of tensors.
class Checkpoint {
 public:
  // A folder with neither file, a malformed index or a missing shard is an
  // InputError naming the file.
  explicit Checkpoint(const std::filesystem::path& dir);

  bool has(const std::string& name) const;
  // The tensor, with its shape checked against `shape`; a missing tensor or a
  // shape that disagrees is an InputError naming tensor and file, and naming
  // `shape_source` as what implies the expected shape (say, "config.json").
  const TensorView& get(const std::string& name, const std::vector<std::int64_t>& shape,
                        std::string_view shape_source) const;
  std::string describe() const;  // the file(s), for messages

 private:
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<File>> files_;
  std::map<std::string, const TensorView*> index_;
};

// One tensor to write: float32 values, stored as `dtype` (F32 or BF16,
// rounded to nearest even).
struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

// Writes `tensors`, in order, to a safetensors file with "format": "pt" in
// its metadata (what transformers' and PEFT's loaders check) and its data
// 8-byte aligned, through a temporary name and a rename, so a reader never
// sees half a file. F16 is not written (an Error).
void write_file(const std::filesystem::path& file, const std::vector<TensorToWrite>& tensors);

}  // namespace ralm::safetensors
