#include "ralm/gguf/gguf_file.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cstring>

#include "ralm/error.hpp"
#include "ralm/mapped_file.hpp"

namespace ralm::gguf {

// GGUF is little-endian, and values are read by copying their bytes.
static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian machine");

namespace {

constexpr GgmlType kStoredTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0,
                                     GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K};

// ggml.h's names of the type ids, so a file of a type not read here is told
// which one it has ("" where ggml has none).
constexpr std::string_view kGgmlTypeNames[] = {
    "f32",     "f16",   "q4_0",   "q4_1",  "",         "",         "q5_0",     "q5_1",    "q8_0",
    "q8_1",    "q2_K",  "q3_K",   "q4_K",  "q5_K",     "q6_K",     "q8_K",     "iq2_xxs", "iq2_xs",
    "iq3_xxs", "iq1_s", "iq4_nl", "iq3_s", "iq2_s",    "iq4_xs",   "i8",       "i16",     "i32",
    "i64",     "f64",   "iq1_m",  "bf16",  "q4_0_4_4", "q4_0_4_8", "q4_0_8_8", "tq1_0",   "tq2_0"};

// The fewest bytes an entry can take, to check a count against the bytes
// left before allocating for it.
constexpr std::size_t kMinKeyValueBytes = 8 + 4 + 1;        // empty key, type, a uint8
constexpr std::size_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // empty name, n_dims 0, type, offset
constexpr std::size_t kMinArrayBytes = 4 + 8;               // element type, count
constexpr std::size_t kMinStringBytes = 8;                  // length
// A count that fits the bytes left can still be far more than a corrupt
// file holds when those bytes are gigabytes of tensor data (and an element
// in memory can be larger than in the file): reserve at most this many up
// front, and let the elements actually read grow the rest.
constexpr std::size_t kMaxReserve = std::size_t{1} << 16;
std::size_t reservation(std::uint64_t count) {
  return count < kMaxReserve ? static_cast<std::size_t>(count) : kMaxReserve;
}
// Nested arrays are read recursively; a hostile file could nest them deep
// enough to overflow the stack.
constexpr int kMaxArrayDepth = 16;

std::string quoted_bytes(const std::byte* p, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string describe(const Value& v) {
  std::string out = value_type_name(v.type());
  if (v.is_array()) out += std::string(" of ") + value_type_name(v.array_type());
  return out;
}

// Reads the file front to back; every read is checked against its end, and
// a failure names `where` the reader is.
class Parser {
 public:
  Parser(std::string file, const std::byte* data, std::size_t size)
      : file_(std::move(file)), data_(data), size_(size) {}

  std::string where = "the header";

  std::size_t pos() const { return pos_; }
  std::size_t left() const { return size_ - pos_; }
  const std::byte* at(std::size_t i) const { return data_ + i; }

  [[noreturn]] void fail(const std::string& message) const { throw InputError(file_ + ": " + message); }

  void need(std::size_t n) const {
    if (n > left())
      fail("truncated in " + where + ": needs " + std::to_string(n) + " bytes at byte " +
           std::to_string(pos_) + ", the file ends at byte " + std::to_string(size_));
  }

  template <class T>
  T read() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what) {
    const auto len = read<std::uint64_t>();
    if (len > left())
      fail(std::string(what) + " in " + where + " is " + std::to_string(len) +
           " bytes long, past the end of the file (" + std::to_string(left()) + " bytes left after byte " +
           std::to_string(pos_) + ")");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(len));
    pos_ += static_cast<std::size_t>(len);
    return s;
  }

  // `count` entries of at least `min_bytes` each must fit in what is left.
  void check_count(std::uint64_t count, std::size_t min_bytes, const std::string& what) const {
    if (min_bytes != 0 && count > left() / min_bytes)
      fail(what + " claims " + std::to_string(count) + " entries, more than the " + std::to_string(left()) +
           " bytes left in the file can hold (each takes at least " + std::to_string(min_bytes) + ")");
  }

 private:
  std::string file_;
  const std::byte* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// `what` says whose type it is: "metadata 'x' has", "metadata 'x' is an
// array of".
ValueType read_value_type(Parser& p, const std::string& what) {
  const auto id = p.read<std::uint32_t>();
  if (id >= kValueTypeCount)
    p.fail(what + " value type " + std::to_string(id) + ", which is not a GGUF value type (0 to " +
           std::to_string(kValueTypeCount - 1) + ")");
  return static_cast<ValueType>(id);
}

std::int64_t read_integer(Parser& p, ValueType type, const std::string& what) {
  switch (type) {
    case ValueType::UINT8:
      return p.read<std::uint8_t>();
    case ValueType::INT8:
      return p.read<std::int8_t>();
    case ValueType::UINT16:
      return p.read<std::uint16_t>();
    case ValueType::INT16:
      return p.read<std::int16_t>();
    case ValueType::UINT32:
      return p.read<std::uint32_t>();
    case ValueType::INT32:
      return p.read<std::int32_t>();
    case ValueType::UINT64:
      return static_cast<std::int64_t>(p.read<std::uint64_t>());
    case ValueType::INT64:
      return p.read<std::int64_t>();
    case ValueType::BOOL: {
      const auto b = p.read<std::uint8_t>();
      if (b > 1) p.fail(what + " has a bool stored as " + std::to_string(b) + " (0 or 1 expected)");
      return b;
    }
    default:
      p.fail(what + ": " + value_type_name(type) + " read as an integer");
  }
}

double read_float(Parser& p, ValueType type) {
  if (type == ValueType::FLOAT32) return p.read<float>();
  return p.read<double>();
}

std::size_t min_element_bytes(ValueType type) {
  if (type == ValueType::STRING) return kMinStringBytes;
  if (type == ValueType::ARRAY) return kMinArrayBytes;
  return value_type_size(type);
}

// `what` names the value for messages ("metadata 'general.name'").
Value read_value(Parser& p, ValueType type, const std::string& what, int depth) {
  if (type == ValueType::STRING) return Value::string(p.read_string("a string"));
  if (type == ValueType::FLOAT32) return Value::float32(p.read<float>());
  if (type == ValueType::FLOAT64) return Value::float64(p.read<double>());
  if (type != ValueType::ARRAY) {
    const std::int64_t v = read_integer(p, type, what);
    switch (type) {
      case ValueType::UINT8:
        return Value::uint8(static_cast<std::uint8_t>(v));
      case ValueType::INT8:
        return Value::int8(static_cast<std::int8_t>(v));
      case ValueType::UINT16:
        return Value::uint16(static_cast<std::uint16_t>(v));
      case ValueType::INT16:
        return Value::int16(static_cast<std::int16_t>(v));
      case ValueType::UINT32:
        return Value::uint32(static_cast<std::uint32_t>(v));
      case ValueType::INT32:
        return Value::int32(static_cast<std::int32_t>(v));
      case ValueType::UINT64:
        return Value::uint64(static_cast<std::uint64_t>(v));
      case ValueType::INT64:
        return Value::int64(v);
      default:
        return Value::boolean(v != 0);
    }
  }

  if (depth >= kMaxArrayDepth)
    p.fail(what + " nests arrays more than " + std::to_string(kMaxArrayDepth) + " deep");
  const ValueType element = read_value_type(p, what + " is an array of");
  const auto count = p.read<std::uint64_t>();
  p.check_count(count, min_element_bytes(element), what);
  if (element == ValueType::STRING) {
    std::vector<std::string> items;
    items.reserve(reservation(count));
    for (std::uint64_t i = 0; i < count; ++i)
      items.push_back(p.read_string("a string"));
    return Value::string_array(std::move(items));
  }
  if (is_float_type(element)) {
    std::vector<double> items;
    items.reserve(reservation(count));
    for (std::uint64_t i = 0; i < count; ++i)
      items.push_back(read_float(p, element));
    return Value::float_array(element, std::move(items));
  }
  if (element == ValueType::ARRAY) {
    std::vector<Value> items;
    items.reserve(reservation(count));
    for (std::uint64_t i = 0; i < count; ++i)
      items.push_back(read_value(p, ValueType::ARRAY, what, depth + 1));
    return Value::array(ValueType::ARRAY, std::move(items));
  }
  std::vector<std::int64_t> items;
  items.reserve(reservation(count));
  for (std::uint64_t i = 0; i < count; ++i)
    items.push_back(read_integer(p, element, what));
  return Value::integer_array(element, std::move(items));
}

bool accepts_string(const Value& v) {
  return v.type() == ValueType::STRING;
}
bool accepts_integer(const Value& v) {
  return is_integer_type(v.type());
}
bool accepts_number(const Value& v) {
  return is_integer_type(v.type()) || is_float_type(v.type());
}
bool accepts_bool(const Value& v) {
  return v.type() == ValueType::BOOL;
}
bool accepts_string_array(const Value& v) {
  return v.is_array() && v.array_type() == ValueType::STRING;
}
bool accepts_number_array(const Value& v) {
  return v.is_array() && (is_integer_type(v.array_type()) || is_float_type(v.array_type()));
}
bool accepts_integer_array(const Value& v) {
  return v.is_array() && is_integer_type(v.array_type());
}

}  // namespace

bool is_stored_type(GgmlType type) {
  for (const GgmlType t : kStoredTypes)
    if (t == type) return true;
  return false;
}

std::string stored_type_names() {
  std::string out;
  for (const GgmlType t : kStoredTypes) {
    if (!out.empty()) out += ", ";
    out += type_name(t);
  }
  return out;
}

std::int64_t TensorInfo::rows() const {
  std::int64_t n = 1;
  for (std::size_t i = 1; i < dims.size(); ++i)
    n *= dims[i];
  return n;
}

File::File(const std::filesystem::path& path) : path_(path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(path.string() + ": is a folder, not a GGUF file; give the model's .gguf file");
  map_ = std::make_unique<MappedFile>(path);
  parse();
}

File::~File() = default;
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;

std::size_t File::file_bytes() const {
  return map_->size();
}

void File::fail(const std::string& message) const {
  throw InputError(path_.string() + ": " + message);
}

void File::parse() {
  const auto* bytes = reinterpret_cast<const std::byte*>(map_->bytes());
  const std::size_t size = map_->size();
  Parser p(path_.string(), bytes, size);

  if (size < sizeof kMagic)
    fail("not a GGUF file (" + std::to_string(size) + " bytes, too short for the magic 'GGUF')");
  if (std::memcmp(bytes, kMagic, sizeof kMagic) != 0)
    fail("not a GGUF file (magic '" + quoted_bytes(bytes, sizeof kMagic) + "', expected 'GGUF')");
  p.read<std::uint32_t>();

  version_ = p.read<std::uint32_t>();
  if ((version_ & 0xffffu) == 0 && (version_ >> 16) != 0) {
    fail("a big-endian GGUF file (version " + std::to_string(__builtin_bswap32(version_)) +
         " byte-swapped); only little-endian files are read: convert the model again without --bigendian");
  }
  if (version_ != 2 && version_ != 3) {
    fail("GGUF version " + std::to_string(version_) +
         " is not supported (2 or 3 are); convert the model again with a current llama.cpp");
  }

  const auto tensor_count = p.read<std::uint64_t>();
  const auto kv_count = p.read<std::uint64_t>();
  p.check_count(kv_count, kMinKeyValueBytes, "the header's metadata count");
  p.check_count(tensor_count, kMinTensorInfoBytes, "the header's tensor count");

  metadata_.reserve(reservation(kv_count));
  for (std::uint64_t i = 0; i < kv_count; ++i) {
    p.where = "the metadata (key " + std::to_string(i + 1) + " of " + std::to_string(kv_count) + ")";
    std::string key = p.read_string("the key");
    p.where = "the metadata (key '" + key + "')";
    if (metadata_index_.count(key) != 0) fail("metadata key '" + key + "' appears twice");
    const std::string what = "metadata '" + key + "'";
    const ValueType type = read_value_type(p, what + " has");
    Value value = read_value(p, type, what, 0);
    metadata_index_.emplace(key, metadata_.size());
    metadata_.emplace_back(std::move(key), std::move(value));
  }

  if (const Value* a = find(kAlignmentKey)) {
    if (a->type() != ValueType::UINT32)
      fail("metadata '" + std::string(kAlignmentKey) + "' is " + describe(*a) + ", expected uint32");
    alignment_ = static_cast<std::size_t>(a->as_uint());
    if (alignment_ == 0 || !std::has_single_bit(alignment_))
      fail("metadata '" + std::string(kAlignmentKey) + "' is " + std::to_string(alignment_) +
           ", not a power of two");
  }

  tensors_.reserve(reservation(tensor_count));
  for (std::uint64_t i = 0; i < tensor_count; ++i) {
    p.where =
        "the tensor infos (tensor " + std::to_string(i + 1) + " of " + std::to_string(tensor_count) + ")";
    TensorInfo t;
    t.name = p.read_string("the tensor name");
    p.where = "the tensor infos (tensor '" + t.name + "')";
    const std::string what = "tensor '" + t.name + "'";
    if (tensor_index_.count(t.name) != 0) fail(what + " appears twice");

    const auto n_dims = p.read<std::uint32_t>();
    if (n_dims > kMaxDims)
      fail(what + " has " + std::to_string(n_dims) + " dimensions (at most " + std::to_string(kMaxDims) +
           ")");
    std::int64_t elements = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto ne = p.read<std::uint64_t>();
      if (ne > static_cast<std::uint64_t>(INT64_MAX) ||
          __builtin_mul_overflow(elements, static_cast<std::int64_t>(ne), &elements))
        fail(what + " has dimension " + std::to_string(d) + " of " + std::to_string(ne) +
             ", making more elements than a 64-bit count holds");
      t.dims.push_back(static_cast<std::int64_t>(ne));
    }

    const auto type_id = p.read<std::uint32_t>();
    const auto traits = type_traits(type_id);
    if (!traits || !is_stored_type(traits->type)) {
      std::string known;
      if (type_id < std::size(kGgmlTypeNames) && !kGgmlTypeNames[type_id].empty())
        known = " (" + std::string(kGgmlTypeNames[type_id]) + ")";
      fail(what + " has type id " + std::to_string(type_id) + known + ", which this build does not read (" +
           stored_type_names() + ")" +
           (known.empty() ? "; the file is corrupt" : "; requantize the model to one of them"));
    }
    t.type = traits->type;
    if (t.row_length() % traits->block_size != 0)
      fail(what + " has rows of " + std::to_string(t.row_length()) + " " + std::string(traits->name) +
           " weights, not a multiple of its block size " + std::to_string(traits->block_size));
    const auto row_bytes =
        static_cast<std::uint64_t>(t.row_length() / traits->block_size) * traits->block_bytes;
    std::uint64_t total = 0;
    if (__builtin_mul_overflow(row_bytes, static_cast<std::uint64_t>(t.rows()), &total))
      fail(what + " takes more bytes than a 64-bit size holds");
    t.bytes = static_cast<std::size_t>(total);

    t.offset = p.read<std::uint64_t>();
    if (t.offset % alignment_ != 0)
      fail(what + " is at offset " + std::to_string(t.offset) +
           " in the data section, not a multiple of the " + "alignment " + std::to_string(alignment_));

    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  data_offset_ = (p.pos() + alignment_ - 1) / alignment_ * alignment_;
  for (TensorInfo& t : tensors_) {
    std::uint64_t end = 0;
    const bool wraps = __builtin_add_overflow(std::uint64_t{data_offset_}, t.offset, &end) ||
                       __builtin_add_overflow(end, std::uint64_t{t.bytes}, &end);
    if (wraps || end > size)
      fail("tensor '" + t.name + "' runs past the end of the file (ends at byte " +
           (wraps ? std::string("past 2^64") : std::to_string(end)) + ", file has " + std::to_string(size) +
           ")");
    t.data = bytes + data_offset_ + t.offset;
  }
}

const Value* File::find(std::string_view key) const {
  const auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const Value* File::find_typed(std::string_view key, bool (*accepts)(const Value&),
                              const char* expected) const {
  const Value* v = find(key);
  if (v && !accepts(*v))
    fail("metadata '" + std::string(key) + "' is " + describe(*v) + ", expected " + expected);
  return v;
}

const Value& File::typed(std::string_view key, bool (*accepts)(const Value&), const char* expected) const {
  const Value* v = find_typed(key, accepts, expected);
  if (!v) fail("metadata '" + std::string(key) + "' is missing");
  return *v;
}

std::string File::get_string(std::string_view key) const {
  return typed(key, accepts_string, "a string").as_string();
}

std::optional<std::string> File::find_string(std::string_view key) const {
  const Value* v = find_typed(key, accepts_string, "a string");
  return v ? std::optional(v->as_string()) : std::nullopt;
}

namespace {

std::uint64_t non_negative(const Value& v, std::string_view key, const std::filesystem::path& path) {
  if (v.type() != ValueType::UINT64 && v.as_int() < 0)
    throw InputError(path.string() + ": metadata '" + std::string(key) + "' is " + v.to_string() +
                     ", expected a non-negative integer");
  return v.as_uint();
}

}  // namespace

std::uint64_t File::get_uint(std::string_view key) const {
  return non_negative(typed(key, accepts_integer, "an integer"), key, path_);
}

std::optional<std::uint64_t> File::find_uint(std::string_view key) const {
  const Value* v = find_typed(key, accepts_integer, "an integer");
  return v ? std::optional(non_negative(*v, key, path_)) : std::nullopt;
}

double File::get_float(std::string_view key) const {
  return typed(key, accepts_number, "a number").as_float();
}

std::optional<double> File::find_float(std::string_view key) const {
  const Value* v = find_typed(key, accepts_number, "a number");
  return v ? std::optional(v->as_float()) : std::nullopt;
}

bool File::get_bool(std::string_view key) const {
  return typed(key, accepts_bool, "a bool").as_bool();
}

std::optional<bool> File::find_bool(std::string_view key) const {
  const Value* v = find_typed(key, accepts_bool, "a bool");
  return v ? std::optional(v->as_bool()) : std::nullopt;
}

std::vector<std::string> File::get_string_array(std::string_view key) const {
  return typed(key, accepts_string_array, "an array of strings").strings();
}

std::vector<float> File::get_float_array(std::string_view key) const {
  const Value& v = typed(key, accepts_number_array, "an array of numbers");
  if (is_float_type(v.array_type())) return std::vector<float>(v.floats().begin(), v.floats().end());
  std::vector<float> out;
  out.reserve(v.array_size());
  const bool is_unsigned64 = v.array_type() == ValueType::UINT64;
  for (const std::int64_t x : v.ints())
    out.push_back(is_unsigned64 ? static_cast<float>(static_cast<std::uint64_t>(x)) : static_cast<float>(x));
  return out;
}

std::vector<std::int64_t> File::get_int_array(std::string_view key) const {
  const Value& v = typed(key, accepts_integer_array, "an array of integers");
  if (v.array_type() == ValueType::UINT64) {
    const auto& ints = v.ints();
    for (std::size_t i = 0; i < ints.size(); ++i)
      if (ints[i] < 0)
        fail("metadata '" + std::string(key) + "' element " + std::to_string(i) + " is " +
             std::to_string(static_cast<std::uint64_t>(ints[i])) + ", past the int64 range");
  }
  return v.ints();
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& File::tensor(std::string_view name) const {
  const TensorInfo* t = find_tensor(name);
  if (!t) fail("tensor '" + std::string(name) + "' is missing");
  return *t;
}

void File::release(const TensorInfo& t) const {
  if (t.bytes == 0) return;
  const auto* base = reinterpret_cast<const std::byte*>(map_->bytes());
  if (t.data < base || t.data + t.bytes > base + map_->size())
    throw Error(path_.string() + ": release() of tensor '" + t.name + "', which is not in this file");
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<std::uintptr_t>(t.data) + page - 1) / page * page;
  const auto end = (reinterpret_cast<std::uintptr_t>(t.data) + t.bytes) / page * page;
  // Dropping pages of a read-only shared file mapping loses nothing: the
  // next read faults them in from the page cache or the file.
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace ralm::gguf
