// One GGUF metadata value: a scalar of one of GGUF's thirteen value types,
// or an array of one element type (arrays may nest).
//
// Arrays are stored compactly by element kind, not as a vector of Values: a
// tokenizer's 32000-entry token list is one std::vector<std::string>, its
// scores one std::vector<double>, so a model's metadata loads in
// milliseconds. A scalar is held the same way, as a one-element vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ralm::gguf {

// The ids GGUF stores (gguf.h's enum gguf_type).
enum class ValueType : std::uint32_t {
  UINT8 = 0,
  INT8,
  UINT16,
  INT16,
  UINT32,
  INT32,
  FLOAT32,
  BOOL,
  STRING,
  ARRAY,
  UINT64,
  INT64,
  FLOAT64,
};
inline constexpr std::uint32_t kValueTypeCount = 13;

// "uint8", "float32", "string", "array", ...: as messages print them.
const char* value_type_name(ValueType type);
// Bytes a scalar of `type` takes in a file; 0 for STRING and ARRAY, whose
// size depends on their contents.
std::size_t value_type_size(ValueType type);
bool is_integer_type(ValueType type);  // the eight integer types (not BOOL)
bool is_float_type(ValueType type);    // FLOAT32, FLOAT64

class Value {
 public:
  // Scalars.
  static Value uint8(std::uint8_t v);
  static Value int8(std::int8_t v);
  static Value uint16(std::uint16_t v);
  static Value int16(std::int16_t v);
  static Value uint32(std::uint32_t v);
  static Value int32(std::int32_t v);
  static Value uint64(std::uint64_t v);
  static Value int64(std::int64_t v);
  static Value float32(float v);
  static Value float64(double v);
  static Value boolean(bool v);
  static Value string(std::string v);

  // Arrays.
  static Value string_array(std::vector<std::string> items);
  static Value float32_array(const std::vector<float>& items);
  static Value float64_array(std::vector<double> items);
  static Value int32_array(const std::vector<std::int32_t>& items);
  static Value uint32_array(const std::vector<std::uint32_t>& items);
  static Value bool_array(const std::vector<bool>& items);
  // An array of any integer element type (or BOOL); a value that does not
  // fit `element_type` is an Error. UINT64 elements are given as their bits
  // (static_cast<std::int64_t>).
  static Value integer_array(ValueType element_type, std::vector<std::int64_t> items);
  // An array of FLOAT32 or FLOAT64 elements; a FLOAT32 item must be a float
  // widened (an Error otherwise).
  static Value float_array(ValueType element_type, std::vector<double> items);
  // An array of any element type, arrays included (nested arrays); every
  // item must be of `element_type` (an Error otherwise).
  static Value array(ValueType element_type, std::vector<Value> items);

  ValueType type() const { return type_; }
  bool is_array() const { return type_ == ValueType::ARRAY; }
  // An array's element type; a scalar's own type.
  ValueType array_type() const { return element_; }
  // An array's number of elements; 0 for a scalar.
  std::size_t array_size() const;

  // Scalar contents. Asking for the wrong kind is an Error (a bug: check
  // type() first, or use File's typed getters, which name the file and key).
  const std::string& as_string() const;
  bool as_bool() const;
  std::int64_t as_int() const;    // integer types; a uint64 above INT64_MAX is an Error
  std::uint64_t as_uint() const;  // integer types; a negative value is an Error
  double as_float() const;        // float and integer types

  // Array contents, by element kind (an Error for another kind).
  const std::vector<std::string>& strings() const;  // STRING elements
  const std::vector<double>& floats() const;        // FLOAT32 (widened exactly) and FLOAT64 elements
  // Integer and BOOL elements (0/1); UINT64 elements as their bits.
  const std::vector<std::int64_t>& ints() const;
  const std::vector<Value>& items() const;  // ARRAY elements (nested arrays)

  // For people (`ralm model info`): a scalar as text (strings as they are,
  // control characters escaped so it stays one line); an array as
  // "[a, b, ... (N items)]" showing at most `max_items` elements, strings
  // quoted.
  std::string to_string(std::size_t max_items = 8) const;

  bool operator==(const Value& other) const = default;

 private:
  Value(ValueType type, ValueType element) : type_(type), element_(element) {}
  static Value scalar_int(ValueType type, std::int64_t v);
  std::string element_text(std::size_t i, std::size_t max_items) const;

  ValueType type_;
  ValueType element_;
  // Exactly one holds the contents: by element kind for arrays, one element
  // for scalars.
  std::vector<std::int64_t> ints_;
  std::vector<double> floats_;
  std::vector<std::string> strings_;
  std::vector<Value> items_;
};

}  // namespace ralm::gguf
