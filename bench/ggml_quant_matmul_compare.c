// llama.cpp's quantized matrix products beside quant_matmul_bench: the peer
// figure. Not built with the project: it links a llama.cpp build (see
// bench/README.md for the command).
//
//   ggml_quant_matmul_compare [TYPE]   (q4_0, q8_0, q4_K or q6_K; all without)
//
// ggml_mul_mat through the CPU backend on 2 threads, as llama.cpp runs a
// model: the weights in the backend's extra "repack" buffer type when it
// takes them (Q4_0, repacked to its 8x8 interleaved layout on AVX2 CPUs), in
// a plain CPU buffer otherwise. At TinyLlama's shapes (out × in) and 256
// rows quantized by ggml_quantize_chunk, tiled, as quant_matmul_bench does:
// matrix-vector weight GB/s, cycling through copies totalling 256 MiB or
// more, and prefill GFLOP/s at 512 rows; medians.
#define _POSIX_C_SOURCE 199309L  // clock_gettime

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int by_value(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

// Median seconds of computing graphs[i % n], over about `budget` seconds.
static double time_graphs(ggml_backend_t backend, struct ggml_cgraph** graphs, int n, double budget) {
  double t[400];
  int reps = 0;
  const double start = now();
  while ((reps < 3 || now() - start < budget) && reps < 400) {
    const double s = now();
    ggml_backend_graph_compute(backend, graphs[reps % n]);
    t[reps++] = now() - s;
  }
  qsort(t, (size_t)reps, sizeof t[0], by_value);
  return t[reps / 2];
}

int main(int argc, char** argv) {
  const int threads = 2, rows = 512;
  const char* only = argc > 1 ? argv[1] : NULL;
  ggml_backend_t backend = ggml_backend_cpu_init();
  ggml_backend_cpu_set_n_threads(backend, threads);
  ggml_backend_dev_t dev = ggml_backend_get_device(backend);
  ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
  ggml_backend_dev_get_extra_bufts_t get_extra =
      (ggml_backend_dev_get_extra_bufts_t)ggml_backend_reg_get_proc_address(
          reg, "ggml_backend_dev_get_extra_bufts");
  ggml_backend_buffer_type_t extra = get_extra ? get_extra(dev)[0] : NULL;
  printf("ggml CPU backend, %d threads; extra buffer type: %s\n", threads,
         extra ? ggml_backend_buft_name(extra) : "none");
  const enum ggml_type types[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K};
  const struct {
    const char* name;
    int out, in;
  } shapes[] = {{"q/o", 2048, 2048}, {"gate/up", 5632, 2048}, {"down", 2048, 5632}, {"head", 32000, 2048}};
  printf("%-6s %-8s %6s %6s | %10s %8s | %9s\n", "type", "shape", "out", "in", "matvec GB/s", "us",
         "prefill GFLOP/s");
  for (int ti = 0; ti < 4; ++ti) {
    const enum ggml_type type = types[ti];
    if (only && strcmp(only, ggml_type_name(type)) != 0) continue;
    // The repack buffer type takes only the types it repacks (Q4_0 here).
    ggml_backend_buffer_type_t wbuft =
        extra && type == GGML_TYPE_Q4_0 ? extra : ggml_backend_cpu_buffer_type();
    for (int si = 0; si < 4; ++si) {
      const int out = shapes[si].out, in = shapes[si].in;
      const size_t rb = ggml_row_size(type, in), bytes = rb * (size_t)out;
      int copies = (int)(((size_t)256 << 20) / bytes) + 1;
      if (copies < 2) copies = 2;
      struct ggml_init_params params = {ggml_tensor_overhead() * (size_t)(copies * 4 + 16) +
                                            ggml_graph_overhead_custom(64, false) * (size_t)(copies + 1),
                                        NULL, true};
      struct ggml_context* wctx = ggml_init(params);
      struct ggml_tensor** w = malloc(sizeof(*w) * (size_t)copies);
      for (int c = 0; c < copies; ++c)
        w[c] = ggml_new_tensor_2d(wctx, type, in, out);
      ggml_backend_buffer_t wbuf = ggml_backend_alloc_ctx_tensors_from_buft(wctx, wbuft);
      const int seed_rows = out < 256 ? out : 256;
      float* f = malloc(sizeof(float) * (size_t)seed_rows * (size_t)in);
      srand(42);
      for (long i = 0; i < (long)seed_rows * in; ++i)
        f[i] = 0.05f * (2.0f * (float)rand() / (float)RAND_MAX - 1.0f);
      char* q = malloc(rb * (size_t)seed_rows);
      ggml_quantize_chunk(type, f, q, 0, seed_rows, in, NULL);
      char* full = malloc(bytes);
      for (int o = 0; o < out; ++o)
        memcpy(full + (size_t)o * rb, q + (size_t)(o % seed_rows) * rb, rb);
      for (int c = 0; c < copies; ++c)
        ggml_backend_tensor_set(w[c], full, 0, bytes);

      struct ggml_context* actx = ggml_init(params);
      struct ggml_tensor* x1 = ggml_new_tensor_2d(actx, GGML_TYPE_F32, in, 1);
      struct ggml_tensor* xp = ggml_new_tensor_2d(actx, GGML_TYPE_F32, in, rows);
      struct ggml_cgraph** vec = malloc(sizeof(*vec) * (size_t)copies);
      for (int c = 0; c < copies; ++c) {
        vec[c] = ggml_new_graph_custom(actx, 64, false);
        ggml_build_forward_expand(vec[c], ggml_mul_mat(actx, w[c], x1));
      }
      struct ggml_cgraph* pre = ggml_new_graph_custom(actx, 64, false);
      ggml_build_forward_expand(pre, ggml_mul_mat(actx, w[0], xp));
      ggml_backend_buffer_t abuf = ggml_backend_alloc_ctx_tensors(actx, backend);
      float* xv = malloc(sizeof(float) * (size_t)in * rows);
      for (long i = 0; i < (long)in * rows; ++i)
        xv[i] = 2.0f * (float)rand() / (float)RAND_MAX - 1.0f;
      ggml_backend_tensor_set(x1, xv, 0, sizeof(float) * (size_t)in);
      ggml_backend_tensor_set(xp, xv, 0, sizeof(float) * (size_t)in * rows);

      const double t_vec = time_graphs(backend, vec, copies, 1.0);
      const double t_pre = time_graphs(backend, &pre, 1, 1.5);
      printf("%-6s %-8s %6d %6d | %10.1f %8.0f | %9.1f\n", ggml_type_name(type), shapes[si].name, out, in,
             (double)bytes / t_vec / 1e9, t_vec * 1e6, 2.0 * rows * (double)in * out / t_pre / 1e9);
      fflush(stdout);
      ggml_backend_buffer_free(abuf);
      ggml_backend_buffer_free(wbuf);
      ggml_free(actx);
      ggml_free(wctx);
      free(w);
      free(f);
      free(q);
      free(full);
      free(xv);
      free(vec);
    }
  }
  ggml_backend_free(backend);
  return 0;
}
