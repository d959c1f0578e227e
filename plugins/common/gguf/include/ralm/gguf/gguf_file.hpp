// Reading a GGUF file, llama.cpp's model file, through a read-only mapping:
// the metadata is parsed into Values, the tensors are views into the
// mapping (never copied).
//
// The layout (little-endian; versions 2 and 3 are the same on a
// little-endian machine): "GGUF", uint32 version, uint64 tensor count,
// uint64 metadata count; the metadata as (string key, uint32 value type,
// value); the tensor infos as (string name, uint32 n_dims <= 4, uint64
// dims[n_dims] with the row length first, uint32 GGML type, uint64 offset
// into the data section); zero padding to `general.alignment` (default 32)
// from the start of the file; the data section. A string is a uint64 length
// and its bytes, unterminated.
//
// Every count and length is checked against the bytes the file has left
// before anything is allocated, and every tensor against the end of the
// file, so a truncated, corrupt or hostile file is one InputError naming the
// file and the field, never a crash or a huge allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ralm/gguf/ggml_types.hpp"
#include "ralm/gguf/gguf_value.hpp"

namespace ralm {
class MappedFile;
}

namespace ralm::gguf {

inline constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
inline constexpr std::uint32_t kVersion = 3;
inline constexpr std::size_t kDefaultAlignment = 32;
inline constexpr std::size_t kMaxDims = 4;
inline constexpr std::string_view kAlignmentKey = "general.alignment";

// The GGML types a file's tensors may have here (Q8_K is an activation
// format, never stored).
bool is_stored_type(GgmlType type);
// "f32, f16, bf16, q4_0, q8_0, q4_K, q6_K": for messages.
std::string stored_type_names();

struct TensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<std::int64_t> dims;   // ne0 (the row length) first
  std::uint64_t offset = 0;         // in the data section
  const std::byte* data = nullptr;  // into the mapping
  std::size_t bytes = 0;

  std::int64_t row_length() const { return dims.empty() ? 1 : dims[0]; }
  // The product of the dimensions after the first (1 for a vector).
  std::int64_t rows() const;
  std::int64_t elements() const { return row_length() * rows(); }
};

class File {
 public:
  // Maps `path` read-only and parses it; see the top of this file.
  explicit File(const std::filesystem::path& path);
  ~File();
  File(File&&) noexcept;
  File& operator=(File&&) noexcept;

  const std::filesystem::path& path() const { return path_; }
  std::uint32_t version() const { return version_; }
  std::size_t alignment() const { return alignment_; }
  std::size_t file_bytes() const;
  // Where the data section starts, from the start of the file.
  std::size_t data_offset() const { return data_offset_; }

  // The metadata, in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;

  // Typed getters. A missing key (get_*) or a value of another type (get_*
  // and find_*) is an InputError naming the file and the key.
  std::string get_string(std::string_view key) const;
  std::optional<std::string> find_string(std::string_view key) const;
  // Any integer type; a negative value is an error.
  std::uint64_t get_uint(std::string_view key) const;
  std::optional<std::uint64_t> find_uint(std::string_view key) const;
  // FLOAT32, FLOAT64 and the integer types.
  double get_float(std::string_view key) const;
  std::optional<double> find_float(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::optional<bool> find_bool(std::string_view key) const;
  std::vector<std::string> get_string_array(std::string_view key) const;
  // Arrays of FLOAT32, FLOAT64 or integers, as floats.
  std::vector<float> get_float_array(std::string_view key) const;
  // Arrays of any integer type (a uint64 above INT64_MAX is an error).
  std::vector<std::int64_t> get_int_array(std::string_view key) const;

  // The tensors, in file order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  // A missing tensor is an InputError naming the file and the tensor.
  const TensorInfo& tensor(std::string_view name) const;

  // For a tensor the caller has copied out (repacked): gives the whole pages
  // inside it back to the kernel (madvise MADV_DONTNEED), so resident memory
  // does not hold both copies. Its bytes stay readable: a later read faults
  // them in again from the file.
  void release(const TensorInfo& t) const;

 private:
  [[noreturn]] void fail(const std::string& message) const;
  const Value& typed(std::string_view key, bool (*accepts)(const Value&), const char* expected) const;
  const Value* find_typed(std::string_view key, bool (*accepts)(const Value&), const char* expected) const;
  void parse();

  std::filesystem::path path_;
  std::unique_ptr<MappedFile> map_;
  std::uint32_t version_ = 0;
  std::size_t alignment_ = kDefaultAlignment;
  std::size_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::map<std::string, std::size_t, std::less<>> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t, std::less<>> tensor_index_;
};

}  // namespace ralm::gguf
