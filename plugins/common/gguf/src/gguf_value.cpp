#include "ralm/gguf/gguf_value.hpp"

#include <charconv>
#include <limits>
#include <utility>

#include "ralm/error.hpp"

namespace ralm::gguf {

const char* value_type_name(ValueType type) {
  switch (type) {
    case ValueType::UINT8:
      return "uint8";
    case ValueType::INT8:
      return "int8";
    case ValueType::UINT16:
      return "uint16";
    case ValueType::INT16:
      return "int16";
    case ValueType::UINT32:
      return "uint32";
    case ValueType::INT32:
      return "int32";
    case ValueType::FLOAT32:
      return "float32";
    case ValueType::BOOL:
      return "bool";
    case ValueType::STRING:
      return "string";
    case ValueType::ARRAY:
      return "array";
    case ValueType::UINT64:
      return "uint64";
    case ValueType::INT64:
      return "int64";
    case ValueType::FLOAT64:
      return "float64";
  }
  return "?";
}

std::size_t value_type_size(ValueType type) {
  switch (type) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL:
      return 1;
    case ValueType::UINT16:
    case ValueType::INT16:
      return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32:
      return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
      return 8;
    case ValueType::STRING:
    case ValueType::ARRAY:
      return 0;
  }
  return 0;
}

bool is_integer_type(ValueType type) {
  switch (type) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::UINT16:
    case ValueType::INT16:
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::UINT64:
    case ValueType::INT64:
      return true;
    default:
      return false;
  }
}

bool is_float_type(ValueType type) {
  return type == ValueType::FLOAT32 || type == ValueType::FLOAT64;
}

namespace {

bool is_int_storage(ValueType type) {
  return is_integer_type(type) || type == ValueType::BOOL;
}

// Whether `v` is a value of `type` (UINT64 and INT64 take any bits).
bool fits(ValueType type, std::int64_t v) {
  switch (type) {
    case ValueType::UINT8:
      return v >= 0 && v <= std::numeric_limits<std::uint8_t>::max();
    case ValueType::INT8:
      return v >= std::numeric_limits<std::int8_t>::min() && v <= std::numeric_limits<std::int8_t>::max();
    case ValueType::UINT16:
      return v >= 0 && v <= std::numeric_limits<std::uint16_t>::max();
    case ValueType::INT16:
      return v >= std::numeric_limits<std::int16_t>::min() && v <= std::numeric_limits<std::int16_t>::max();
    case ValueType::UINT32:
      return v >= 0 && v <= std::numeric_limits<std::uint32_t>::max();
    case ValueType::INT32:
      return v >= std::numeric_limits<std::int32_t>::min() && v <= std::numeric_limits<std::int32_t>::max();
    case ValueType::BOOL:
      return v == 0 || v == 1;
    default:
      return true;
  }
}

// `s` on one line: control characters escaped; in quotes, with quotes and
// backslashes escaped too, when `quoted`.
std::string printable(const std::string& s, bool quoted) {
  std::string out;
  out.reserve(s.size() + 2);
  if (quoted) out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else if (quoted && (c == '"' || c == '\\')) {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  if (quoted) out += '"';
  return out;
}

// The shortest text that reads back as the same float (or double).
template <class T>
std::string shortest(T v) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

[[noreturn]] void wrong_kind(ValueType have, ValueType element, const char* wanted) {
  std::string what = value_type_name(have);
  if (have == ValueType::ARRAY) what += std::string(" of ") + value_type_name(element);
  throw Error(std::string("gguf: a metadata value of type ") + what + " read as " + wanted);
}

}  // namespace

Value Value::scalar_int(ValueType type, std::int64_t v) {
  Value out(type, type);
  out.ints_.push_back(v);
  return out;
}

Value Value::uint8(std::uint8_t v) {
  return scalar_int(ValueType::UINT8, v);
}
Value Value::int8(std::int8_t v) {
  return scalar_int(ValueType::INT8, v);
}
Value Value::uint16(std::uint16_t v) {
  return scalar_int(ValueType::UINT16, v);
}
Value Value::int16(std::int16_t v) {
  return scalar_int(ValueType::INT16, v);
}
Value Value::uint32(std::uint32_t v) {
  return scalar_int(ValueType::UINT32, v);
}
Value Value::int32(std::int32_t v) {
  return scalar_int(ValueType::INT32, v);
}
Value Value::uint64(std::uint64_t v) {
  return scalar_int(ValueType::UINT64, static_cast<std::int64_t>(v));
}
Value Value::int64(std::int64_t v) {
  return scalar_int(ValueType::INT64, v);
}
Value Value::boolean(bool v) {
  return scalar_int(ValueType::BOOL, v ? 1 : 0);
}

Value Value::float32(float v) {
  Value out(ValueType::FLOAT32, ValueType::FLOAT32);
  out.floats_.push_back(v);
  return out;
}

Value Value::float64(double v) {
  Value out(ValueType::FLOAT64, ValueType::FLOAT64);
  out.floats_.push_back(v);
  return out;
}

Value Value::string(std::string v) {
  Value out(ValueType::STRING, ValueType::STRING);
  out.strings_.push_back(std::move(v));
  return out;
}

Value Value::string_array(std::vector<std::string> items) {
  Value out(ValueType::ARRAY, ValueType::STRING);
  out.strings_ = std::move(items);
  return out;
}

Value Value::float32_array(const std::vector<float>& items) {
  return float_array(ValueType::FLOAT32, std::vector<double>(items.begin(), items.end()));
}

Value Value::float64_array(std::vector<double> items) {
  return float_array(ValueType::FLOAT64, std::move(items));
}

Value Value::float_array(ValueType element_type, std::vector<double> items) {
  if (!is_float_type(element_type))
    throw Error(std::string("gguf: a float array of ") + value_type_name(element_type) + " elements");
  if (element_type == ValueType::FLOAT32) {
    for (const double d : items)
      if (d == d && static_cast<double>(static_cast<float>(d)) != d)
        throw Error("gguf: float32 array element " + shortest(d) + " is not a float");
  }
  Value out(ValueType::ARRAY, element_type);
  out.floats_ = std::move(items);
  return out;
}

Value Value::int32_array(const std::vector<std::int32_t>& items) {
  return integer_array(ValueType::INT32, std::vector<std::int64_t>(items.begin(), items.end()));
}

Value Value::uint32_array(const std::vector<std::uint32_t>& items) {
  return integer_array(ValueType::UINT32, std::vector<std::int64_t>(items.begin(), items.end()));
}

Value Value::bool_array(const std::vector<bool>& items) {
  return integer_array(ValueType::BOOL, std::vector<std::int64_t>(items.begin(), items.end()));
}

Value Value::integer_array(ValueType element_type, std::vector<std::int64_t> items) {
  if (!is_int_storage(element_type))
    throw Error(std::string("gguf: an integer array of ") + value_type_name(element_type) + " elements");
  for (const std::int64_t v : items)
    if (!fits(element_type, v))
      throw Error("gguf: " + std::to_string(v) + " is not a " + value_type_name(element_type));
  Value out(ValueType::ARRAY, element_type);
  out.ints_ = std::move(items);
  return out;
}

Value Value::array(ValueType element_type, std::vector<Value> items) {
  for (const Value& item : items)
    if (item.type() != element_type)
      throw Error(std::string("gguf: a ") + value_type_name(item.type()) + " item in an array of " +
                  value_type_name(element_type));
  Value out(ValueType::ARRAY, element_type);
  if (element_type == ValueType::ARRAY) {
    out.items_ = std::move(items);
    return out;
  }
  for (Value& item : items) {
    if (is_int_storage(element_type))
      out.ints_.push_back(item.ints_.front());
    else if (is_float_type(element_type))
      out.floats_.push_back(item.floats_.front());
    else
      out.strings_.push_back(std::move(item.strings_.front()));
  }
  return out;
}

std::size_t Value::array_size() const {
  if (!is_array()) return 0;
  if (element_ == ValueType::ARRAY) return items_.size();
  if (element_ == ValueType::STRING) return strings_.size();
  if (is_float_type(element_)) return floats_.size();
  return ints_.size();
}

const std::string& Value::as_string() const {
  if (type_ != ValueType::STRING) wrong_kind(type_, element_, "a string");
  return strings_.front();
}

bool Value::as_bool() const {
  if (type_ != ValueType::BOOL) wrong_kind(type_, element_, "a bool");
  return ints_.front() != 0;
}

std::int64_t Value::as_int() const {
  if (!is_integer_type(type_)) wrong_kind(type_, element_, "an integer");
  if (type_ == ValueType::UINT64 && ints_.front() < 0)
    throw Error("gguf: uint64 " + to_string() + " read as a signed 64-bit integer");
  return ints_.front();
}

std::uint64_t Value::as_uint() const {
  if (!is_integer_type(type_)) wrong_kind(type_, element_, "an integer");
  if (type_ != ValueType::UINT64 && ints_.front() < 0)
    throw Error("gguf: " + to_string() + " read as an unsigned integer");
  return static_cast<std::uint64_t>(ints_.front());
}

double Value::as_float() const {
  if (is_float_type(type_)) return floats_.front();
  if (type_ == ValueType::UINT64) return static_cast<double>(static_cast<std::uint64_t>(ints_.front()));
  if (is_integer_type(type_)) return static_cast<double>(ints_.front());
  wrong_kind(type_, element_, "a number");
}

const std::vector<std::string>& Value::strings() const {
  if (!is_array() || element_ != ValueType::STRING) wrong_kind(type_, element_, "an array of strings");
  return strings_;
}

const std::vector<double>& Value::floats() const {
  if (!is_array() || !is_float_type(element_)) wrong_kind(type_, element_, "an array of floats");
  return floats_;
}

const std::vector<std::int64_t>& Value::ints() const {
  if (!is_array() || !is_int_storage(element_)) wrong_kind(type_, element_, "an array of integers");
  return ints_;
}

const std::vector<Value>& Value::items() const {
  if (!is_array() || element_ != ValueType::ARRAY) wrong_kind(type_, element_, "an array of arrays");
  return items_;
}

std::string Value::element_text(std::size_t i, std::size_t max_items) const {
  switch (element_) {
    case ValueType::STRING:
      return printable(strings_[i], is_array());
    case ValueType::ARRAY:
      return items_[i].to_string(max_items);
    case ValueType::FLOAT32:
      return shortest(static_cast<float>(floats_[i]));
    case ValueType::FLOAT64:
      return shortest(floats_[i]);
    case ValueType::BOOL:
      return ints_[i] ? "true" : "false";
    case ValueType::UINT64:
      return std::to_string(static_cast<std::uint64_t>(ints_[i]));
    default:
      return std::to_string(ints_[i]);
  }
}

std::string Value::to_string(std::size_t max_items) const {
  if (!is_array()) return element_text(0, max_items);
  const std::size_t n = array_size();
  const std::size_t shown = n <= max_items ? n : max_items;
  std::string out = "[";
  for (std::size_t i = 0; i < shown; ++i) {
    if (i) out += ", ";
    out += element_text(i, max_items);
  }
  if (shown < n) out += (shown ? ", ... (" : "... (") + std::to_string(n) + " items)";
  return out + "]";
}

}  // namespace ralm::gguf
