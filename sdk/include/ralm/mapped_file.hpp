// A whole file mapped read-only into memory: passage stores, indexes and
// datastores are read this way, so opening one costs no copy and the page
// cache is shared between processes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>

namespace ralm {

class MappedFile {
 public:
  // A missing or unreadable file is an InputError naming it.
  explicit MappedFile(const std::filesystem::path& file);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* bytes() const { return static_cast<const char*>(data_); }
  std::size_t size() const { return size_; }

  // Element i of the file read as an array of T (unaligned-safe).
  template <class T>
  T at(std::size_t i) const {
    T v;
    std::memcpy(&v, bytes() + i * sizeof(T), sizeof(T));
    return v;
  }
  template <class T>
  std::size_t count() const {
    return size_ / sizeof(T);
  }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace ralm
