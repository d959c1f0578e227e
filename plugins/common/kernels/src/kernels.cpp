// Kernel dispatch, weight packing, the matrix-product driver and the portable
// kernel set. Built with -ffp-contract=off (see CMakeLists.txt): a compiler
// that fused a multiply and an add in one loop version but not in another
// would make an output's bits depend on which version computed it.
#include "ralm/kernels/kernels.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "kernels_impl.hpp"
#include "ralm/error.hpp"
#include "ralm/kernels/thread_pool.hpp"

namespace ralm::kernels {

const char* kernel_set_name(KernelSet set) {
  return set == KernelSet::avx512 ? "avx512" : "portable";
}

const char* weight_type_name(WeightType type) {
  return type == WeightType::bf16 ? "bf16" : "f32";
}

const char* kv_cache_type_name(KvCacheType type) {
  return type == KvCacheType::bf16 ? "bf16" : "f32";
}

std::size_t kv_cache_element_bytes(KvCacheType type) {
  return type == KvCacheType::bf16 ? 2 : 4;
}

bool kernel_set_supported(KernelSet set) {
  if (set == KernelSet::portable) return true;
#if RALM_KERNELS_AVX512
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16") &&
           __builtin_cpu_supports("fma");
  }();
  return supported;
#else
  return false;
#endif
}

KernelSet choose_kernel_set(const char* ralm_kernels) {
  if (ralm_kernels && std::string(ralm_kernels) == "portable") return KernelSet::portable;
  return kernel_set_supported(KernelSet::avx512) ? KernelSet::avx512 : KernelSet::portable;
}

KernelSet default_kernel_set() {
  static const KernelSet set = choose_kernel_set(std::getenv("RALM_KERNELS"));
  return set;
}

std::uint16_t f32_to_bf16(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return static_cast<std::uint16_t>((bits >> 16) | 0x40u);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);                      // round to nearest, ties to even
  return static_cast<std::uint16_t>(bits >> 16);
}

float bf16_to_f32(std::uint16_t h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void* allocate_aligned(std::size_t bytes) {
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  const std::size_t align = bytes >= kHuge ? kHuge : 64;
  const std::size_t size = (std::max<std::size_t>(bytes, 1) + align - 1) / align * align;
  void* p = std::aligned_alloc(align, size);
  if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (align == kHuge) ::madvise(p, size, MADV_HUGEPAGE);  // a hint; failing is harmless
#endif
  return p;
}

void free_aligned(void* p) noexcept {
  std::free(p);
}

AlignedBuffer::AlignedBuffer(std::size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  data_.reset(allocate_aligned(bytes));
  std::memset(data_.get(), 0, bytes);
}

PackedMatrix::PackedMatrix(std::span<const float> w, std::int64_t out, std::int64_t in, WeightType type)
    : PackedMatrix(std::span<const std::span<const float>>(&w, 1), in, type) {
  if (out_ != out)
    throw Error("PackedMatrix: " + std::to_string(w.size()) + " values are not " + std::to_string(out) +
                " × " + std::to_string(in));
}

PackedMatrix::PackedMatrix(std::span<const std::span<const float>> stacked, std::int64_t in,
                           WeightType type) {
  if (in <= 0) throw Error("PackedMatrix: in must be positive");
  std::vector<const float*> rows;
  for (const auto& s : stacked) {
    if (static_cast<std::int64_t>(s.size()) % in != 0) {
      throw Error("PackedMatrix: " + std::to_string(s.size()) +
                  " values are not a multiple of in = " + std::to_string(in));
    }
    for (std::size_t i = 0; i < s.size(); i += static_cast<std::size_t>(in))
      rows.push_back(s.data() + i);
  }
  *this = PackedMatrix(static_cast<std::int64_t>(rows.size()), in, type, [&](std::int64_t o, float* row) {
    std::copy_n(rows[static_cast<std::size_t>(o)], in, row);
  });
}

PackedMatrix::PackedMatrix(std::int64_t out, std::int64_t in, WeightType type,
                           const std::function<void(std::int64_t o, float* row)>& row_of)
    : out_(out), in_(in), type_(type) {
  if (in <= 0) throw Error("PackedMatrix: in must be positive");
  if (out_ == 0) return;
  const std::int64_t steps = k_steps(), last = panels() - 1;
  const std::int64_t elements =
      panel_offset(last) + panel_width(last) * steps * (type == WeightType::bf16 ? 2 : 1);
  buffer_ = AlignedBuffer(static_cast<std::size_t>(elements) * (type == WeightType::bf16 ? 2 : 4));
  // Panel by panel: a panel's rows, then its k-major writes in sequence.
  std::vector<float> rows(static_cast<std::size_t>(kPanel * in));
  for (std::int64_t p = 0; p <= last; ++p) {
    const std::int64_t width = panel_width(p), o0 = p * kPanel, n = std::min(kPanel, out_ - o0);
    for (std::int64_t c = 0; c < n; ++c)
      row_of(o0 + c, rows.data() + c * in);
    const auto at = [&](std::int64_t c, std::int64_t k) {
      return rows[static_cast<std::size_t>(c * in + k)];
    };
    if (type == WeightType::f32) {
      float* dst = static_cast<float*>(buffer_.data()) + panel_offset(p);
      for (std::int64_t k = 0; k < in; ++k)
        for (std::int64_t c = 0; c < n; ++c)
          dst[k * width + c] = at(c, k);
    } else {
      std::uint16_t* dst = static_cast<std::uint16_t*>(buffer_.data()) + panel_offset(p);
      for (std::int64_t k = 0; k < in; ++k)
        for (std::int64_t c = 0; c < n; ++c)
          dst[(k / 2) * width * 2 + c * 2 + k % 2] = f32_to_bf16(at(c, k));
    }
  }
}

std::int64_t PackedMatrix::panel_width(std::int64_t p) const {
  const std::int64_t n = std::min(kPanel, out_ - p * kPanel);
  return (n + 15) / 16 * 16;
}

std::int64_t PackedMatrix::panel_offset(std::int64_t p) const {
  return p * kPanel * k_steps() * (type_ == WeightType::bf16 ? 2 : 1);
}

float PackedMatrix::at(std::int64_t o, std::int64_t i) const {
  const std::int64_t p = o / kPanel, c = o % kPanel, width = panel_width(p);
  if (type_ == WeightType::f32) return static_cast<const float*>(data())[panel_offset(p) + i * width + c];
  return bf16_to_f32(
      static_cast<const std::uint16_t*>(data())[panel_offset(p) + (i / 2) * width * 2 + c * 2 + i % 2]);
}

std::vector<float> PackedMatrix::unpack(std::int64_t o0, std::int64_t o1) const {
  if (o0 < 0 || o1 > out_ || o0 > o1) throw Error("PackedMatrix::unpack: rows out of range");
  std::vector<float> w(static_cast<std::size_t>((o1 - o0) * in_));
  for (std::int64_t o = o0; o < o1; ++o) {
    float* row = w.data() + (o - o0) * in_;
    for (std::int64_t i = 0; i < in_; ++i)
      row[i] = at(o, i);
  }
  return w;
}

namespace detail {

namespace {

// Rows per call of the portable block: enough to reuse each weight vector a
// few times from registers, few enough for the compiler to keep up.
constexpr int kPortableRows = 4;

template <int MR>
void portable_f32_rows(const PanelArgs& a, std::int64_t r0) {
  const float* x = static_cast<const float*>(a.x) + r0 * a.ldx;
  const float* w = static_cast<const float*>(a.w);
  float* y = a.y + r0 * a.ldy;
  float acc[MR][PackedMatrix::kPanel];
  for (int r = 0; r < MR; ++r)
    for (std::int64_t c = 0; c < a.width; ++c)
      acc[r][c] = a.first || c >= a.valid ? 0.0f : y[r * a.ldy + c];
  for (std::int64_t k = 0; k < a.steps; ++k) {
    const float* wk = w + k * a.width;
    for (int r = 0; r < MR; ++r) {
      const float xv = x[r * a.ldx + k];
      for (std::int64_t c = 0; c < a.width; ++c)
        acc[r][c] = acc[r][c] + xv * wk[c];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (std::int64_t c = 0; c < a.valid; ++c)
      y[r * a.ldy + c] = acc[r][c];
}

// vdpbf16ps's order, as Intel documents it: the odd product first, then the
// even one, each added with float32 rounding. The products of two bf16 values
// are exact in float32.
template <int MR>
void portable_bf16_rows(const PanelArgs& a, std::int64_t r0) {
  const std::uint32_t* x = static_cast<const std::uint32_t*>(a.x) + r0 * a.ldx;
  const std::uint16_t* w = static_cast<const std::uint16_t*>(a.w);
  float* y = a.y + r0 * a.ldy;
  float acc[MR][PackedMatrix::kPanel];
  for (int r = 0; r < MR; ++r)
    for (std::int64_t c = 0; c < a.width; ++c)
      acc[r][c] = a.first || c >= a.valid ? 0.0f : y[r * a.ldy + c];
  float w0[PackedMatrix::kPanel], w1[PackedMatrix::kPanel];
  for (std::int64_t k = 0; k < a.steps; ++k) {
    const std::uint16_t* wk = w + k * a.width * 2;
    for (std::int64_t c = 0; c < a.width; ++c) {
      w0[c] = bf16_to_f32(wk[2 * c]);
      w1[c] = bf16_to_f32(wk[2 * c + 1]);
    }
    for (int r = 0; r < MR; ++r) {
      const std::uint32_t pair = x[r * a.ldx + k];
      const float x0 = bf16_to_f32(static_cast<std::uint16_t>(pair & 0xffffu));
      const float x1 = bf16_to_f32(static_cast<std::uint16_t>(pair >> 16));
      for (std::int64_t c = 0; c < a.width; ++c)
        acc[r][c] = (acc[r][c] + x1 * w1[c]) + x0 * w0[c];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (std::int64_t c = 0; c < a.valid; ++c)
      y[r * a.ldy + c] = acc[r][c];
}

template <void (*Block1)(const PanelArgs&, std::int64_t), void (*Block2)(const PanelArgs&, std::int64_t),
          void (*Block3)(const PanelArgs&, std::int64_t), void (*Block4)(const PanelArgs&, std::int64_t)>
void portable_panel(const PanelArgs& a) {
  std::int64_t r = 0;
  for (; r + kPortableRows <= a.rows; r += kPortableRows)
    Block4(a, r);
  switch (a.rows - r) {
    case 3:
      Block3(a, r);
      break;
    case 2:
      Block2(a, r);
      break;
    case 1:
      Block1(a, r);
      break;
    default:
      break;
  }
}

}  // namespace

void portable_panel_f32(const PanelArgs& a) {
  portable_panel<portable_f32_rows<1>, portable_f32_rows<2>, portable_f32_rows<3>, portable_f32_rows<4>>(a);
}

void portable_panel_bf16(const PanelArgs& a) {
  portable_panel<portable_bf16_rows<1>, portable_bf16_rows<2>, portable_bf16_rows<3>, portable_bf16_rows<4>>(
      a);
}

namespace {

// A cached key or value element as the float it stands for: bf16_to_f32,
// spelled here so that the compiler inlines it and vectorises the loops
// below (a call to bf16_to_f32 kept them scalar, 5x slower than over f32).
inline float widen(float x) {
  return x;
}
inline float widen(std::uint16_t x) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(x) << 16);
}

// portable_dot with b's elements widened from T: the same operations on the
// same floats, so a bf16 b gives the bits of a float b holding its values.
template <class T>
float dot_widened(const float* a, const T* b, std::int64_t n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l)
      acc[l] += a[i + l] * widen(b[i + l]);
  }
  float tail = 0.0f;
  for (; i < n; ++i)
    tail += a[i] * widen(b[i]);
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    for (int l = 0; l < width; ++l)
      acc[l] += acc[l + width];
  }
  return acc[0] + tail;
}

template <class T>
void portable_attend_over(const AttendArgs& a) {
  const T* keys = static_cast<const T*>(a.keys);
  const T* values = static_cast<const T*>(a.values);
  for (std::int64_t t = 0; t < a.tokens; ++t) {
    const std::int64_t visible = a.visible + t, ld = (visible + 15) / 16 * 16;
    for (std::int64_t h = 0; h < a.heads; ++h) {
      const float* q = a.q + t * a.ldq + h * a.head_dim;
      float* scores = a.scores + h * ld;
      float* out = a.out + t * a.ldo + h * a.head_dim;
      float max_score = -INFINITY;
      for (std::int64_t p = 0; p < visible; ++p) {
        scores[p] = dot_widened(q, keys + p * a.stride, a.head_dim) * a.scale;
        max_score = std::max(max_score, scores[p]);
      }
      float sum = 0.0f;
      for (std::int64_t p = 0; p < visible; ++p) {
        scores[p] = std::exp(scores[p] - max_score);
        sum += scores[p];
      }
      std::fill_n(out, a.head_dim, 0.0f);
      for (std::int64_t p = 0; p < visible; ++p) {
        const float weight = scores[p] / sum;
        const T* vp = values + p * a.stride;
        for (std::int64_t d = 0; d < a.head_dim; ++d)
          out[d] += weight * widen(vp[d]);
      }
    }
  }
}

}  // namespace

float portable_dot(const float* a, const float* b, std::int64_t n) {
  return dot_widened(a, b, n);
}

void portable_silu_mul(float* gate, const float* up, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i)
    gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void portable_bf16_pairs(const float* x, std::int64_t n, std::uint32_t* pairs) {
  for (std::int64_t i = 0; 2 * i < n; ++i) {
    const std::uint32_t lo = f32_to_bf16(x[2 * i]);
    const std::uint32_t hi = 2 * i + 1 < n ? f32_to_bf16(x[2 * i + 1]) : 0u;
    pairs[i] = lo | (hi << 16);
  }
}

void portable_attend(const AttendArgs& a) {
  if (a.bf16_cache) {
    portable_attend_over<std::uint16_t>(a);
  } else {
    portable_attend_over<float>(a);
  }
}

}  // namespace detail

namespace {

using PanelFn = void (*)(const detail::PanelArgs&);

void require(KernelSet set) {
  if (!kernel_set_supported(set)) {
    throw Error(std::string("kernels: the ") + kernel_set_name(set) +
                " kernels are not available in this build or on this CPU");
  }
}

PanelFn panel_fn(KernelSet set, WeightType type) {
#if RALM_KERNELS_AVX512
  if (set == KernelSet::avx512)
    return type == WeightType::bf16 ? detail::avx512_panel_bf16 : detail::avx512_panel_f32;
#endif
  (void)set;
  return type == WeightType::bf16 ? detail::portable_panel_bf16 : detail::portable_panel_f32;
}

// k steps per pass over a panel: 128 steps of 64 outputs are 32 KiB of
// weights, which stay in L1 while every block of rows passes over them.
constexpr std::int64_t kStepBlock = 128;

// Tasks wanted per thread in a matrix product, and the fewest rows a task
// takes when rows are split (each weight vector loaded from L1 then still
// serves dozens of rows).
constexpr std::int64_t kTasksPerThread = 8;
constexpr std::int64_t kMinBlockRows = 48;

}  // namespace

void matmul(KernelSet set, const float* x, std::int64_t rows, std::int64_t ldx, const PackedMatrix& w,
            float* y, std::int64_t ldy, int threads) {
  require(set);
  const std::int64_t out = w.out(), in = w.in();
  if (rows <= 0 || out <= 0) return;
  const PanelFn fn = panel_fn(set, w.type());
  const bool bf16 = w.type() == WeightType::bf16;
  const std::int64_t steps = w.k_steps();
  // bf16 weights take bf16 activations: rounded once per call, in pairs
  // (both kernel sets round alike, to nearest even).
  thread_local std::vector<std::uint32_t> pairs;
  void (*to_pairs)(const float*, std::int64_t, std::uint32_t*) = detail::portable_bf16_pairs;
#if RALM_KERNELS_AVX512
  if (set == KernelSet::avx512) to_pairs = detail::avx512_bf16_pairs;
#endif
  if (bf16) pairs.resize(static_cast<std::size_t>(rows * steps));
  std::uint32_t* const pair_data = pairs.data();
  const void* xs = bf16 ? static_cast<const void*>(pair_data) : x;
  const std::int64_t xstride = bf16 ? steps : ldx;
  const std::int64_t panels = w.panels();
  // A decoded token's matrix-vector products are short (models/tiny's q, k
  // and v: 196,608 multiply-adds, 20 us): split from 16,384 on, since the
  // pool's hand-off costs a few microseconds. At the 2^18 of the other steps
  // most of the shipped model's decode products would run on one thread: an
  // A/B of the two thresholds in `llama_bench --shapes tiny` gives 25-40%
  // fewer f32 tokens/s there.
  const int used = rows * in * out >= kMinParallelWork / 16 ? threads : 1;
  if (bf16) {
    parallel_for(rows * in >= kMinParallelWork ? threads : 1, rows,
                 [&](std::int64_t r) { to_pairs(x + r * ldx, in, pair_data + r * steps); });
  }
  // Tasks are a panel of outputs for a block of rows, handed out one at a
  // time; which thread computes a task, and where the row blocks start, never
  // changes a bit. With few panels (a 512-output matrix has 8) the rows are
  // split too, so that each thread gets several tasks and a late start or
  // the last task leaves the other thread idle for less of the step.
  const std::int64_t row_blocks =
      used > 1 ? std::clamp<std::int64_t>((kTasksPerThread * used + panels - 1) / panels, 1,
                                          (rows + kMinBlockRows - 1) / kMinBlockRows)
               : 1;
  const std::int64_t block_rows = (rows + row_blocks - 1) / row_blocks;
  // With many panels a task takes several consecutive ones: one long run of
  // memory per task keeps the hardware prefetcher streaming (decode reads
  // each weight once), while kTasksPerThread tasks per thread still balance
  // the threads.
  const std::int64_t group = used > 1 ? std::max<std::int64_t>(1, panels / (kTasksPerThread * used)) : panels;
  const std::int64_t groups = (panels + group - 1) / group;
  parallel_for(used, groups * row_blocks, [&](std::int64_t t) {
    const std::int64_t g = t / row_blocks, r0 = t % row_blocks * block_rows;
    for (std::int64_t p = g * group; p < std::min(panels, (g + 1) * group); ++p) {
      detail::PanelArgs a{};
      a.ldx = xstride;
      a.rows = std::min(block_rows, rows - r0);
      a.width = w.panel_width(p);
      a.valid = std::min(PackedMatrix::kPanel, out - p * PackedMatrix::kPanel);
      a.y = y + r0 * ldy + p * PackedMatrix::kPanel;
      a.ldy = ldy;
      for (std::int64_t k0 = 0; k0 < steps; k0 += kStepBlock) {
        a.steps = std::min(kStepBlock, steps - k0);
        a.first = k0 == 0;
        if (bf16) {
          a.x = static_cast<const std::uint32_t*>(xs) + r0 * xstride + k0;
          a.w = static_cast<const std::uint16_t*>(w.data()) + w.panel_offset(p) + k0 * a.width * 2;
        } else {
          a.x = static_cast<const float*>(xs) + r0 * xstride + k0;
          a.w = static_cast<const float*>(w.data()) + w.panel_offset(p) + k0 * a.width;
        }
        fn(a);
      }
    }
  });
}

namespace {

void attend_args(KernelSet set, const detail::AttendArgs& a) {
  require(set);
#if RALM_KERNELS_AVX512
  if (set == KernelSet::avx512) {
    detail::avx512_attend(a);
    return;
  }
#endif
  detail::portable_attend(a);
}

}  // namespace

void attend_tokens(KernelSet set, const float* q, std::int64_t ldq, std::int64_t tokens, std::int64_t heads,
                   const float* keys, const float* values, std::int64_t stride, std::int64_t visible,
                   std::int64_t head_dim, float scale, float* scores, float* out, std::int64_t ldo) {
  attend_args(
      set, {q, ldq, tokens, heads, keys, values, false, stride, visible, head_dim, scale, scores, out, ldo});
}

void attend_tokens(KernelSet set, const float* q, std::int64_t ldq, std::int64_t tokens, std::int64_t heads,
                   const std::uint16_t* keys, const std::uint16_t* values, std::int64_t stride,
                   std::int64_t visible, std::int64_t head_dim, float scale, float* scores, float* out,
                   std::int64_t ldo) {
  attend_args(
      set, {q, ldq, tokens, heads, keys, values, true, stride, visible, head_dim, scale, scores, out, ldo});
}

void attend(KernelSet set, const float* q, std::int64_t heads, const float* keys, const float* values,
            std::int64_t stride, std::int64_t visible, std::int64_t head_dim, float scale, float* scores,
            float* out) {
  attend_tokens(set, q, heads * head_dim, 1, heads, keys, values, stride, visible, head_dim, scale, scores,
                out, heads * head_dim);
}

void attend(KernelSet set, const float* q, std::int64_t heads, const std::uint16_t* keys,
            const std::uint16_t* values, std::int64_t stride, std::int64_t visible, std::int64_t head_dim,
            float scale, float* scores, float* out) {
  attend_tokens(set, q, heads * head_dim, 1, heads, keys, values, stride, visible, head_dim, scale, scores,
                out, heads * head_dim);
}

float dot(KernelSet set, const float* a, const float* b, std::int64_t n) {
#if RALM_KERNELS_AVX512
  if (set == KernelSet::avx512) {
    require(set);
    return detail::avx512_dot(a, b, n);
  }
#endif
  require(set);
  return detail::portable_dot(a, b, n);
}

void rms_norm(const float* x, std::int64_t rows, const float* weight, std::int64_t n, double eps, float* out,
              int threads) {
  parallel_for(rows * n >= kMinParallelWork / 16 ? threads : 1, rows, [&](std::int64_t r) {
    const float* xr = x + r * n;
    float* o = out + r * n;
    // Eight running sums (element i goes to sum i % 8), combined pairwise:
    // one running sum made every element wait for the previous addition
    // (several percent of a 512-token prefill of the small shape); the
    // order depends on n alone, so rows and threads still change nothing.
    double lane[8] = {};
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      for (int j = 0; j < 8; ++j)
        lane[j] += static_cast<double>(xr[i + j]) * xr[i + j];
    }
    for (; i < n; ++i)
      lane[i % 8] += static_cast<double>(xr[i]) * xr[i];
    const double sum =
        ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    const auto scale = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
    for (i = 0; i < n; ++i)
      o[i] = weight[i] * (xr[i] * scale);
  });
}

void silu_mul(KernelSet set, float* gate, const float* up, std::int64_t rows, std::int64_t n, std::int64_t ld,
              int threads) {
  require(set);
  void (*fn)(float*, const float*, std::int64_t) = detail::portable_silu_mul;
#if RALM_KERNELS_AVX512
  if (set == KernelSet::avx512) fn = detail::avx512_silu_mul;
#endif
  parallel_for(rows * n >= kMinParallelWork / 16 ? threads : 1, rows,
               [&](std::int64_t r) { fn(gate + r * ld, up + r * ld, n); });
}

}  // namespace ralm::kernels
