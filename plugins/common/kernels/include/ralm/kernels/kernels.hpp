// The numeric kernels the model plugins share (the llama plugin's decoder,
// the dense plugin's BERT encoder): matrix products over packed weights (f32
// or bf16), attention over a KV cache, and the small element-wise steps.
//
// Two kernel sets compute them: `avx512` (AVX-512 with avx512_bf16, in its
// own translation unit built with those flags) and `portable` (plain C++, any
// CPU). default_kernel_set() picks avx512 when the CPU has it, unless the
// environment variable RALM_KERNELS is `portable`.
//
// The invariant speculation's identical outputs rest on: for a given kernel
// set and weight type, every output element is computed by one fixed
// sequence of operations whatever the number of rows in the call and
// whatever the thread count. Matrix products achieve it by giving each
// (row, output) pair a single accumulator that runs over k in order, one
// (fused, in avx512) multiply-add per k, never split or reduced across
// lanes: blocking over rows, outputs and k only changes when the accumulator
// is held in a register and when it waits in memory, which is exact. So
// evaluating 8 tokens at once gives the bits of evaluating them one by one.
// The two kernel sets differ from each other (fused against separate
// rounding), within a tolerance the tests state.
//
// A bf16 KV cache stores each key and value rounded to bf16 and changes
// nothing else: attention widens every cached bf16 to the float it stands
// for (exact: a bf16 is the top half of a float32) as it loads it, then runs
// the f32 path's operations. So a model with a bf16 cache computes exactly,
// bit for bit, what the same kernel set computes with an f32 cache whose
// every key and value was first rounded to bf16 (f32_to_bf16), and the
// invariant above holds for it unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace ralm::kernels {

enum class KernelSet { portable, avx512 };
enum class WeightType { f32, bf16 };
// How a sequence's KV cache stores keys and values: bf16 halves the bytes
// that decode reads per cached position, at 8 significant bits per value.
enum class KvCacheType { f32, bf16 };

const char* kernel_set_name(KernelSet set);
const char* weight_type_name(WeightType type);
const char* kv_cache_type_name(KvCacheType type);
// Bytes one cached key or value element takes: 4 or 2.
std::size_t kv_cache_element_bytes(KvCacheType type);

// Whether this build has the set and this CPU can run it.
bool kernel_set_supported(KernelSet set);
// The set for a value of RALM_KERNELS: "portable" forces the fallback; null,
// empty or anything else means the best set the CPU supports.
KernelSet choose_kernel_set(const char* ralm_kernels);
// choose_kernel_set(getenv("RALM_KERNELS")), read once per process.
KernelSet default_kernel_set();

// bfloat16 as stored: the top half of a float32, rounded to nearest even.
std::uint16_t f32_to_bf16(float f);
float bf16_to_f32(std::uint16_t h);
inline float round_to_bf16(float f) {
  return bf16_to_f32(f32_to_bf16(f));
}

// Memory aligned to a cache line, or, when large, to 2 MiB with transparent
// huge pages requested: streaming reads of weights and of the KV cache then
// cross fewer page boundaries, where hardware prefetchers stop, and miss the
// TLB less.
void* allocate_aligned(std::size_t bytes);
void free_aligned(void* p) noexcept;

// For std::vector: the KV cache is copied when a sequence is cloned.
template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_aligned(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { free_aligned(p); }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const {
    return true;
  }
};

// Zeroed aligned memory that is moved, never copied: packed weights.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t bytes);
  void* data() { return data_.get(); }
  const void* data() const { return data_.get(); }
  std::size_t bytes() const { return bytes_; }

 private:
  struct Free {
    void operator()(void* p) const { free_aligned(p); }
  };
  std::unique_ptr<void, Free> data_;
  std::size_t bytes_ = 0;
};

// A Linear weight W (out × in, row-major as Hugging Face stores it), packed
// for the kernels: panels of up to 64 outputs, each stored k-major so that
// one k step of a panel is one contiguous run of 16-float vectors. The last
// panel is as narrow as its outputs allow (a multiple of 16), padded with
// zeros. bf16 stores k in pairs (k, k+1) per output, the operand layout of
// `vdpbf16ps`, with a zero after an odd `in`. Several matrices with the same
// `in` may be stacked into one (their outputs concatenated in order), so one
// call computes, say, q, k and v.
class PackedMatrix {
 public:
  static constexpr std::int64_t kPanel = 64;

  PackedMatrix() = default;
  PackedMatrix(std::span<const std::span<const float>> stacked, std::int64_t in, WeightType type);
  PackedMatrix(std::span<const float> w, std::int64_t out, std::int64_t in, WeightType type);
  // Row o of W written into row[0, in) by `row_of`, asked for a panel's rows
  // at a time: packs a matrix held in another form (a mapped file's f16
  // tensor, say) without a float32 copy of the whole of it.
  PackedMatrix(std::int64_t out, std::int64_t in, WeightType type,
               const std::function<void(std::int64_t o, float* row)>& row_of);

  std::int64_t out() const { return out_; }
  std::int64_t in() const { return in_; }
  WeightType type() const { return type_; }
  std::size_t bytes() const { return buffer_.bytes(); }
  const void* data() const { return buffer_.data(); }

  // W[o][i] as the kernels see it (bf16-rounded for bf16).
  float at(std::int64_t o, std::int64_t i) const;
  // Rows [o0, o1) as float32, row-major (o1 - o0) × in: the inverse of
  // packing, exact for f32 (bf16 gives the rounded values). Merging LoRA,
  // growing the vocabulary and saving start from it.
  std::vector<float> unpack(std::int64_t o0, std::int64_t o1) const;
  std::vector<float> unpack() const { return unpack(0, out_); }
  // Width of panel p (16, 32, 48 or 64) and where it starts, in elements.
  std::int64_t panel_width(std::int64_t p) const;
  std::int64_t panel_offset(std::int64_t p) const;
  std::int64_t panels() const { return (out_ + kPanel - 1) / kPanel; }
  // k steps per panel: in for f32, its pairs for bf16.
  std::int64_t k_steps() const { return type_ == WeightType::bf16 ? (in_ + 1) / 2 : in_; }

 private:
  std::int64_t out_ = 0, in_ = 0;
  WeightType type_ = WeightType::f32;
  AlignedBuffer buffer_;
};

// y[r][o] = x[r] · W[o] for r < rows, o < W.out(): x is rows × in with row
// stride ldx, y rows × out with row stride ldy. For bf16 weights x is first
// rounded to bf16 (so each product is exact) and the sums are float32.
// Parallel over panels of outputs on `threads` threads; the result does not
// depend on `threads` or `rows` (see the top of this file).
void matmul(KernelSet set, const float* x, std::int64_t rows, std::int64_t ldx, const PackedMatrix& w,
            float* y, std::int64_t ldy, int threads);
inline void matmul(KernelSet set, const float* x, std::int64_t rows, const PackedMatrix& w, float* y,
                   int threads) {
  matmul(set, x, rows, w.in(), w, y, w.out(), threads);
}

// Attention of `heads` query heads that share one key/value head, over
// `visible` cached positions: for each head h, out_h = Σ_p softmax_p · v_p,
// softmax over scale · (q_h · k_p). The heads' queries (and outputs) follow
// each other, head_dim apart. Position p's key is at keys + p · stride, its
// value at values + p · stride. `scores` holds max(heads, 4) ×
// round_up(visible, 16) floats. Each output depends only on its own query and
// the cache, computed the same way whether heads are taken together or
// alone, so neither grouping nor batching can change it.
void attend(KernelSet set, const float* q, std::int64_t heads, const float* keys, const float* values,
            std::int64_t stride, std::int64_t visible, std::int64_t head_dim, float scale, float* scores,
            float* out);

// attend() for `tokens` consecutive tokens at once, causally: token t's
// queries are at q + t · ldq, its outputs at out + t · ldo, and it sees the
// first visible + t positions. Every output has the bits attend() gives its
// query alone; taking tokens together lets several queries share each key
// and value loaded (the avx512 set takes 4 queries per pass over the cache).
// `scores` holds max(heads, 4) × round_up(visible + tokens - 1, 16) floats.
void attend_tokens(KernelSet set, const float* q, std::int64_t ldq, std::int64_t tokens, std::int64_t heads,
                   const float* keys, const float* values, std::int64_t stride, std::int64_t visible,
                   std::int64_t head_dim, float scale, float* scores, float* out, std::int64_t ldo);

// attend() and attend_tokens() over a bf16 cache (keys and values as bf16,
// `stride` in elements): the bits the float versions give over floats
// holding bf16_to_f32 of the same keys and values (see the top of this file).
void attend(KernelSet set, const float* q, std::int64_t heads, const std::uint16_t* keys,
            const std::uint16_t* values, std::int64_t stride, std::int64_t visible, std::int64_t head_dim,
            float scale, float* scores, float* out);
void attend_tokens(KernelSet set, const float* q, std::int64_t ldq, std::int64_t tokens, std::int64_t heads,
                   const std::uint16_t* keys, const std::uint16_t* values, std::int64_t stride,
                   std::int64_t visible, std::int64_t head_dim, float scale, float* scores, float* out,
                   std::int64_t ldo);

// a·b: 16 partial sums over k in order, combined pairwise (a fixed order).
float dot(KernelSet set, const float* a, const float* b, std::int64_t n);

// For each of `rows` rows (stride n): out = x / sqrt(mean(x²) + eps) *
// weight, the mean accumulated in double. Parallel over rows; each row's
// result is the same on any thread.
void rms_norm(const float* x, std::int64_t rows, const float* weight, std::int64_t n, double eps, float* out,
              int threads);

// gate = SiLU(gate) · up over `rows` rows of n, the row stride ld for both.
// e^x is std::exp in the portable set and a polynomial within about 1 ulp in
// avx512; element by element, so rows and threads change nothing.
void silu_mul(KernelSet set, float* gate, const float* up, std::int64_t rows, std::int64_t n, std::int64_t ld,
              int threads);

}  // namespace ralm::kernels
