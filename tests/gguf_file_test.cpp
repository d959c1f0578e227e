// The GGUF container (ralm/gguf/gguf_file.hpp, gguf_writer.hpp): what the
// writer writes reads back value for value and byte for byte; llama.cpp's
// own writer's files read and its reader reads ours; every malformed file is
// one InputError naming the file and the field.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "ralm/error.hpp"
#include "ralm/gguf/gguf_file.hpp"
#include "ralm/gguf/gguf_writer.hpp"
#include "run_command.hpp"

namespace {

namespace fs = std::filesystem;
using namespace ralm::gguf;
using ralm::test::TempDir;

// n bytes that differ from tensor to tensor (`seed`) and byte to byte.
std::vector<std::byte> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> out(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::byte>(x);
  }
  return out;
}

Writer::Fill fill_with(std::vector<std::byte> bytes) {
  return [bytes = std::move(bytes)](std::byte* dst) { std::memcpy(dst, bytes.data(), bytes.size()); };
}

std::size_t tensor_bytes(GgmlType type, const std::vector<std::int64_t>& dims) {
  std::size_t rows = 1;
  for (std::size_t i = 1; i < dims.size(); ++i)
    rows *= static_cast<std::size_t>(dims[i]);
  return row_bytes(type, dims[0]) * rows;
}

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Removes the file first: rewriting one in place makes ext4 flush it to disk
// on close (its replace-by-truncate heuristic), which slows the tests that
// write thousands of variants 20-fold.
void spit(const fs::path& file, const std::string& bytes) {
  fs::remove(file);
  std::ofstream(file, std::ios::binary) << bytes;
}

// Reading `file` fails with an InputError of one line that starts with the
// file's name and holds each of `parts`.
void expect_input_error(const fs::path& file, const std::vector<std::string>& parts) {
  try {
    File f(file);
    ADD_FAILURE() << file << " was read without an error";
  } catch (const ralm::InputError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind(file.string() + ": ", 0), 0u) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    for (const auto& p : parts)
      EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' is not in: " << m;
  }
}

template <class F>
std::string input_error_of(F&& f) {
  try {
    f();
  } catch (const ralm::InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return "";
}

// A GGUF file built byte by byte, for what our writer never produces: other
// versions, and every kind of corruption.
class Bytes {
 public:
  template <class T>
  Bytes& put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    s_.append(b, sizeof(T));
    return *this;
  }
  Bytes& u8(std::uint8_t v) { return put(v); }
  Bytes& u32(std::uint32_t v) { return put(v); }
  Bytes& u64(std::uint64_t v) { return put(v); }
  Bytes& raw(std::string_view b) {
    s_ += b;
    return *this;
  }
  Bytes& str(std::string_view v) { return u64(v.size()).raw(v); }
  Bytes& header(std::uint32_t version, std::uint64_t tensors, std::uint64_t kvs) {
    return raw("GGUF").u32(version).u64(tensors).u64(kvs);
  }
  Bytes& key(std::string_view k, ValueType type) { return str(k).u32(static_cast<std::uint32_t>(type)); }
  Bytes& tensor(std::string_view name, std::vector<std::uint64_t> dims, std::uint32_t type,
                std::uint64_t offset) {
    str(name).u32(static_cast<std::uint32_t>(dims.size()));
    for (auto d : dims)
      u64(d);
    return u32(type).u64(offset);
  }
  Bytes& pad(std::size_t alignment) {
    while (s_.size() % alignment)
      s_ += '\0';
    return *this;
  }
  std::size_t size() const { return s_.size(); }
  fs::path write(const TempDir& dir, const std::string& name = "m.gguf") const {
    const fs::path p = dir.path() / name;
    spit(p, s_);
    return p;
  }

 private:
  std::string s_;
};

constexpr std::uint32_t kF32 = 0, kQ4_0 = 2;

// Every value type, with edge values, and every kind of array.
std::vector<std::pair<std::string, Value>> every_value() {
  return {
      {"general.architecture", Value::string("llama")},
      {"test.uint8", Value::uint8(255)},
      {"test.int8", Value::int8(-128)},
      {"test.uint16", Value::uint16(65535)},
      {"test.int16", Value::int16(-32768)},
      {"test.uint32", Value::uint32(4000000000u)},
      {"test.int32", Value::int32(-2000000000)},
      {"test.uint64", Value::uint64(std::numeric_limits<std::uint64_t>::max())},
      {"test.int64", Value::int64(std::numeric_limits<std::int64_t>::min())},
      {"test.float32", Value::float32(-0.1f)},
      {"test.float64", Value::float64(1e-310)},
      {"test.bool", Value::boolean(true)},
      {"test.false", Value::boolean(false)},
      {"test.string", Value::string("line one\nline \"two\" \xe2\x96\x81")},
      {"test.empty_string", Value::string("")},
      {"tokenizer.ggml.tokens", Value::string_array({"<s>", "", "\xe2\x96\x81the", std::string("a\0b", 3)})},
      {"tokenizer.ggml.scores",
       Value::float32_array({0.0f, -1.25f, 3e38f, std::numeric_limits<float>::denorm_min()})},
      {"tokenizer.ggml.token_type", Value::int32_array({1, 3, 6, -1})},
      {"test.float64_array", Value::float64_array({0.1, -2.0})},
      {"test.uint32_array", Value::uint32_array({0, 4294967295u})},
      {"test.bool_array", Value::bool_array({true, false, true})},
      {"test.uint64_array", Value::integer_array(ValueType::UINT64, {-1, 0, 7})},
      {"test.int8_array", Value::integer_array(ValueType::INT8, {-128, 127})},
      {"test.empty_array", Value::integer_array(ValueType::INT64, {})},
      {"test.nested",
       Value::array(ValueType::ARRAY, {Value::int32_array({1, 2}), Value::int32_array({}),
                                       Value::array(ValueType::ARRAY, {Value::string_array({"deep"})})})},
  };
}

struct TensorSpec {
  std::string name;
  GgmlType type;
  std::vector<std::int64_t> dims;
};

// Of every stored type, vectors to 4-D, sizes that need padding.
std::vector<TensorSpec> several_tensors() {
  return {
      {"token_embd.weight", GgmlType::F32, {5, 3}},
      {"output_norm.weight", GgmlType::F16, {7}},
      {"blk.0.attn_norm.weight", GgmlType::BF16, {4, 2, 3}},
      {"blk.0.attn_q.weight", GgmlType::Q4_0, {64, 3}},
      {"blk.0.attn_k.weight", GgmlType::Q8_0, {32, 3}},
      {"blk.0.ffn_up.weight", GgmlType::Q4_K, {256, 2}},
      {"blk.0.ffn_down.weight", GgmlType::Q6_K, {256}},
      {"test.four_d", GgmlType::F32, {2, 1, 2, 3}},
  };
}

Writer writer_of(const std::vector<std::pair<std::string, Value>>& values,
                 const std::vector<TensorSpec>& specs) {
  Writer w;
  for (const auto& [k, v] : values)
    w.set(k, v);
  for (std::size_t i = 0; i < specs.size(); ++i)
    w.add_tensor(
        specs[i].name, specs[i].type, specs[i].dims,
        fill_with(pattern(tensor_bytes(specs[i].type, specs[i].dims), static_cast<std::uint32_t>(i))));
  return w;
}

void expect_tensors(const File& f, const std::vector<TensorSpec>& specs) {
  ASSERT_EQ(f.tensors().size(), specs.size());
  const auto* start =
      f.tensors().empty() ? nullptr : f.tensors()[0].data - f.data_offset() - f.tensors()[0].offset;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const TensorInfo& t = f.tensors()[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, specs[i].name);
    EXPECT_EQ(&f.tensor(specs[i].name), &t);
    EXPECT_EQ(t.type, specs[i].type);
    EXPECT_EQ(t.dims, specs[i].dims);
    EXPECT_EQ(t.row_length(), specs[i].dims[0]);
    EXPECT_EQ(t.rows() * t.row_length(), t.elements());
    const auto expected = pattern(tensor_bytes(specs[i].type, specs[i].dims), static_cast<std::uint32_t>(i));
    ASSERT_EQ(t.bytes, expected.size());
    EXPECT_EQ(std::memcmp(t.data, expected.data(), t.bytes), 0);
    EXPECT_EQ(t.offset % f.alignment(), 0u);
    EXPECT_EQ(static_cast<std::size_t>(t.data - start) % f.alignment(), 0u)
        << "not aligned from the file's start";
  }
}

TEST(GgufFile, EveryValueTypeAndTensorReadsBackAsWritten) {
  TempDir dir;
  const auto values = every_value();
  const auto specs = several_tensors();
  const fs::path out = dir.path() / "model.gguf";
  writer_of(values, specs).write(out);

  const File f(out);
  EXPECT_EQ(f.path(), out);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.file_bytes(), fs::file_size(out));
  // Everything set, in order, then the alignment the writer adds.
  ASSERT_EQ(f.metadata().size(), values.size() + 1);
  for (std::size_t i = 0; i < values.size(); ++i) {
    SCOPED_TRACE(values[i].first);
    EXPECT_EQ(f.metadata()[i].first, values[i].first);
    EXPECT_EQ(f.metadata()[i].second, values[i].second) << f.metadata()[i].second.to_string();
  }
  EXPECT_EQ(f.metadata().back().first, "general.alignment");
  EXPECT_EQ(f.metadata().back().second, Value::uint32(32));
  expect_tensors(f, specs);
  EXPECT_EQ(f.data_offset() % 32, 0u);
}

TEST(GgufFile, ArraysKeepTheirElementTypesAndSizes) {
  TempDir dir;
  Writer w;
  for (const auto& [k, v] : every_value())
    w.set(k, v);
  w.write(dir.path() / "m.gguf");
  const File f(dir.path() / "m.gguf");

  const Value* tokens = f.find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->type(), ValueType::ARRAY);
  EXPECT_EQ(tokens->array_type(), ValueType::STRING);
  EXPECT_EQ(tokens->array_size(), 4u);
  EXPECT_EQ(tokens->strings()[3], std::string("a\0b", 3));
  EXPECT_EQ(f.find("tokenizer.ggml.scores")->array_type(), ValueType::FLOAT32);
  EXPECT_EQ(f.find("tokenizer.ggml.scores")->floats()[3],
            static_cast<double>(std::numeric_limits<float>::denorm_min()));
  EXPECT_EQ(f.find("test.uint64_array")->array_type(), ValueType::UINT64);
  EXPECT_EQ(static_cast<std::uint64_t>(f.find("test.uint64_array")->ints()[0]),
            std::numeric_limits<std::uint64_t>::max());
  const Value* nested = f.find("test.nested");
  EXPECT_EQ(nested->array_type(), ValueType::ARRAY);
  ASSERT_EQ(nested->array_size(), 3u);
  EXPECT_EQ(nested->items()[0].ints(), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(nested->items()[1].array_size(), 0u);
  EXPECT_EQ(nested->items()[2].items()[0].strings(), std::vector<std::string>{"deep"});
  EXPECT_EQ(f.find("test.empty_array")->array_type(), ValueType::INT64);
  EXPECT_EQ(f.find("test.empty_array")->array_size(), 0u);
  EXPECT_EQ(f.find("test.uint8")->array_size(), 0u);
  EXPECT_EQ(f.find("nope"), nullptr);
}

// A tokenizer's vocabulary: the arrays a model load reads first.
TEST(GgufFile, ATokenizerSizedVocabularyRoundTrips) {
  TempDir dir;
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<std::int32_t> types;
  for (int i = 0; i < 32000; ++i) {
    tokens.push_back("\xe2\x96\x81token" + std::to_string(i));
    scores.push_back(-static_cast<float>(i) / 7);
    types.push_back(i < 3 ? 3 : 1);
  }
  Writer w;
  w.set("tokenizer.ggml.tokens", Value::string_array(tokens));
  w.set("tokenizer.ggml.scores", Value::float32_array(scores));
  w.set("tokenizer.ggml.token_type", Value::int32_array(types));
  w.write(dir.path() / "m.gguf");
  const File f(dir.path() / "m.gguf");
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens"), tokens);
  EXPECT_EQ(f.get_float_array("tokenizer.ggml.scores"), scores);
  EXPECT_EQ(f.get_int_array("tokenizer.ggml.token_type"),
            std::vector<std::int64_t>(types.begin(), types.end()));
}

TEST(GgufFile, TypedGettersConvertWhatTheyMayAndNameFileAndKeyOtherwise) {
  TempDir dir;
  Writer w;
  for (const auto& [k, v] : every_value())
    w.set(k, v);
  const fs::path p = dir.path() / "m.gguf";
  w.write(p);
  const File f(p);

  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.find_string("general.architecture"), "llama");
  EXPECT_EQ(f.find_string("general.name"), std::nullopt);
  EXPECT_EQ(f.get_uint("test.uint8"), 255u);
  EXPECT_EQ(f.get_uint("test.uint32"), 4000000000u);
  EXPECT_EQ(f.get_uint("test.uint64"), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(f.find_uint("test.uint16"), 65535u);
  EXPECT_EQ(f.find_uint("llama.block_count"), std::nullopt);
  EXPECT_EQ(f.get_float("test.float32"), static_cast<double>(-0.1f));
  EXPECT_EQ(f.get_float("test.float64"), 1e-310);
  EXPECT_EQ(f.get_float("test.int32"), -2000000000.0);
  EXPECT_EQ(f.find_float("rope.freq_base"), std::nullopt);
  EXPECT_TRUE(f.get_bool("test.bool"));
  EXPECT_EQ(f.find_bool("test.false"), false);
  EXPECT_EQ(f.find_bool("nope"), std::nullopt);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), 4u);
  EXPECT_EQ(f.get_float_array("tokenizer.ggml.scores"),
            (std::vector<float>{0.0f, -1.25f, 3e38f, std::numeric_limits<float>::denorm_min()}));
  EXPECT_EQ(f.get_float_array("tokenizer.ggml.token_type"), (std::vector<float>{1, 3, 6, -1}));
  EXPECT_EQ(f.get_int_array("tokenizer.ggml.token_type"), (std::vector<std::int64_t>{1, 3, 6, -1}));
  EXPECT_EQ(f.get_int_array("test.uint32_array"), (std::vector<std::int64_t>{0, 4294967295}));

  const std::string name = p.string() + ": ";
  EXPECT_EQ(input_error_of([&] { f.get_uint("llama.block_count"); }),
            name + "metadata 'llama.block_count' is missing");
  EXPECT_EQ(input_error_of([&] { f.get_uint("general.architecture"); }),
            name + "metadata 'general.architecture' is string, expected an integer");
  EXPECT_EQ(input_error_of([&] { f.find_uint("general.architecture"); }),
            name + "metadata 'general.architecture' is string, expected an integer");
  EXPECT_EQ(input_error_of([&] { f.get_uint("test.int32"); }),
            name + "metadata 'test.int32' is -2000000000, expected a non-negative integer");
  EXPECT_EQ(input_error_of([&] { f.get_string("test.uint8"); }),
            name + "metadata 'test.uint8' is uint8, expected a string");
  EXPECT_EQ(input_error_of([&] { f.get_float("test.string"); }),
            name + "metadata 'test.string' is string, expected a number");
  EXPECT_EQ(input_error_of([&] { f.get_bool("test.uint8"); }),
            name + "metadata 'test.uint8' is uint8, expected a bool");
  EXPECT_EQ(input_error_of([&] { f.get_string_array("tokenizer.ggml.scores"); }),
            name + "metadata 'tokenizer.ggml.scores' is array of float32, expected an array of strings");
  EXPECT_EQ(input_error_of([&] { f.get_int_array("tokenizer.ggml.scores"); }),
            name + "metadata 'tokenizer.ggml.scores' is array of float32, expected an array of integers");
  EXPECT_EQ(input_error_of([&] { f.get_float_array("tokenizer.ggml.tokens"); }),
            name + "metadata 'tokenizer.ggml.tokens' is array of string, expected an array of numbers");
  EXPECT_EQ(input_error_of([&] { f.get_int_array("test.uint64_array"); }),
            name + "metadata 'test.uint64_array' element 0 is 18446744073709551615, past the int64 range");
  EXPECT_EQ(input_error_of([&] { f.tensor("output.weight"); }), name + "tensor 'output.weight' is missing");
  EXPECT_EQ(f.find_tensor("output.weight"), nullptr);
}

TEST(GgufFile, ValuesPrintOnOneLineWithLongArraysCut) {
  EXPECT_EQ(Value::uint32(7).to_string(), "7");
  EXPECT_EQ(Value::int64(-5).to_string(), "-5");
  EXPECT_EQ(Value::uint64(std::numeric_limits<std::uint64_t>::max()).to_string(), "18446744073709551615");
  EXPECT_EQ(Value::float32(0.1f).to_string(), "0.1");
  EXPECT_EQ(Value::float64(1e-310).to_string(), "1e-310");
  EXPECT_EQ(Value::boolean(true).to_string(), "true");
  EXPECT_EQ(Value::string("a\nb").to_string(), "a\\nb");
  EXPECT_EQ(Value::string_array({"x", "\"y\""}).to_string(), "[\"x\", \"\\\"y\\\"\"]");
  EXPECT_EQ(Value::int32_array({1, 2, 3, 4, 5}).to_string(3), "[1, 2, 3, ... (5 items)]");
  EXPECT_EQ(Value::int32_array({1, 2, 3}).to_string(3), "[1, 2, 3]");
  EXPECT_EQ(Value::int32_array({1, 2}).to_string(0), "[... (2 items)]");
  EXPECT_EQ(Value::bool_array({}).to_string(), "[]");
  EXPECT_EQ(
      Value::array(ValueType::ARRAY, {Value::float32_array({0.5f}), Value::string_array({"a", "b", "c"})})
          .to_string(2),
      "[[0.5], [\"a\", \"b\", ... (3 items)]]");
  EXPECT_EQ(value_type_name(ValueType::FLOAT64), std::string("float64"));
}

TEST(GgufFile, ValuesOfTheWrongShapeAreRefusedWhenMade) {
  EXPECT_THROW(Value::integer_array(ValueType::UINT8, {256}), ralm::Error);
  EXPECT_THROW(Value::integer_array(ValueType::BOOL, {2}), ralm::Error);
  EXPECT_THROW(Value::integer_array(ValueType::STRING, {1}), ralm::Error);
  EXPECT_THROW(Value::float_array(ValueType::FLOAT32, {0.1}), ralm::Error);
  EXPECT_THROW(Value::array(ValueType::INT32, {Value::int32(1), Value::uint32(2)}), ralm::Error);
  EXPECT_THROW(Value::string("x").as_uint(), ralm::Error);
  EXPECT_THROW(Value::int32(-1).as_uint(), ralm::Error);
  EXPECT_THROW(Value::uint64(std::numeric_limits<std::uint64_t>::max()).as_int(), ralm::Error);
  EXPECT_THROW(Value::int32_array({1}).strings(), ralm::Error);
  EXPECT_EQ(Value::array(ValueType::INT32, {Value::int32(1), Value::int32(-2)}), Value::int32_array({1, -2}));
}

TEST(GgufFile, ACustomAlignmentPlacesEveryTensorOnItsMultiples) {
  TempDir dir;
  Writer w;
  w.set("general.architecture", Value::string("llama"));
  w.set("general.alignment", Value::uint32(64));
  const std::vector<TensorSpec> specs = {
      {"a", GgmlType::F32, {3}}, {"b", GgmlType::F16, {5, 3}}, {"c", GgmlType::F32, {1}}};
  for (std::size_t i = 0; i < specs.size(); ++i)
    w.add_tensor(
        specs[i].name, specs[i].type, specs[i].dims,
        fill_with(pattern(tensor_bytes(specs[i].type, specs[i].dims), static_cast<std::uint32_t>(i))));
  w.write(dir.path() / "m.gguf");
  const File f(dir.path() / "m.gguf");
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.metadata().size(), 2u) << "general.alignment is written once";
  EXPECT_EQ(f.data_offset() % 64, 0u);
  expect_tensors(f, specs);
  EXPECT_EQ(f.tensors()[1].offset, 64u);
  EXPECT_EQ(f.tensors()[2].offset, 128u);
}

TEST(GgufFile, SettingAKeyAgainReplacesItInPlace) {
  Writer w;
  w.set("a", Value::uint32(1));
  w.set("b", Value::uint32(2));
  w.set("a", Value::string("one"));
  ASSERT_EQ(w.metadata().size(), 2u);
  EXPECT_EQ(w.metadata()[0].first, "a");
  EXPECT_EQ(w.metadata()[0].second, Value::string("one"));
  EXPECT_EQ(*w.find("b"), Value::uint32(2));
  EXPECT_EQ(w.find("c"), nullptr);
}

TEST(GgufFile, TheWriterRefusesWhatLlamaCppWouldNotRead) {
  Writer w;
  auto nothing = [](std::byte*) {};
  w.add_tensor("x", GgmlType::F32, {4}, nothing);
  EXPECT_NE(input_error_of([&] { w.add_tensor("x", GgmlType::F32, {4}, nothing); }).find("'x': added twice"),
            std::string::npos);
  EXPECT_NE(input_error_of([&] {
              w.add_tensor(std::string(64, 'n'), GgmlType::F32, {4}, nothing);
            }).find("its name is 64 bytes"),
            std::string::npos);
  EXPECT_NE(input_error_of([&] {
              w.add_tensor("q", GgmlType::Q4_0, {33, 2}, nothing);
            }).find("rows of 33 q4_0 weights are not a whole number of blocks of 32"),
            std::string::npos);
  EXPECT_NE(input_error_of([&] { w.add_tensor("k", GgmlType::Q8_K, {256}, nothing); }).find("q8_K"),
            std::string::npos);
  EXPECT_NE(input_error_of([&] {
              w.add_tensor("d", GgmlType::F32, {1, 1, 1, 1, 1}, nothing);
            }).find("has 5 dimensions"),
            std::string::npos);
  EXPECT_NE(input_error_of([&] { w.set("general.alignment", Value::uint32(48)); }).find("not a power of two"),
            std::string::npos);
  EXPECT_NE(input_error_of([&] { w.set("general.alignment", Value::uint64(64)); }).find("must be a uint32"),
            std::string::npos);
  EXPECT_EQ(w.tensor_count(), 1u);
}

TEST(GgufFile, WritingCallsProgressAfterEachTensorAndProducesEachOnlyThen) {
  TempDir dir;
  Writer w;
  std::vector<std::string> events;
  for (const char* name : {"a", "b", "c"})
    w.add_tensor(name, GgmlType::F32, {2}, [&events, name](std::byte* dst) {
      events.push_back(std::string("fill ") + name);
      std::memset(dst, 0, 8);
    });
  EXPECT_TRUE(events.empty()) << "nothing is produced before write()";
  w.write(dir.path() / "m.gguf", [&](std::size_t done, std::size_t total) {
    events.push_back(std::to_string(done) + "/" + std::to_string(total));
  });
  EXPECT_EQ(events, (std::vector<std::string>{"fill a", "1/3", "fill b", "2/3", "fill c", "3/3"}));
}

TEST(GgufFile, AFailingFillLeavesTheTargetAsItWasAndNoTemporary) {
  TempDir dir;
  const fs::path out = dir.path() / "model.gguf";
  spit(out, "the previous model");
  Writer w;
  w.set("general.architecture", Value::string("llama"));
  w.add_tensor("a", GgmlType::F32, {2}, [](std::byte* dst) { std::memset(dst, 1, 8); });
  w.add_tensor("b", GgmlType::F32, {2}, [](std::byte*) { throw std::runtime_error("quantizing b failed"); });
  EXPECT_THROW(w.write(out), std::runtime_error);
  EXPECT_EQ(slurp(out), "the previous model");
  std::vector<fs::path> left;
  for (const auto& e : fs::directory_iterator(dir.path()))
    left.push_back(e.path());
  EXPECT_EQ(left, std::vector<fs::path>{out});

  const fs::path fresh = dir.path() / "fresh.gguf";
  EXPECT_THROW(w.write(fresh), std::runtime_error);
  EXPECT_FALSE(fs::exists(fresh));
}

TEST(GgufFile, AVersion2FileReads) {
  TempDir dir;
  Bytes b;
  b.header(2, 1, 2);
  b.key("general.architecture", ValueType::STRING).str("llama");
  b.key("test.shorts", ValueType::ARRAY)
      .u32(static_cast<std::uint32_t>(ValueType::UINT16))
      .u64(3)
      .put<std::uint16_t>(1)
      .put<std::uint16_t>(2)
      .put<std::uint16_t>(65535);
  b.tensor("w", {2, 3}, kF32, 0);
  b.pad(32);
  for (int i = 0; i < 6; ++i)
    b.put<float>(static_cast<float>(i) * 1.5f);
  const File f(b.write(dir));
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int_array("test.shorts"), (std::vector<std::int64_t>{1, 2, 65535}));
  EXPECT_EQ(f.find("test.shorts")->array_type(), ValueType::UINT16);
  const TensorInfo& t = f.tensor("w");
  EXPECT_EQ(t.dims, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(t.rows(), 3);
  ASSERT_EQ(t.bytes, 24u);
  for (int i = 0; i < 6; ++i) {
    float x;
    std::memcpy(&x, t.data + 4 * i, 4);
    EXPECT_EQ(x, static_cast<float>(i) * 1.5f);
  }
}

TEST(GgufFile, AMalformedHeaderIsOneLineNamingTheFile) {
  TempDir dir;
  expect_input_error(Bytes().write(dir), {"not a GGUF file (0 bytes"});
  expect_input_error(Bytes().raw("GGML").u32(3).u64(0).u64(0).write(dir),
                     {"not a GGUF file (magic 'GGML', expected 'GGUF')"});
  expect_input_error(Bytes().raw("\x89PNG").write(dir), {"magic '\\x89PNG'"});
  expect_input_error(Bytes().header(1, 0, 0).write(dir), {"GGUF version 1 is not supported (2 or 3 are)"});
  expect_input_error(Bytes().header(4, 0, 0).write(dir), {"GGUF version 4 is not supported (2 or 3 are)"});
  expect_input_error(Bytes().header(0x03000000u, 0, 0).write(dir), {"big-endian", "version 3"});
  expect_input_error(Bytes().raw("GGUF").u32(3).u64(0).write(dir),
                     {"truncated in the header: needs 8 bytes at byte 16, the file ends at byte 16"});
  expect_input_error(
      Bytes().header(3, 0, 1'000'000'000'000).write(dir),
      {"the header's metadata count claims 1000000000000 entries, more than the 0 bytes left"});
  expect_input_error(Bytes().header(3, 1ull << 60, 0).u64(0).write(dir),
                     {"the header's tensor count claims 1152921504606846976 entries"});
  const fs::path folder = dir.path() / "folder.gguf";
  fs::create_directory(folder);
  expect_input_error(folder, {"is a folder, not a GGUF file"});
  expect_input_error(dir.path() / "absent.gguf", {"cannot open"});
}

TEST(GgufFile, MalformedMetadataNamesTheKey) {
  TempDir dir;
  auto one_key = [] { return std::move(Bytes().header(3, 0, 1)); };
  expect_input_error(one_key().key("general.name", ValueType::STRING).write(dir),
                     {"truncated in the metadata (key 'general.name')"});
  expect_input_error(
      one_key().u64(1ull << 62).raw("general.").write(dir),
      {"the key in the metadata (key 1 of 1) is 4611686018427387904 bytes long, past the end"});
  expect_input_error(
      one_key().key("general.name", ValueType::STRING).u64(1'000'000'000'000'000).raw("abc").write(dir),
      {"a string in the metadata (key 'general.name') is 1000000000000000 bytes long, past the end",
       "3 bytes left"});
  expect_input_error(
      one_key()
          .key("tokenizer.ggml.tokens", ValueType::ARRAY)
          .u32(static_cast<std::uint32_t>(ValueType::STRING))
          .u64(1ull << 40)
          .str("a")
          .write(dir),
      {"metadata 'tokenizer.ggml.tokens' claims 1099511627776 entries, more than the 9 bytes left"});
  expect_input_error(one_key().key("x", ValueType::ARRAY).u32(99).u64(0).write(dir),
                     {"metadata 'x' is an array of value type 99, which is not a GGUF value type (0 to 12)"});
  expect_input_error(one_key().str("x").u32(13).u64(0).write(dir),
                     {"metadata 'x' has value type 13, which is not a GGUF value type"});
  expect_input_error(one_key().key("x", ValueType::BOOL).u8(2).write(dir),
                     {"metadata 'x' has a bool stored as 2 (0 or 1 expected)"});
  expect_input_error(
      Bytes().header(3, 0, 2).key("x", ValueType::UINT8).u8(1).key("x", ValueType::UINT8).u8(2).write(dir),
      {"metadata key 'x' appears twice"});
  Bytes deep = one_key().key("x", ValueType::ARRAY);
  for (int i = 0; i < 20; ++i)
    deep.u32(static_cast<std::uint32_t>(ValueType::ARRAY)).u64(1);
  deep.u32(static_cast<std::uint32_t>(ValueType::UINT8)).u64(0);
  expect_input_error(deep.write(dir), {"metadata 'x' nests arrays more than 16 deep"});
}

TEST(GgufFile, TheAlignmentMustBeAUint32PowerOfTwo) {
  TempDir dir;
  expect_input_error(Bytes().header(3, 0, 1).key("general.alignment", ValueType::UINT32).u32(48).write(dir),
                     {"metadata 'general.alignment' is 48, not a power of two"});
  expect_input_error(Bytes().header(3, 0, 1).key("general.alignment", ValueType::UINT32).u32(0).write(dir),
                     {"metadata 'general.alignment' is 0, not a power of two"});
  expect_input_error(Bytes().header(3, 0, 1).key("general.alignment", ValueType::STRING).str("32").write(dir),
                     {"metadata 'general.alignment' is string, expected uint32"});
}

TEST(GgufFile, MalformedTensorInfosNameTheTensor) {
  TempDir dir;
  auto one_tensor = [] { return std::move(Bytes().header(3, 1, 0)); };
  expect_input_error(one_tensor().str("blk.0.attn_q.weight").u32(2).u64(32).write(dir),
                     {"truncated in the tensor infos (tensor 'blk.0.attn_q.weight')"});
  expect_input_error(one_tensor().tensor("x", {1, 1, 1, 1, 1}, kF32, 0).write(dir),
                     {"tensor 'x' has 5 dimensions (at most 4)"});
  expect_input_error(one_tensor().tensor("x", {1ull << 62, 4}, kF32, 0).write(dir),
                     {"tensor 'x' has dimension 1 of 4, making more elements than a 64-bit count holds"});
  expect_input_error(one_tensor().tensor("x", {1ull << 63}, kF32, 0).write(dir),
                     {"tensor 'x' has dimension 0"});
  expect_input_error(
      one_tensor().tensor("x", {32}, 99, 0).write(dir),
      {"tensor 'x' has type id 99, which this build does not read (f32, f16, bf16, q4_0, q8_0, "
       "q4_K, q6_K)"});
  expect_input_error(one_tensor().tensor("x", {256}, 13, 0).write(dir),
                     {"type id 13 (q5_K), which this build"});
  expect_input_error(one_tensor().tensor("x", {256}, 15, 0).write(dir), {"type id 15 (q8_K)"});
  expect_input_error(one_tensor().tensor("x", {33, 2}, kQ4_0, 0).write(dir),
                     {"tensor 'x' has rows of 33 q4_0 weights, not a multiple of its block size 32"});
  expect_input_error(one_tensor().tensor("x", {4}, kF32, 16).write(dir),
                     {"tensor 'x' is at offset 16 in the data section, not a multiple of the alignment 32"});
  expect_input_error(Bytes().header(3, 2, 0).tensor("x", {4}, kF32, 0).tensor("x", {4}, kF32, 32).write(dir),
                     {"tensor 'x' appears twice"});

  // 8 floats at offset 32 of a data section that holds 40 bytes.
  Bytes b = one_tensor().tensor("blk.0.attn_q.weight", {8}, kF32, 32);
  b.pad(32);
  const std::size_t data_start = b.size();
  b.raw(std::string(40, '\0'));
  expect_input_error(
      b.write(dir),
      {"tensor 'blk.0.attn_q.weight' runs past the end of the file (ends at byte " +
       std::to_string(data_start + 64) + ", file has " + std::to_string(data_start + 40) + ")"});
  // An offset near 2^64 does not wrap around.
  expect_input_error(one_tensor().tensor("x", {4}, kF32, ~std::uint64_t{31}).write(dir),
                     {"runs past the end"});
}

// Every prefix of a good file short of its last tensor's end is refused, with
// an InputError, never a crash; so is every byte of its header changed.
TEST(GgufFile, EveryTruncationAndEveryCorruptHeaderByteIsAnInputError) {
  TempDir dir;
  const fs::path good = dir.path() / "good.gguf";
  writer_of(every_value(), several_tensors()).write(good);
  const std::string bytes = slurp(good);
  std::size_t data_end = 0, data_start = 0;
  {
    const File f(good);
    data_start = f.data_offset();
    const TensorInfo& last = f.tensors().back();
    data_end = f.data_offset() + last.offset + last.bytes;
  }
  const fs::path cut = dir.path() / "cut.gguf";
  int truncated = 0, past_end = 0;
  for (std::size_t n = 0; n < data_end; ++n) {
    spit(cut, bytes.substr(0, n));
    const std::string m = input_error_of([&] { File f(cut); });
    ASSERT_EQ(m.rfind(cut.string() + ": ", 0), 0u) << "at " << n << ": " << m;
    truncated += m.find("truncated in") != std::string::npos;
    past_end += m.find("runs past the end") != std::string::npos;
  }
  EXPECT_GT(truncated, 100);
  EXPECT_GT(past_end, 100);

  // Each header byte in turn replaced: read, or refused as bad input.
  const fs::path bad = dir.path() / "bad.gguf";
  int refused = 0;
  for (std::size_t i = 0; i < data_start; ++i) {
    for (const unsigned char v : {0x00, 0x7f, 0xff}) {
      std::string copy = bytes;
      copy[i] = static_cast<char>(v);
      spit(bad, copy);
      try {
        File f(bad);
      } catch (const ralm::InputError&) {
        ++refused;
      }
    }
  }
  EXPECT_GT(refused, 0);
}

// Resident kB of the mapping that holds `p`, from /proc/self/smaps.
long resident_kb(const void* p) {
  std::ifstream in("/proc/self/smaps");
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2) {
      inside = lo <= addr && addr < hi;
    } else if (inside && line.rfind("Rss:", 0) == 0) {
      return std::stol(line.substr(4));
    }
  }
  return -1;
}

TEST(GgufFile, ReleaseGivesATensorsPagesBackAndItStillReads) {
  TempDir dir;
  const std::vector<TensorSpec> specs = {{"small", GgmlType::F32, {100}}, {"big", GgmlType::F32, {1 << 18}}};
  Writer w;
  for (std::size_t i = 0; i < specs.size(); ++i)
    w.add_tensor(
        specs[i].name, specs[i].type, specs[i].dims,
        fill_with(pattern(tensor_bytes(specs[i].type, specs[i].dims), static_cast<std::uint32_t>(i))));
  w.write(dir.path() / "m.gguf");
  const File f(dir.path() / "m.gguf");
  const TensorInfo& big = f.tensor("big");
  ASSERT_EQ(big.bytes, 1u << 20);

  const auto expected = pattern(big.bytes, 1);
  EXPECT_EQ(std::memcmp(big.data, expected.data(), big.bytes), 0);  // faults every page in
  const long before = resident_kb(big.data);
  ASSERT_GE(before, 1024) << "no smaps entry, or pages not resident";
  f.release(big);
  const long after = resident_kb(big.data);
  EXPECT_LE(after, 32) << "before: " << before << " kB";
  EXPECT_EQ(std::memcmp(big.data, expected.data(), big.bytes), 0)
      << "the released bytes read back from the file";
  f.release(f.tensor("small"));  // inside one page: nothing to give back, and no harm
  EXPECT_EQ(std::memcmp(f.tensor("small").data, pattern(400, 0).data(), 400), 0);
}

fs::path fixture(const std::string& name) {
  return fs::path(RALM_SOURCE_DIR) / "tests/fixtures/gguf/format" / name;
}

float f32_at(const TensorInfo& t, std::size_t i) {
  float x;
  std::memcpy(&x, t.data + 4 * i, 4);
  return x;
}

Half half_at(const TensorInfo& t, std::size_t i) {
  Half h;
  std::memcpy(&h, t.data + 2 * i, 2);
  return h;
}

// The file tests/fixtures/gguf/format/make_tiny_gguf_py.py made with
// llama.cpp's gguf-py writer.
TEST(GgufFile, ReadsAFileLlamaCppsPythonWriterWrote) {
  const File f(fixture("tiny_gguf_py.gguf"));
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  std::vector<std::string> keys;
  for (const auto& [k, v] : f.metadata())
    keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "general.architecture", "general.alignment", "general.name", "llama.block_count",
                      "test.uint8", "test.int8", "test.uint16", "test.int16", "test.int32", "test.uint64",
                      "test.int64", "test.float32", "test.float64", "test.bool", "tokenizer.ggml.tokens",
                      "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "test.nested"}));
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("general.name"), "tiny gguf-py fixture");
  EXPECT_EQ(f.get_uint("llama.block_count"), 2u);
  EXPECT_EQ(*f.find("test.uint8"), Value::uint8(200));
  EXPECT_EQ(*f.find("test.int8"), Value::int8(-100));
  EXPECT_EQ(*f.find("test.uint16"), Value::uint16(60000));
  EXPECT_EQ(*f.find("test.int16"), Value::int16(-30000));
  EXPECT_EQ(*f.find("test.int32"), Value::int32(-7));
  EXPECT_EQ(*f.find("test.uint64"), Value::uint64((1ull << 63) + 5));
  EXPECT_EQ(*f.find("test.int64"), Value::int64(-(1ll << 40)));
  EXPECT_EQ(*f.find("test.float32"), Value::float32(0.25f));
  EXPECT_EQ(*f.find("test.float64"), Value::float64(-1.5e300));
  EXPECT_EQ(*f.find("test.bool"), Value::boolean(true));
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens"),
            (std::vector<std::string>{"<s>", "</s>", "hello", "\xe2\x96\x81world"}));
  EXPECT_EQ(*f.find("tokenizer.ggml.scores"), Value::float32_array({0.0f, -1.5f, 2.25f, 3.0f}));
  EXPECT_EQ(*f.find("tokenizer.ggml.token_type"), Value::int32_array({3, 3, 1, 1}));
  EXPECT_EQ(*f.find("test.nested"),
            Value::array(ValueType::ARRAY, {Value::int32_array({1, 2}), Value::int32_array({3})}));

  ASSERT_EQ(f.tensors().size(), 5u);
  const auto* file_start = f.tensors()[0].data - f.data_offset() - f.tensors()[0].offset;
  for (const TensorInfo& t : f.tensors())
    EXPECT_EQ(static_cast<std::size_t>(t.data - file_start) % 64, 0u) << t.name;

  const TensorInfo& embd = f.tensor("token_embd.weight");
  EXPECT_EQ(embd.type, GgmlType::F32);
  EXPECT_EQ(embd.dims, (std::vector<std::int64_t>{4, 3}));
  for (std::size_t i = 0; i < 12; ++i)
    EXPECT_EQ(f32_at(embd, i), static_cast<float>(i) * 0.5f - 1);

  const TensorInfo& norm = f.tensor("output_norm.weight");
  EXPECT_EQ(norm.type, GgmlType::F16);
  EXPECT_EQ(norm.dims, std::vector<std::int64_t>{4});
  const float norm_values[] = {1, -2, 0.5f, 3.25f};
  for (std::size_t i = 0; i < 4; ++i)
    EXPECT_EQ(half_to_float(half_at(norm, i)), norm_values[i]);

  // q8_0: each weight within half a step of what gguf-py quantized.
  const TensorInfo& q = f.tensor("blk.0.attn_q.weight");
  EXPECT_EQ(q.type, GgmlType::Q8_0);
  EXPECT_EQ(q.dims, (std::vector<std::int64_t>{32, 2}));
  ASSERT_EQ(q.bytes, 2 * sizeof(BlockQ8_0));
  for (std::size_t b = 0; b < 2; ++b) {
    BlockQ8_0 block;
    std::memcpy(&block, q.data + b * sizeof block, sizeof block);
    const float d = half_to_float(block.d);
    EXPECT_GT(d, 0.0f);
    for (std::size_t j = 0; j < 32; ++j) {
      const float x = (static_cast<float>(b * 32 + j) - 31.5f) / 8;
      EXPECT_NEAR(block.qs[j] * d, x, d / 2 + 1e-6f) << b << "," << j;
    }
  }

  const TensorInfo& bf = f.tensor("blk.0.ffn_norm.weight");
  EXPECT_EQ(bf.type, GgmlType::BF16);
  const float bf_values[] = {1, 2, -3, 0.5f};
  for (std::size_t i = 0; i < 4; ++i) {
    const std::uint32_t bits = static_cast<std::uint32_t>(half_at(bf, i)) << 16;
    float x;
    std::memcpy(&x, &bits, 4);
    EXPECT_EQ(x, bf_values[i]);
  }

  const TensorInfo& cube = f.tensor("test.cube");
  EXPECT_EQ(cube.dims, (std::vector<std::int64_t>{3, 1, 2}));
  EXPECT_EQ(cube.rows(), 2);
  EXPECT_EQ(cube.elements(), 6);
  for (std::size_t i = 0; i < 6; ++i)
    EXPECT_EQ(f32_at(cube, i), static_cast<float>(i));
}

// llama.cpp's gguf-py: from RALM_GGUF_PY in the environment, else as CMake
// was configured.
std::string gguf_py_dir() {
  if (const char* env = std::getenv("RALM_GGUF_PY"); env && *env) return env;
  return RALM_GGUF_PY;
}

// A python3 on PATH that imports numpy and gguf-py.
std::optional<fs::path> python_with_gguf_py() {
  const std::string dir = gguf_py_dir();
  if (dir.empty()) return std::nullopt;
  const char* path = std::getenv("PATH");
  std::stringstream entries(path ? path : "");
  for (std::string entry; std::getline(entries, entry, ':');) {
    const fs::path candidate = fs::path(entry) / "python3";
    if (entry.empty() || ::access(candidate.c_str(), X_OK) != 0) continue;
    const auto probe = ralm::test::run_command(
        {candidate.string(), "-c", "import sys; sys.path.insert(0, sys.argv[1]); import numpy, gguf", dir});
    if (probe.exit_code == 0) return candidate;
  }
  return std::nullopt;
}

nlohmann::json leaves(const Value& v) {
  nlohmann::json out = nlohmann::json::array();
  const std::size_t n = v.is_array() ? v.array_size() : 1;
  const ValueType t = v.array_type();
  for (std::size_t i = 0; i < n; ++i) {
    if (t == ValueType::ARRAY) {
      for (const auto& x : leaves(v.items()[i]))
        out.push_back(x);
    } else if (t == ValueType::STRING) {
      out.push_back(v.is_array() ? v.strings()[i] : v.as_string());
    } else if (is_float_type(t)) {
      out.push_back(v.is_array() ? v.floats()[i] : v.as_float());
    } else if (t == ValueType::BOOL) {
      out.push_back(v.is_array() ? v.ints()[i] != 0 : v.as_bool());
    } else if (t == ValueType::UINT64) {
      out.push_back(
          static_cast<std::uint64_t>(v.is_array() ? v.ints()[i] : static_cast<std::int64_t>(v.as_uint())));
    } else {
      out.push_back(v.is_array() ? v.ints()[i] : v.as_int());
    }
  }
  return out;
}

std::string upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// What gguf-py lists as a field's types: the value's, then (for a non-empty
// array) its first element's.
nlohmann::json type_names(const Value& v) {
  nlohmann::json out = nlohmann::json::array({upper(value_type_name(v.type()))});
  if (!v.is_array() || v.array_size() == 0) return out;
  if (v.array_type() != ValueType::ARRAY) {
    out.push_back(upper(value_type_name(v.array_type())));
  } else {
    for (const auto& t : type_names(v.items()[0]))
      out.push_back(t);
  }
  return out;
}

// llama.cpp's Python reader reads what our writer wrote, key for key and
// byte for byte. Skipped where there is no python3 with numpy, or gguf-py
// is not configured (RALM_GGUF_PY).
TEST(GgufFile, LlamaCppsPythonReaderReadsWhatWeWrite) {
  const auto python = python_with_gguf_py();
  if (!python)
    GTEST_SKIP() << "needs python3 with numpy (apt-get install python3-numpy) and llama.cpp's gguf-py: set "
                    "RALM_GGUF_PY to its gguf-py folder";
  TempDir dir;
  const auto values = every_value();
  const auto specs = several_tensors();
  const fs::path out = dir.path() / "ours.gguf";
  Writer w = writer_of(values, specs);
  w.set("general.alignment", Value::uint32(64));
  // gguf-py keeps one element type per field, its first element's: nested
  // arrays of one type only.
  w.set("test.nested", Value::array(ValueType::ARRAY, {Value::int32_array({1, 2}), Value::int32_array({}),
                                                       Value::int32_array({3})}));
  w.write(out);

  const auto run = ralm::test::run_command(
      {python->string(), (fs::path(RALM_SOURCE_DIR) / "tests/support/gguf_py_dump.py").string(),
       gguf_py_dir(), out.string()});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto dump = nlohmann::json::parse(run.out);
  EXPECT_EQ(dump["alignment"], 64);

  const File ours(out);
  const auto& fields = dump["fields"];
  ASSERT_EQ(fields.size(), ours.metadata().size());
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto& [key, value] = ours.metadata()[i];
    SCOPED_TRACE(key);
    EXPECT_EQ(fields[i]["key"], key);
    EXPECT_EQ(fields[i]["types"], type_names(value));
    EXPECT_EQ(fields[i]["values"], leaves(value));
  }
  const auto& tensors = dump["tensors"];
  ASSERT_EQ(tensors.size(), specs.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const TensorInfo& t = ours.tensors()[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(tensors[i]["name"], t.name);
    EXPECT_EQ(tensors[i]["type"], static_cast<std::uint32_t>(t.type));
    EXPECT_EQ(tensors[i]["dims"], nlohmann::json(t.dims));
    EXPECT_EQ(tensors[i]["data_offset"], ours.data_offset() + t.offset);
    std::string hex;
    static constexpr char kHex[] = "0123456789abcdef";
    for (std::size_t j = 0; j < t.bytes; ++j) {
      const auto b = static_cast<unsigned>(t.data[j]);
      hex += kHex[b >> 4];
      hex += kHex[b & 15];
    }
    EXPECT_EQ(tensors[i]["hex"], hex);
  }
}

}  // namespace
