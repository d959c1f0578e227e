// ralm_gguf's (de)quantisation against llama.cpp itself: the fixture holds
// llama.cpp's quantized bytes and dequantized floats for deterministic rows
// (tests/fixtures/gguf/quants/README.md says how it was made), and every type
// must give them bit for bit.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ralm/error.hpp"
#include "ralm/gguf/ggml_types.hpp"
#include "ralm/gguf/quants.hpp"

namespace {

using ralm::gguf::GgmlType;

struct Section {
  GgmlType type;
  std::size_t row_bytes = 0;
  std::vector<std::uint32_t> rows;  // indices into Fixture::inputs
  std::vector<std::uint8_t> quantized;
  std::vector<float> dequantized;
};

struct Fixture {
  std::int64_t n = 0;
  std::vector<float> inputs;
  std::vector<Section> sections;
};

class Reader {
 public:
  explicit Reader(std::vector<char> bytes) : bytes_(std::move(bytes)) {}
  void read(void* dst, std::size_t n) {
    if (pos_ + n > bytes_.size()) throw std::runtime_error("quants.bin is truncated");
    std::memcpy(dst, bytes_.data() + pos_, n);
    pos_ += n;
  }
  std::uint32_t u32() {
    std::uint32_t v;
    read(&v, 4);
    return v;
  }
  bool done() const { return pos_ == bytes_.size(); }

 private:
  std::vector<char> bytes_;
  std::size_t pos_ = 0;
};

Fixture load_fixture() {
  const std::string path = std::string(RALM_SOURCE_DIR) + "/tests/fixtures/gguf/quants/quants.bin";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  Reader r(std::vector<char>(std::istreambuf_iterator<char>(in), {}));
  char magic[4];
  r.read(magic, 4);
  if (std::string(magic, 4) != "RQFX" || r.u32() != 1) throw std::runtime_error(path + " is not version 1");
  Fixture f;
  f.n = r.u32();
  const std::uint32_t inputs = r.u32();
  f.inputs.resize(static_cast<std::size_t>(inputs * f.n));
  r.read(f.inputs.data(), f.inputs.size() * sizeof(float));
  const std::uint32_t sections = r.u32();
  for (std::uint32_t s = 0; s < sections; ++s) {
    Section sec;
    sec.type = static_cast<GgmlType>(r.u32());
    sec.row_bytes = r.u32();
    sec.rows.resize(r.u32());
    r.read(sec.rows.data(), sec.rows.size() * 4);
    sec.quantized.resize(sec.rows.size() * sec.row_bytes);
    r.read(sec.quantized.data(), sec.quantized.size());
    sec.dequantized.resize(sec.rows.size() * static_cast<std::size_t>(f.n));
    r.read(sec.dequantized.data(), sec.dequantized.size() * sizeof(float));
    f.sections.push_back(std::move(sec));
  }
  if (!r.done()) throw std::runtime_error(path + " has trailing bytes");
  return f;
}

const Fixture& fixture() {
  static const Fixture f = load_fixture();
  return f;
}

const Section& section(GgmlType type) {
  for (const auto& s : fixture().sections)
    if (s.type == type) return s;
  throw std::runtime_error("the fixture has no section for " + std::string(ralm::gguf::type_name(type)));
}

class GgufQuants : public ::testing::TestWithParam<GgmlType> {};

TEST_P(GgufQuants, QuantizeGivesLlamaCppsBytes) {
  const auto& f = fixture();
  const auto& s = section(GetParam());
  ASSERT_EQ(s.row_bytes, ralm::gguf::row_bytes(s.type, f.n));
  std::vector<std::uint8_t> ours(s.row_bytes);
  for (std::size_t i = 0; i < s.rows.size(); ++i) {
    ralm::gguf::quantize_row(s.type, f.inputs.data() + s.rows[i] * f.n, ours.data(), f.n);
    const std::uint8_t* theirs = s.quantized.data() + i * s.row_bytes;
    for (std::size_t b = 0; b < s.row_bytes; ++b)
      ASSERT_EQ(ours[b], theirs[b]) << "input row " << s.rows[i] << ", byte " << b;
  }
}

TEST_P(GgufQuants, DequantizeGivesLlamaCppsFloats) {
  const auto& f = fixture();
  const auto& s = section(GetParam());
  std::vector<float> ours(static_cast<std::size_t>(f.n));
  for (std::size_t i = 0; i < s.rows.size(); ++i) {
    ralm::gguf::dequantize_row(s.type, s.quantized.data() + i * s.row_bytes, ours.data(), f.n);
    const float* theirs = s.dequantized.data() + i * static_cast<std::size_t>(f.n);
    for (std::int64_t j = 0; j < f.n; ++j) {
      ASSERT_EQ(std::bit_cast<std::uint32_t>(ours[j]), std::bit_cast<std::uint32_t>(theirs[j]))
          << "input row " << s.rows[i] << ", value " << j << ": " << ours[j] << " against " << theirs[j];
    }
  }
}

std::string type_param_name(const ::testing::TestParamInfo<GgmlType>& info) {
  return std::string(ralm::gguf::type_name(info.param));
}

INSTANTIATE_TEST_SUITE_P(Types, GgufQuants,
                         ::testing::Values(GgmlType::F16, GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q8_0,
                                           GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_K),
                         type_param_name);

// The dequantized row is the input within half a quantisation step of the
// block (what each format promises), so the comparison above is between
// meaningful values, not two identical wrong ones.
class GgufQuantsRoundTrip : public ::testing::TestWithParam<GgmlType> {};

TEST_P(GgufQuantsRoundTrip, StaysNearTheInput) {
  const auto& f = fixture();
  const auto& s = section(GetParam());
  // Worst case of each format relative to its block's largest magnitude:
  // q8 rounds to 1/254 of it; q4_0's levels -8..7 put the largest value at
  // -8, so a value of the other sign near it clips to 7/8 of it; q6_K rounds
  // to about 1/32, q4_K (with mins and 6-bit sub-scales) to about 1/15 of
  // the sub-block range.
  const double relative = s.type == GgmlType::Q4_0   ? 1.0 / 8 + 1e-3
                          : s.type == GgmlType::Q4_K ? 2.0 / 15
                          : s.type == GgmlType::Q6_K ? 1.0 / 32
                                                     : 0.5 / 127 + 1e-3;
  // Plus the fp16 scales' absolute rounding (half of fp16's smallest step,
  // 2^-25) times the largest level it multiplies: tiny blocks lose their
  // scale to underflow. q8_K's scale is a float.
  const double levels = s.type == GgmlType::Q4_0   ? 8
                        : s.type == GgmlType::Q8_0 ? 127
                        : s.type == GgmlType::Q4_K ? 63 * 15 + 63
                        : s.type == GgmlType::Q6_K ? 128 * 32
                                                   : 0;
  const double floor = levels * 0x1p-25;
  const std::int64_t block = ralm::gguf::traits(s.type).block_size;
  std::vector<float> back(static_cast<std::size_t>(f.n));
  for (std::size_t i = 0; i < s.rows.size(); ++i) {
    const float* x = f.inputs.data() + s.rows[i] * f.n;
    ralm::gguf::dequantize_row(s.type, s.quantized.data() + i * s.row_bytes, back.data(), f.n);
    for (std::int64_t b0 = 0; b0 < f.n; b0 += block) {
      double amax = 0;
      for (std::int64_t j = b0; j < b0 + block; ++j)
        amax = std::max(amax, std::fabs(static_cast<double>(x[j])));
      for (std::int64_t j = b0; j < b0 + block; ++j) {
        ASSERT_LE(std::fabs(static_cast<double>(back[j]) - x[j]), relative * amax + floor)
            << "input row " << s.rows[i] << ", value " << j;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, GgufQuantsRoundTrip,
                         ::testing::Values(GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K,
                                           GgmlType::Q8_K),
                         type_param_name);

TEST(GgufQuants, F32IsCopiedBitForBit) {
  const auto& f = fixture();
  std::vector<float> q(f.inputs.size()), back(f.inputs.size());
  const auto n = static_cast<std::int64_t>(f.inputs.size());
  ralm::gguf::quantize_row(GgmlType::F32, f.inputs.data(), q.data(), n);
  ralm::gguf::dequantize_row(GgmlType::F32, q.data(), back.data(), n);
  EXPECT_EQ(std::memcmp(back.data(), f.inputs.data(), f.inputs.size() * sizeof(float)), 0);
}

TEST(GgufQuants, Bf16KeepsNaNsQuietAndRoundsTiesToEven) {
  EXPECT_EQ(ralm::gguf::float_to_bf16(std::bit_cast<float>(0x7F800001u)), 0x7FC0u);  // signalling made quiet
  EXPECT_EQ(ralm::gguf::float_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80u);  // tie to even: down
  EXPECT_EQ(ralm::gguf::float_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82u);  // tie to even: up
  EXPECT_EQ(ralm::gguf::bf16_to_float(0x3F82u), std::bit_cast<float>(0x3F820000u));
}

TEST(GgufQuants, PartialBlocksAreRejected) {
  std::vector<float> x(48, 1.0f);
  std::vector<std::uint8_t> q(1024);
  EXPECT_THROW(ralm::gguf::quantize_row(GgmlType::Q8_0, x.data(), q.data(), 40), ralm::Error);
  EXPECT_THROW(ralm::gguf::quantize_row(GgmlType::Q4_K, x.data(), q.data(), 48), ralm::Error);
  EXPECT_THROW(ralm::gguf::dequantize_row(GgmlType::Q6_K, q.data(), x.data(), 48), ralm::Error);
}

}  // namespace
