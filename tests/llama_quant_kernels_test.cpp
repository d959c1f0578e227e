// matmul_quant over GGML-quantized weights (Q8_0, Q4_0, Q4_K, Q6_K), in both
// kernel sets: against a double-precision product of what it multiplies
// (the dequantized weights and the activations quantized by ggml's reference
// quantizer, then dequantized), against the product with the activations
// left in float, bit for bit against itself whatever the rows per call and
// the thread count, stacked segments against separate matrices, and the two
// kernel sets against each other, bit for bit.
//
// Tolerances, with S = Σ|w_i · x̂_i| over the dequantized operands:
//   - against the double product of the dequantized operands: 1e-5 · S. The
//     kernel's integer sums are exact; what rounds is each block's float
//     scaling and accumulation (a few float roundings per block, 2^-24
//     each, over at most in / 32 blocks) and the dequantized reference
//     weights themselves (ggml rounds d · sc · q - dmin · m to float);
//   - against the product with float activations: the activations'
//     quantisation moves each x_i by at most 0.6 · d of its block, d =
//     amax / 127 (half a step, plus, for Q8_0's fp16 scale, 127 · 2^-11 · d),
//     so the sum moves by at most Σ|w_i| · 0.6 · d_i, plus the 1e-5 · S above.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant_kernels.hpp"
#include "quant_matrix.hpp"
#include "ralm/error.hpp"
#include "ralm/gguf/quants.hpp"

namespace {

using namespace ralm::llama;
using ralm::gguf::GgmlType;

// Weights roughly normal (sums of uniforms), with a few larger ones, like a
// trained layer's.
std::vector<float> random_weights(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = 0.05f * (u(rng) + u(rng) + u(rng));
    if (i % 61 == 7) v[i] *= 8.0f;
  }
  return v;
}

// Activations: random rows of varied scale and sign, one all zero, one with
// halfway cases (a block whose largest value is 127 has scale 1 in both Q8_0
// and Q8_K, so its k + 0.5 values test each quantizer's rounding).
std::vector<float> random_activations(std::int64_t rows, std::int64_t in, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(rows * in));
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = x.data() + r * in;
    const float scale = std::pow(10.0f, 2.0f * u(rng));
    for (std::int64_t i = 0; i < in; ++i) {
      if (r % 7 == 2) {
        row[i] = 0.0f;
      } else if (r % 7 == 4) {
        row[i] = i % 32 == 0 ? -127.0f : static_cast<float>(static_cast<int>(i % 200) - 100) + 0.5f;
      } else {
        row[i] = scale * u(rng) + (r % 7 == 5 ? 0.7f * scale : 0.0f);
      }
    }
  }
  return x;
}

GgmlType activation_type(GgmlType weights) {
  return weights == GgmlType::Q4_K || weights == GgmlType::Q6_K ? GgmlType::Q8_K : GgmlType::Q8_0;
}

// A row as the kernels see it: quantized by ggml's reference, dequantized.
std::vector<float> quantized_activation(GgmlType weights, const float* x, std::int64_t in) {
  const GgmlType t = activation_type(weights);
  std::vector<std::uint8_t> q(ralm::gguf::row_bytes(t, in));
  std::vector<float> back(static_cast<std::size_t>(in));
  ralm::gguf::quantize_row(t, x, q.data(), in);
  ralm::gguf::dequantize_row(t, q.data(), back.data(), in);
  return back;
}

bool same_bits(float a, float b) {
  return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

std::vector<float> product(KernelSet set, const std::vector<float>& x, std::int64_t rows,
                           const QuantMatrix& w, int threads) {
  std::vector<float> y(static_cast<std::size_t>(rows * w.out()), -1.0f);
  matmul_quant(set, x.data(), rows, w, y.data(), threads);
  return y;
}

const GgmlType kTypes[] = {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K};

struct Shape {
  std::int64_t out, in;
};

// Outputs that are no multiple of the register blocks (4 and 2 outputs), a
// single output, in = 256, 512 and 4096; for the 32-blocks, an odd block
// count (the last block has no partner in a pair) and a single block.
std::vector<Shape> shapes(GgmlType type) {
  std::vector<Shape> s = {{37, 256}, {1, 512}, {67, 512}, {13, 4096}};
  if (type == GgmlType::Q8_0 || type == GgmlType::Q4_0) {
    s.push_back({21, 96});
    s.push_back({9, 32});
  }
  return s;
}

std::string set_name(const ::testing::TestParamInfo<KernelSet>& info) {
  return kernel_set_name(info.param);
}

class QuantKernels : public ::testing::TestWithParam<KernelSet> {
 protected:
  void SetUp() override {
    if (!kernel_set_supported(GetParam()))
      GTEST_SKIP() << kernel_set_name(GetParam()) << " is not available here";
  }
};

TEST_P(QuantKernels, MatchesTheProductOfWhatItMultiplies) {
  std::uint64_t seed = 1;
  for (const GgmlType type : kTypes) {
    for (const Shape& s : shapes(type)) {
      SCOPED_TRACE(std::string(ralm::gguf::type_name(type)) + " " + std::to_string(s.out) + "x" +
                   std::to_string(s.in));
      const std::int64_t rows = 9;  // one block of 4 rows, then 4, then 1; past kMaxRows: the panel path
      const auto w = QuantMatrix::quantize(type, random_weights(s.out * s.in, ++seed), s.out, s.in);
      const auto x = random_activations(rows, s.in, ++seed);
      const auto wd = w.unpack();
      for (const int rows_per_call : {1, 9}) {
        std::vector<float> y(static_cast<std::size_t>(rows * s.out));
        for (std::int64_t r0 = 0; r0 < rows; r0 += rows_per_call)
          matmul_quant(GetParam(), x.data() + r0 * s.in, rows_per_call, w, y.data() + r0 * s.out, 2);
        for (std::int64_t r = 0; r < rows; ++r) {
          const auto xd = quantized_activation(type, x.data() + r * s.in, s.in);
          for (std::int64_t o = 0; o < s.out; ++o) {
            double exact = 0, magnitude = 0, unquantized = 0, activation_error = 0;
            const float* wo = wd.data() + o * s.in;
            for (std::int64_t i = 0; i < s.in; ++i) {
              exact += static_cast<double>(wo[i]) * xd[i];
              magnitude += std::fabs(static_cast<double>(wo[i]) * xd[i]);
              unquantized += static_cast<double>(wo[i]) * x[r * s.in + i];
            }
            const std::int64_t block = activation_type(type) == GgmlType::Q8_K ? 256 : 32;
            for (std::int64_t b0 = 0; b0 < s.in; b0 += block) {
              double amax = 0, wsum = 0;
              for (std::int64_t i = b0; i < b0 + block; ++i) {
                amax = std::max(amax, std::fabs(static_cast<double>(x[r * s.in + i])));
                wsum += std::fabs(static_cast<double>(wo[i]));
              }
              activation_error += wsum * 0.6 * amax / 127;
            }
            const float got = y[r * s.out + o];
            ASSERT_NEAR(got, exact, 1e-5 * magnitude + 1e-30) << "row " << r << ", output " << o;
            ASSERT_NEAR(got, unquantized, activation_error + 1e-5 * magnitude + 1e-30)
                << "row " << r << ", output " << o;
          }
        }
      }
    }
  }
}

// kernels.hpp's invariant: each output's bits whatever the rows in the call
// (1, 3, 17 and 130 rows: a register block, the panel path, several blocks
// of rows) and the thread count.
TEST_P(QuantKernels, BitsDoNotDependOnRowsOrThreads) {
  std::uint64_t seed = 100;
  for (const GgmlType type : kTypes) {
    SCOPED_TRACE(std::string(ralm::gguf::type_name(type)));
    const std::int64_t out = 301, in = 512, rows = 130;
    const auto w = QuantMatrix::quantize(type, random_weights(out * in, ++seed), out, in);
    const auto x = random_activations(rows, in, ++seed);
    const auto all = product(GetParam(), x, rows, w, 2);
    for (const int threads : {1, 2}) {
      for (const std::int64_t per_call : {std::int64_t{1}, std::int64_t{3}, std::int64_t{17}, rows}) {
        for (std::int64_t r0 = 0; r0 + per_call <= rows; r0 += per_call * 5) {
          std::vector<float> y(static_cast<std::size_t>(per_call * out));
          matmul_quant(GetParam(), x.data() + r0 * in, per_call, w, y.data(), threads);
          for (std::int64_t i = 0; i < per_call * out; ++i) {
            ASSERT_TRUE(same_bits(y[i], all[r0 * out + i]))
                << threads << " threads, " << per_call << " rows from row " << r0 << ": element " << i;
          }
        }
      }
    }
  }
}

TEST_P(QuantKernels, StridedRowsLeaveTheGapsAlone) {
  const std::int64_t out = 19, in = 256, rows = 6, ldx = in + 5, ldy = out + 3;
  for (const GgmlType type : kTypes) {
    const auto w = QuantMatrix::quantize(type, random_weights(out * in, 7), out, in);
    const auto packed = random_activations(rows, in, 8);
    std::vector<float> x(static_cast<std::size_t>(rows * ldx), std::nanf(""));
    for (std::int64_t r = 0; r < rows; ++r)
      std::memcpy(x.data() + r * ldx, packed.data() + r * in, static_cast<std::size_t>(in) * sizeof(float));
    std::vector<float> y(static_cast<std::size_t>(rows * ldy), 42.0f);
    matmul_quant(GetParam(), x.data(), rows, ldx, w, y.data(), ldy, 2);
    const auto dense = product(GetParam(), packed, rows, w, 1);
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t o = 0; o < ldy; ++o) {
        const float want = o < out ? dense[r * out + o] : 42.0f;
        ASSERT_TRUE(same_bits(y[r * ldy + o], want))
            << ralm::gguf::type_name(type) << " row " << r << " col " << o;
      }
    }
  }
}

// q, k and v as one product: three quantized tensors borrowed as segments
// give each tensor's own product, bit for bit.
TEST_P(QuantKernels, StackedSegmentsEqualSeparateMatrices) {
  const std::int64_t in = 512, rows = 7;
  const std::int64_t outs[] = {40, 9, 33};
  for (const GgmlType type : kTypes) {
    SCOPED_TRACE(std::string(ralm::gguf::type_name(type)));
    std::vector<QuantMatrix> parts;
    std::vector<QuantMatrix::Segment> segments;
    for (int i = 0; i < 3; ++i) {
      parts.push_back(QuantMatrix::quantize(type, random_weights(outs[i] * in, 50 + i), outs[i], in));
      segments.push_back({parts.back().row(0), outs[i]});
    }
    const QuantMatrix stacked(type, in, segments);
    ASSERT_EQ(stacked.out(), 40 + 9 + 33);
    const auto x = random_activations(rows, in, 60);
    const auto y = product(GetParam(), x, rows, stacked, 2);
    std::int64_t o0 = 0;
    for (int i = 0; i < 3; ++i) {
      const auto yi = product(GetParam(), x, rows, parts[static_cast<std::size_t>(i)], 2);
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t o = 0; o < outs[i]; ++o)
          ASSERT_TRUE(same_bits(y[r * stacked.out() + o0 + o], yi[r * outs[i] + o])) << "part " << i;
      o0 += outs[i];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sets, QuantKernels, ::testing::Values(KernelSet::portable, KernelSet::avx512),
                         set_name);

// Both sets compute the same sequence of float operations on the same exact
// integer sums (quant_kernels.hpp), so they agree bit for bit.
TEST(QuantKernelSets, Avx512EqualsPortableBitForBit) {
  if (!kernel_set_supported(KernelSet::avx512)) GTEST_SKIP() << "avx512 is not available here";
  std::uint64_t seed = 200;
  for (const GgmlType type : kTypes) {
    for (const Shape& s : shapes(type)) {
      for (const std::int64_t rows : {std::int64_t{1}, std::int64_t{3}, std::int64_t{14}}) {
        const auto w = QuantMatrix::quantize(type, random_weights(s.out * s.in, ++seed), s.out, s.in);
        const auto x = random_activations(rows, s.in, ++seed);
        const auto a = product(KernelSet::avx512, x, rows, w, 2);
        const auto p = product(KernelSet::portable, x, rows, w, 1);
        for (std::size_t i = 0; i < a.size(); ++i) {
          ASSERT_TRUE(same_bits(a[i], p[i]))
              << ralm::gguf::type_name(type) << " " << s.out << "x" << s.in << ", " << rows
              << " rows, element " << i << ": " << a[i] << " against " << p[i];
        }
      }
    }
  }
}

TEST(QuantMatrix, RowsUnpackAndLookUpAsTheReferenceDequantizes) {
  const std::int64_t in = 256;
  const std::int64_t out[] = {5, 3};
  for (const GgmlType type : kTypes) {
    const auto a = QuantMatrix::quantize(type, random_weights(out[0] * in, 1), out[0], in);
    const auto b = QuantMatrix::quantize(type, random_weights(out[1] * in, 2), out[1], in);
    const QuantMatrix m(type, in, {{a.row(0), out[0]}, {b.row(0), out[1]}});
    EXPECT_EQ(m.out(), 8);
    EXPECT_EQ(m.bytes(), 8 * ralm::gguf::row_bytes(type, in));
    EXPECT_EQ(m.row(6), b.row(1));
    const auto w = m.unpack(2, 7);
    std::vector<float> row(static_cast<std::size_t>(in)), want(static_cast<std::size_t>(in));
    for (std::int64_t o = 2; o < 7; ++o) {
      m.dequantize_row_into(o, row.data());
      ralm::gguf::dequantize_row(type, m.row(o), want.data(), in);
      EXPECT_EQ(std::memcmp(row.data(), want.data(), row.size() * sizeof(float)), 0);
      EXPECT_EQ(std::memcmp(w.data() + (o - 2) * in, want.data(), row.size() * sizeof(float)), 0);
    }
  }
}

TEST(QuantMatrix, RejectsWhatTheKernelsCannotTake) {
  const auto w = random_weights(4 * 256, 3);
  EXPECT_THROW(QuantMatrix::quantize(GgmlType::F16, w, 4, 256), ralm::Error);
  EXPECT_THROW(QuantMatrix::quantize(GgmlType::Q4_K, std::span<const float>(w).first(4 * 96), 4, 96),
               ralm::Error);
  EXPECT_THROW(QuantMatrix::quantize(GgmlType::Q8_0, w, 5, 256), ralm::Error);
  const auto m = QuantMatrix::quantize(GgmlType::Q8_0, w, 4, 256);
  EXPECT_THROW(m.row(4), ralm::Error);
  EXPECT_THROW(QuantMatrix(GgmlType::Q8_0, 256, {{nullptr, 2}}), ralm::Error);
}

}  // namespace
