// Reading Hugging Face safetensors checkpoints, memory-mapped.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of
// JSON naming each tensor's dtype, shape and [begin, end) byte offsets into
// the data that follows. Every field is checked against the file before a
// byte of tensor data is read, so a truncated or inconsistent file is a
// one-line InputError naming the tensor and the file, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ralm/mapped_file.hpp"

namespace ralm::llama {

enum class DType { F32, F16, BF16 };

const char* dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);
// "[2, 3]": a shape as error messages print it.
std::string shape_text(const std::vector<std::int64_t>& shape);

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

// One mapped file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& file);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }

 private:
  std::unique_ptr<MappedFile> map_;
  std::map<std::string, TensorView> tensors_;
};

// A checkpoint folder: model.safetensors, or the shards that
// model.safetensors.index.json lists.
class Checkpoint {
 public:
  explicit Checkpoint(const std::filesystem::path& dir);

  bool has(const std::string& name) const;
  // The tensor, with its shape checked against `shape`; a missing tensor or a
  // shape that disagrees is an InputError naming tensor and file.
  const TensorView& get(const std::string& name, const std::vector<std::int64_t>& shape) const;
  std::string describe() const;  // the file(s), for messages

 private:
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
};

// Writes tensors (float32 data) to a safetensors file, through a temporary
// name and a rename, so a reader never sees half a file.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};
void write_safetensors(const std::filesystem::path& file, const std::vector<TensorToWrite>& tensors);

}  // namespace ralm::llama
