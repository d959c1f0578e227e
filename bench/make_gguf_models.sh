#!/usr/bin/env bash
# Makes the TinyLlama-shape GGUF models the GGUF benchmarks read (about
# 10 GB, never committed): a random-weight F32 file written as llama.cpp's
# converter would write it, and llama.cpp's quantizations of it.
#
#   LLAMA_CPP=/path/to/llama.cpp bench/make_gguf_models.sh OUT_DIR
#
# LLAMA_CPP is a llama.cpp source tree (for gguf-py); LLAMA_CPP_BUILD its
# build (default $LLAMA_CPP/build, programs in bin/); PYTHON a Python 3 with
# numpy (default python3); THREADS llama-quantize's threads (default 2).
# Writes OUT_DIR/tl-{f32,bf16,q8_0,q4_0,q4_k_m}.gguf.
set -euo pipefail

[[ $# == 1 ]] || { echo "usage: LLAMA_CPP=/path/to/llama.cpp $0 OUT_DIR" >&2; exit 2; }
out=$1
: "${LLAMA_CPP:?set LLAMA_CPP to a llama.cpp source tree}"
bin=${LLAMA_CPP_BUILD:-$LLAMA_CPP/build}/bin
[[ -x $bin/llama-quantize ]] || { echo "$0: $bin/llama-quantize is missing; set LLAMA_CPP_BUILD to a llama.cpp build" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"

PYTHONPATH=$LLAMA_CPP/gguf-py${PYTHONPATH:+:$PYTHONPATH} "${PYTHON:-python3}" \
  "$here/tests/fixtures/gguf/make_random_llama_gguf.py" --shape tinyllama --seed 0 --out "$out/tl-f32.gguf"

# llama-quantize's type names; its default mixes apply (output.weight in
# Q6_K for Q4_0 and Q4_K_M, some attn_v and ffn_down in Q6_K for Q4_K_M).
for type in BF16 Q8_0 Q4_0 Q4_K_M; do
  lower=${type,,}
  "$bin/llama-quantize" "$out/tl-f32.gguf" "$out/tl-$lower.tmp.gguf" "$type" "${THREADS:-2}" >"$out/tl-$lower.quantize.log" 2>&1 ||
    { tail -n 20 "$out/tl-$lower.quantize.log" >&2; exit 1; }
  mv "$out/tl-$lower.tmp.gguf" "$out/tl-$lower.gguf"
done
ls -l "$out"/tl-*.gguf
