#include "ralm/gguf/gguf_writer.hpp"

#include <bit>
#include <cstring>
#include <ostream>

#include "ralm/error.hpp"
#include "ralm/gguf/gguf_file.hpp"
#include "ralm/staging_directory.hpp"

namespace ralm::gguf {

// GGUF is little-endian, and values are written as their bytes.
static_assert(std::endian::native == std::endian::little, "the GGUF writer assumes a little-endian machine");

namespace {

template <class T>
void put(std::string& out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<std::uint64_t>(out, s.size());
  out += s;
}

void put_integer(std::string& out, ValueType type, std::int64_t v) {
  switch (type) {
    case ValueType::UINT8:
    case ValueType::BOOL:
      return put(out, static_cast<std::uint8_t>(v));
    case ValueType::INT8:
      return put(out, static_cast<std::int8_t>(v));
    case ValueType::UINT16:
      return put(out, static_cast<std::uint16_t>(v));
    case ValueType::INT16:
      return put(out, static_cast<std::int16_t>(v));
    case ValueType::UINT32:
      return put(out, static_cast<std::uint32_t>(v));
    case ValueType::INT32:
      return put(out, static_cast<std::int32_t>(v));
    default:  // UINT64 (its bits) and INT64
      return put(out, v);
  }
}

void put_float(std::string& out, ValueType type, double v) {
  if (type == ValueType::FLOAT32)
    put(out, static_cast<float>(v));
  else
    put(out, v);
}

// A value without its type id (an array's elements carry none).
void put_value(std::string& out, const Value& v) {
  switch (v.type()) {
    case ValueType::STRING:
      return put_string(out, v.as_string());
    case ValueType::FLOAT32:
    case ValueType::FLOAT64:
      return put_float(out, v.type(), v.as_float());
    case ValueType::BOOL:
      return put_integer(out, v.type(), v.as_bool() ? 1 : 0);
    case ValueType::UINT64:
      return put_integer(out, v.type(), static_cast<std::int64_t>(v.as_uint()));
    case ValueType::ARRAY:
      break;
    default:
      return put_integer(out, v.type(), v.as_int());
  }
  const ValueType element = v.array_type();
  put(out, static_cast<std::uint32_t>(element));
  put<std::uint64_t>(out, v.array_size());
  if (element == ValueType::STRING) {
    for (const auto& s : v.strings())
      put_string(out, s);
  } else if (is_float_type(element)) {
    for (const double x : v.floats())
      put_float(out, element, x);
  } else if (element == ValueType::ARRAY) {
    for (const Value& item : v.items())
      put_value(out, item);
  } else {
    for (const std::int64_t x : v.ints())
      put_integer(out, element, x);
  }
}

std::size_t padded(std::size_t n, std::size_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

[[noreturn]] void bad_tensor(const std::string& name, const std::string& message) {
  throw InputError("GGUF tensor '" + name + "': " + message);
}

}  // namespace

void Writer::set(std::string key, Value value) {
  if (key == kAlignmentKey) {
    if (value.type() != ValueType::UINT32)
      throw InputError(std::string(kAlignmentKey) + " must be a uint32, not " +
                       value_type_name(value.type()));
    if (!std::has_single_bit(value.as_uint()))
      throw InputError(std::string(kAlignmentKey) + " is " + value.to_string() + ", not a power of two");
  }
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

const Value* Writer::find(std::string_view key) const {
  for (const auto& [k, v] : metadata_)
    if (k == key) return &v;
  return nullptr;
}

void Writer::add_tensor(std::string name, GgmlType type, std::vector<std::int64_t> dims, Fill fill) {
  if (name.size() > kMaxTensorNameBytes)
    bad_tensor(name, "its name is " + std::to_string(name.size()) +
                         " bytes; llama.cpp reads names of at most " + std::to_string(kMaxTensorNameBytes));
  for (const Tensor& t : tensors_)
    if (t.name == name) bad_tensor(name, "added twice");
  if (dims.empty() || dims.size() > kMaxDims)
    bad_tensor(name,
               "has " + std::to_string(dims.size()) + " dimensions (1 to " + std::to_string(kMaxDims) + ")");
  if (!is_stored_type(type))
    bad_tensor(name, "type " + std::string(type_name(type)) + " is not stored in files (" +
                         stored_type_names() + ")");
  const TypeTraits& tr = traits(type);
  if (dims[0] % tr.block_size != 0)
    bad_tensor(name, "rows of " + std::to_string(dims[0]) + " " + std::string(tr.name) +
                         " weights are not a whole number of blocks of " + std::to_string(tr.block_size));
  std::uint64_t bytes = static_cast<std::uint64_t>(dims[0] / tr.block_size) * tr.block_bytes;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) bad_tensor(name, "dimension " + std::to_string(i) + " is negative");
    if (i > 0 && __builtin_mul_overflow(bytes, static_cast<std::uint64_t>(dims[i]), &bytes))
      bad_tensor(name, "takes more bytes than a 64-bit size holds");
  }
  tensors_.push_back(
      Tensor{std::move(name), type, std::move(dims), static_cast<std::size_t>(bytes), std::move(fill)});
}

void Writer::write(const std::filesystem::path& out, const ProgressFn& progress) const {
  const Value* set_alignment = find(kAlignmentKey);
  const std::size_t alignment =
      set_alignment ? static_cast<std::size_t>(set_alignment->as_uint()) : kDefaultAlignment;

  std::string header;
  header.append(kMagic, sizeof kMagic);
  put<std::uint32_t>(header, kVersion);
  put<std::uint64_t>(header, tensors_.size());
  put<std::uint64_t>(header, metadata_.size() + (set_alignment ? 0 : 1));
  for (const auto& [key, value] : metadata_) {
    put_string(header, key);
    put(header, static_cast<std::uint32_t>(value.type()));
    put_value(header, value);
  }
  if (!set_alignment) {
    put_string(header, std::string(kAlignmentKey));
    put(header, static_cast<std::uint32_t>(ValueType::UINT32));
    put<std::uint32_t>(header, static_cast<std::uint32_t>(alignment));
  }
  std::uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(header, t.name);
    put<std::uint32_t>(header, static_cast<std::uint32_t>(t.dims.size()));
    for (const std::int64_t d : t.dims)
      put<std::uint64_t>(header, static_cast<std::uint64_t>(d));
    put(header, static_cast<std::uint32_t>(t.type));
    put<std::uint64_t>(header, offset);
    offset += padded(t.bytes, alignment);
  }
  header.resize(padded(header.size(), alignment), '\0');

  write_file_atomically(out, [&](std::ostream& os) {
    os.write(header.data(), static_cast<std::streamsize>(header.size()));
    std::vector<std::byte> buffer;
    const std::string zeros(alignment, '\0');
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      const Tensor& t = tensors_[i];
      buffer.assign(t.bytes, std::byte{0});
      t.fill(buffer.data());
      os.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
      os.write(zeros.data(), static_cast<std::streamsize>(padded(t.bytes, alignment) - t.bytes));
      // A full disk fails at the tensor it happens in, not after every later
      // tensor has been produced.
      if (!os) throw Error(out.string() + ": writing tensor '" + t.name + "' failed");
      if (progress) progress(i + 1, tensors_.size());
    }
  });
}

}  // namespace ralm::gguf
