// matmul_quant's driver and its portable kernel set. Built with
// -ffp-contract=off: the float steps must round exactly as the sequence in
// quant_kernels.hpp says, as the avx512 set's do.
#include "quant_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "quant_kernels_impl.hpp"
#include "ralm/error.hpp"
#include "ralm/gguf/quants.hpp"
#include "shared_kernels.hpp"

namespace ralm::llama {

namespace detail {

namespace {

using gguf::BlockQ4_0;
using gguf::BlockQ4_K;
using gguf::BlockQ6_K;
using gguf::BlockQ8_0;
using gguf::BlockQ8_K;
using gguf::half_to_float;

constexpr int kLanes = 16;

bool is_super(std::uint32_t type) {
  return type == kTypeQ4_K || type == kTypeQ6_K;
}

// Q4_K's sub-blocks of 32 in lane order (quant_kernels_impl.hpp).
constexpr int kQ4KChunkOrder[8] = {0, 2, 1, 3, 4, 6, 5, 7};

// Lane l's tree sum: l + 8, then + 4, + 2, + 1 (the avx512 set's sum_lanes).
float sum_lanes(float (&acc)[kLanes]) {
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    for (int l = 0; l < width; ++l)
      acc[l] += acc[l + width];
  }
  return acc[0];
}

float sum_lanes8(float (&acc)[8]) {
  for (int width = 4; width >= 1; width /= 2) {
    for (int l = 0; l < width; ++l)
      acc[l] += acc[l + width];
  }
  return acc[0];
}

// ---- Prepared activations ----

// Block and element of byte i of span s (quant_kernels_impl.hpp).
struct SpanPlace {
  std::int64_t block;
  int element;
};

SpanPlace span_place(std::uint32_t type, std::int64_t s, int i) {
  if (type == kTypeQ8_0) return {2 * s + i / 32, i % 32};
  return {4 * (s / 2) + i / 16, 16 * static_cast<int>(s % 2) + i % 16};
}

void prepare_spans(std::uint32_t type, const float* x, std::int64_t in, unsigned char* out) {
  const std::int64_t blocks = in / gguf::kQK8_0;
  const std::int64_t spans = type == kTypeQ8_0 ? (blocks + 1) / 2 : 2 * ((blocks + 3) / 4);
  thread_local std::vector<BlockQ8_0> q;
  q.resize(static_cast<std::size_t>(blocks));
  gguf::quantize_row(gguf::GgmlType::Q8_0, x, q.data(), in);
  const int offset = type == kTypeQ8_0 ? 128 : 8;
  for (std::int64_t s = 0; s < spans; ++s) {
    unsigned char* g = out + s * kSpanActBytes;
    auto* xq = reinterpret_cast<std::int8_t*>(g);
    std::int32_t init[kLanes];
    float dx[kLanes];
    for (int i = 0; i < 64; ++i) {
      const SpanPlace at = span_place(type, s, i);
      xq[i] = at.block < blocks ? q[static_cast<std::size_t>(at.block)].qs[at.element] : std::int8_t{0};
    }
    for (int l = 0; l < kLanes; ++l) {
      const std::int64_t b = span_place(type, s, 4 * l).block;
      init[l] = -offset * (xq[4 * l] + xq[4 * l + 1] + xq[4 * l + 2] + xq[4 * l + 3]);
      dx[l] = b < blocks ? half_to_float(q[static_cast<std::size_t>(b)].d) : 0.0f;
    }
    std::memcpy(g + 64, init, sizeof init);
    std::memcpy(g + 128, dx, sizeof dx);
  }
}

void prepare_supers(std::uint32_t type, const float* x, std::int64_t in, unsigned char* out) {
  const std::int64_t supers = in / gguf::kQK_K;
  thread_local std::vector<BlockQ8_K> q;
  q.resize(static_cast<std::size_t>(supers));
  gguf::quantize_row(gguf::GgmlType::Q8_K, x, q.data(), in);
  for (std::int64_t k = 0; k < supers; ++k) {
    unsigned char* g = out + k * kSuperActBytes;
    const BlockQ8_K& b = q[static_cast<std::size_t>(k)];
    for (int c = 0; c < 8; ++c) {
      const int src = type == kTypeQ4_K ? kQ4KChunkOrder[c] : c;
      std::memcpy(g + 32 * c, b.qs + 32 * src, 32);
    }
    std::memcpy(g + kSuperBsumsOffset, b.bsums, sizeof b.bsums);
    std::memcpy(g + kSuperDxOffset, &b.d, sizeof b.d);
    std::memset(g + kSuperDxOffset + 4, 0, kSuperActBytes - kSuperDxOffset - 4);
  }
}

// ---- Weights unpacked to lane order ----

// A span of Q8_0 or Q4_0 values: 64 unsigned values and 16 lane scales.
struct SpanWeights {
  std::uint8_t wq[64];
  float dw[kLanes];
};

void unpack_span(std::uint32_t type, const unsigned char* row, std::int64_t s, std::int64_t blocks,
                 SpanWeights& out) {
  // Blocks past the row's last are all zeros: zero values, zero scales.
  std::memset(&out, 0, sizeof out);
  if (type == kTypeQ8_0) {
    for (int half = 0; half < 2 && 2 * s + half < blocks; ++half) {
      BlockQ8_0 blk;
      std::memcpy(&blk, row + (2 * s + half) * static_cast<std::int64_t>(sizeof blk), sizeof blk);
      for (int e = 0; e < 32; ++e)
        out.wq[32 * half + e] = static_cast<std::uint8_t>(blk.qs[e] + 128);
      std::fill_n(out.dw + 8 * half, 8, half_to_float(blk.d));
    }
    return;
  }
  const bool high = s % 2 == 1;
  for (int j = 0; j < 4 && 4 * (s / 2) + j < blocks; ++j) {
    BlockQ4_0 blk;
    std::memcpy(&blk, row + (4 * (s / 2) + j) * static_cast<std::int64_t>(sizeof blk), sizeof blk);
    for (int e = 0; e < 16; ++e)
      out.wq[16 * j + e] = static_cast<std::uint8_t>(high ? blk.qs[e] >> 4 : blk.qs[e] & 0x0F);
    std::fill_n(out.dw + 4 * j, 4, half_to_float(blk.d));
  }
}

// A super-block: 256 unsigned values, the scale of each of its 128 value
// pairs (what multiplies both values' products), and the float scales.
struct SuperWeights {
  std::uint8_t wq[256];
  std::int16_t sc[128];
  std::int16_t m[8];      // Q4_K: the sub-blocks' mins; Q6_K: unused
  std::int16_t sc16[16];  // Q6_K: the 16 sub-block scales, for the -32 offset
  float d, dmin;
};

void unpack_q4_k(const BlockQ4_K& b, SuperWeights& out) {
  std::uint8_t sc[8], m[8];
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      sc[j] = b.scales[j] & 63;
      m[j] = b.scales[j + 4] & 63;
    } else {
      sc[j] = static_cast<std::uint8_t>((b.scales[j + 4] & 0xF) | ((b.scales[j - 4] >> 6) << 4));
      m[j] = static_cast<std::uint8_t>((b.scales[j + 4] >> 4) | ((b.scales[j] >> 6) << 4));
    }
  }
  for (int c = 0; c < 8; ++c) {
    const int j = kQ4KChunkOrder[c];  // sub-block j's values are nibbles of qs[32 (j / 2), + 32)
    for (int e = 0; e < 32; ++e) {
      const std::uint8_t byte = b.qs[32 * (j / 2) + e];
      out.wq[32 * c + e] = static_cast<std::uint8_t>(j % 2 == 0 ? byte & 0x0F : byte >> 4);
    }
    for (int e = 0; e < 16; ++e)
      out.sc[16 * c + e] = sc[j];
  }
  for (int j = 0; j < 8; ++j)
    out.m[j] = m[j];
  out.d = half_to_float(b.d);
  out.dmin = half_to_float(b.dmin);
}

void unpack_q6_k(const BlockQ6_K& b, SuperWeights& out) {
  for (int h = 0; h < 2; ++h) {
    const std::uint8_t* ql = b.ql + 64 * h;
    const std::uint8_t* qh = b.qh + 32 * h;
    std::uint8_t* w = out.wq + 128 * h;
    for (int l = 0; l < 32; ++l) {
      w[l] = static_cast<std::uint8_t>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
      w[l + 32] = static_cast<std::uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
      w[l + 64] = static_cast<std::uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      w[l + 96] = static_cast<std::uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
  for (int i = 0; i < 128; ++i)
    out.sc[i] = b.scales[(2 * i) / 16];
  for (int j = 0; j < 16; ++j)
    out.sc16[j] = b.scales[j];
  out.d = half_to_float(b.d);
  out.dmin = 0.0f;
}

// ---- One output against one row ----

// Built twice, for plain x86-64 and for x86-64-v3 (AVX2 and FMA), picked
// at load time: std::fma is then one instruction instead of a call into
// libm. Both round exactly alike (fma rounds once, however computed; this
// file is built without contraction), so the bits are the same.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RALM_QUANT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define RALM_QUANT_CLONES
#endif

RALM_QUANT_CLONES
float dot_spans(const SpanWeights* w, const unsigned char* act, std::int64_t spans) {
  float acc[kLanes] = {};
  for (std::int64_t p = 0; p < spans; ++p) {
    const unsigned char* g = act + p * kSpanActBytes;
    const auto* xq = reinterpret_cast<const std::int8_t*>(g);
    std::int32_t init[kLanes];
    float dx[kLanes];
    std::memcpy(init, g + 64, sizeof init);
    std::memcpy(dx, g + 128, sizeof dx);
    const SpanWeights& pw = w[p];
    // The products first, then each lane's four: loops a compiler vectorizes.
    std::int32_t prod[64];
    for (int i = 0; i < 64; ++i)
      prod[i] = pw.wq[i] * xq[i];
    for (int l = 0; l < kLanes; ++l) {
      const std::int32_t s = init[l] + prod[4 * l] + prod[4 * l + 1] + prod[4 * l + 2] + prod[4 * l + 3];
      acc[l] = std::fma(static_cast<float>(s) * dx[l], pw.dw[l], acc[l]);
    }
  }
  return sum_lanes(acc);
}

RALM_QUANT_CLONES
float dot_supers(std::uint32_t type, const SuperWeights* w, const unsigned char* act, std::int64_t supers) {
  float acc[kLanes] = {}, accm[8] = {};
  for (std::int64_t k = 0; k < supers; ++k) {
    const unsigned char* g = act + k * kSuperActBytes;
    const auto* xq = reinterpret_cast<const std::int8_t*>(g);
    std::int16_t bsums[16];
    float dx;
    std::memcpy(bsums, g + kSuperBsumsOffset, sizeof bsums);
    std::memcpy(&dx, g + kSuperDxOffset, sizeof dx);
    const SuperWeights& sw = w[k];
    // Each value pair's products times its scale, then each lane's two
    // pairs per step: loops a compiler vectorizes.
    std::int32_t scaled[128];
    for (int i = 0; i < 128; ++i)
      scaled[i] = sw.sc[i] * (sw.wq[2 * i] * xq[2 * i] + sw.wq[2 * i + 1] * xq[2 * i + 1]);
    std::int32_t s[kLanes];
    for (int l = 0; l < kLanes; ++l)
      s[l] = scaled[2 * l] + scaled[2 * l + 1] + scaled[32 + 2 * l] + scaled[32 + 2 * l + 1] +
             scaled[64 + 2 * l] + scaled[64 + 2 * l + 1] + scaled[96 + 2 * l] + scaled[96 + 2 * l + 1];
    if (type == kTypeQ6_K) {
      // The values are stored as q + 32: take 32 · Σ sc · (sum of 16 x) off.
      for (int l = 0; l < 8; ++l)
        s[l] -= 32 * (sw.sc16[2 * l] * bsums[2 * l] + sw.sc16[2 * l + 1] * bsums[2 * l + 1]);
    }
    for (int l = 0; l < kLanes; ++l) {
      const float t = static_cast<float>(s[l]) * dx;
      acc[l] = std::fma(t, sw.d, acc[l]);
    }
    if (type == kTypeQ4_K) {
      for (int j = 0; j < 8; ++j) {
        const std::int32_t mins = sw.m[j] * bsums[2 * j] + sw.m[j] * bsums[2 * j + 1];
        const float t = static_cast<float>(mins) * dx;
        accm[j] = std::fma(t, sw.dmin, accm[j]);
      }
    }
  }
  const float sum = sum_lanes(acc);
  return type == kTypeQ4_K ? sum - sum_lanes8(accm) : sum;
}

}  // namespace

void portable_quant_prepare(std::uint32_t type, const float* x, std::int64_t in, unsigned char* out) {
  if (is_super(type)) {
    prepare_supers(type, x, in, out);
  } else {
    prepare_spans(type, x, in, out);
  }
}

// Each output's groups are unpacked once, then every row of the tile runs
// over them.
void portable_quant_tile(const QuantTileArgs& a) {
  for (std::int64_t o = 0; o < a.outs; ++o) {
    const unsigned char* row = a.w + o * a.w_stride;
    if (is_super(a.type)) {
      auto* sw = static_cast<SuperWeights*>(a.scratch);
      for (std::int64_t k = 0; k < a.groups; ++k) {
        if (a.type == kTypeQ4_K) {
          BlockQ4_K b;
          std::memcpy(&b, row + k * static_cast<std::int64_t>(sizeof b), sizeof b);
          unpack_q4_k(b, sw[k]);
        } else {
          BlockQ6_K b;
          std::memcpy(&b, row + k * static_cast<std::int64_t>(sizeof b), sizeof b);
          unpack_q6_k(b, sw[k]);
        }
      }
      for (std::int64_t r = 0; r < a.rows; ++r)
        a.y[r * a.ldy + o] = dot_supers(a.type, sw, a.a + r * a.a_stride, a.groups);
    } else {
      auto* pw = static_cast<SpanWeights*>(a.scratch);
      for (std::int64_t p = 0; p < a.groups; ++p)
        unpack_span(a.type, row, p, a.blocks, pw[p]);
      for (std::int64_t r = 0; r < a.rows; ++r)
        a.y[r * a.ldy + o] = dot_spans(pw, a.a + r * a.a_stride, a.groups);
    }
  }
}

static_assert(sizeof(SuperWeights) <= kQuantScratchBytesPerGroup &&
              sizeof(SpanWeights) <= kQuantScratchBytesPerGroup);

}  // namespace detail

namespace {

using detail::QuantTileArgs;

// Rows per task when rows are split: each output's unpacked weights then
// serve this many rows from cache, and the rows' prepared activations
// (64 · 6 KiB for in = 2048) stay in L2 while the outputs pass over them.
constexpr std::int64_t kBlockRows = 64;
// Tasks wanted per thread: enough for a late start or the last task to
// leave the other threads idle for little of the call.
constexpr std::int64_t kTasksPerThread = 8;
// Outputs per task at least, and the multiple chunks are rounded to.
constexpr std::int64_t kMinChunk = 16;

struct Chunk {
  const unsigned char* w;
  std::int64_t o0, outs;
};

}  // namespace

void matmul_quant(KernelSet set, const float* x, std::int64_t rows, std::int64_t ldx, const QuantMatrix& w,
                  float* y, std::int64_t ldy, int threads) {
  if (!kernel_set_supported(set)) {
    throw Error(std::string("llama: the ") + kernel_set_name(set) +
                " kernels are not available in this build or on this CPU");
  }
  const std::int64_t out = w.out(), in = w.in();
  if (rows <= 0 || out <= 0) return;
  const auto type = static_cast<std::uint32_t>(w.type());
  const bool super = type == detail::kTypeQ4_K || type == detail::kTypeQ6_K;
  const std::int64_t blocks = super ? in / gguf::kQK_K : in / gguf::kQK8_0;
  const std::int64_t groups = super                       ? blocks
                              : type == detail::kTypeQ8_0 ? (blocks + 1) / 2
                                                          : 2 * ((blocks + 3) / 4);
  const std::int64_t a_stride = groups * (super ? detail::kSuperActBytes : detail::kSpanActBytes);

  void (*prepare)(std::uint32_t, const float*, std::int64_t, unsigned char*) = detail::portable_quant_prepare;
  void (*tile)(const QuantTileArgs&) = detail::portable_quant_tile;
#if RALM_LLAMA_AVX512
  // Every CPU with the avx512 set's bf16 has VNNI too, but the set's check
  // does not ask; without it the portable kernels give the same bits.
  static const bool vnni = __builtin_cpu_supports("avx512vnni");
  if (set == KernelSet::avx512 && vnni) {
    prepare = detail::avx512_quant_prepare;
    tile = detail::avx512_quant_tile;
  }
#endif

  thread_local std::vector<unsigned char, AlignedAllocator<unsigned char>> acts;
  acts.resize(static_cast<std::size_t>(rows * a_stride));
  unsigned char* const act = acts.data();
  parallel_for(rows * in >= kMinParallelWork / 16 ? threads : 1, rows,
               [&](std::int64_t r) { prepare(type, x + r * ldx, in, act + r * a_stride); });

  // Tasks: a chunk of consecutive outputs (never across segments) for a
  // block of rows. Consecutive tasks share the chunk, so its weights are
  // still in cache for the next block of rows.
  const int used = rows * in * out >= kMinParallelWork / 16 ? threads : 1;
  const std::int64_t row_blocks = used > 1 ? (rows + kBlockRows - 1) / kBlockRows : 1;
  const std::int64_t block_rows = (rows + row_blocks - 1) / row_blocks;
  const std::int64_t wanted_chunks = std::max<std::int64_t>(1, kTasksPerThread * used / row_blocks);
  const std::int64_t chunk =
      std::max(kMinChunk, (out + wanted_chunks - 1) / wanted_chunks + kMinChunk - 1) / kMinChunk * kMinChunk;
  std::vector<Chunk> chunks;
  std::int64_t o = 0;
  for (const auto& s : w.segments()) {
    for (std::int64_t i = 0; i < s.rows; i += chunk) {
      chunks.push_back(
          {reinterpret_cast<const unsigned char*>(s.data) + static_cast<std::size_t>(i) * w.row_bytes(),
           o + i, std::min(chunk, s.rows - i)});
    }
    o += s.rows;
  }
  const auto tasks = static_cast<std::int64_t>(chunks.size()) * row_blocks;
  const std::size_t scratch_bytes = static_cast<std::size_t>(groups * detail::kQuantScratchBytesPerGroup);
  parallel_for(used, tasks, [&](std::int64_t t) {
    thread_local std::vector<unsigned char, AlignedAllocator<unsigned char>> scratch;
    if (scratch.size() < scratch_bytes) scratch.resize(scratch_bytes);
    const Chunk& c = chunks[static_cast<std::size_t>(t / row_blocks)];
    const std::int64_t r0 = t % row_blocks * block_rows;
    QuantTileArgs a{};
    a.type = type;
    a.w = c.w;
    a.w_stride = static_cast<std::int64_t>(w.row_bytes());
    a.outs = c.outs;
    a.a = act + r0 * a_stride;
    a.a_stride = a_stride;
    a.rows = std::min(block_rows, rows - r0);
    a.groups = groups;
    a.blocks = blocks;
    a.y = y + r0 * ldy + c.o0;
    a.ldy = ldy;
    a.scratch = scratch.data();
    tile(a);
  });
}

}  // namespace ralm::llama
