#!/usr/bin/env bash
# `ralm serve` under load, batching on (--max-batch 16) against one request at
# a time (--max-batch 1): both servers run side by side and serve_load
# interleaves them A/B/A/B at each load, so drift hits both alike.
#
#   bench/serve_bench.sh [--big] [BUILD_DIR]
#
# Pipelines: the shipped model without retrieval (quickstart), In-Context RALM
# (quickstart-prepend), FlashBack (quickstart-append) and RaLMSpec
# (quickstart-ralmspec). --big adds a random-weight TinyLlama-1.1B-shaped
# model in bf16 (written once to $RALM_BENCH_TMP, default /tmp), without
# retrieval, at concurrency 1 and 16 only (minutes per point on a CPU).
# Results: out/serve-bench/*.json and the tables on stdout.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
big=0
if [[ ${1:-} == --big ]]; then
  big=1
  shift
fi
build=${1:-$root/build}
ralm=$build/bin/ralm
load=$build/bin/serve_load
out=$root/out/serve-bench
mkdir -p "$out"
prompts=$root/pipelines/prompts/quickstart.jsonl
pids=()
cleanup() { ((${#pids[@]})) && kill "${pids[@]}" 2> /dev/null; wait 2> /dev/null || true; }
trap cleanup EXIT

# start PORT PIPELINE ARGS...: a server in the background, ready when /health says so.
start() {
  local port=$1 pipeline=$2
  shift 2
  "$ralm" serve "$pipeline" --host 127.0.0.1 --port "$port" --max-queue 512 "$@" --log-level warn &
  pids+=($!)
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/health" > /dev/null && return 0
    sleep 0.5
  done
  echo "serve_bench: the server on port $port did not come up in 300 s" >&2
  return 1
}

# run NAME PIPELINE LOADGEN_ARGS... [-- SERVER_ARGS...]
run() {
  local name=$1 pipeline=$2
  shift 2
  local args=() server_args=()
  while (($#)) && [[ $1 != -- ]]; do
    args+=("$1")
    shift
  done
  (($#)) && shift && server_args=("$@")
  echo "== $name ($pipeline)"
  start 18081 "$pipeline" --max-batch 16 "${server_args[@]}"
  start 18082 "$pipeline" --max-batch 1 "${server_args[@]}"
  # The one-at-a-time server first: the last column is each row against it.
  "$load" --server single=http://127.0.0.1:18082 --server batched=http://127.0.0.1:18081 \
    --prompts "$prompts" --json "$out/$name.json" "${args[@]}" || echo "serve_bench: $name: see above" >&2
  cleanup
  pids=()
}

for p in quickstart quickstart-prepend quickstart-append quickstart-ralmspec; do
  run "$p" "$root/pipelines/$p.yaml" --concurrency 1,4,16,64 --rates 8 --requests 48 --max-tokens 32 --repeat 2
done

if ((big)); then
  model=${RALM_BENCH_TMP:-/tmp}/tinyllama-random-bf16
  [[ -f $model/model.safetensors ]] || "$build/bin/random_checkpoint" --shape tinyllama --dtype bf16 --out "$model"
  run tinyllama-1.1b-bf16 "$root/pipelines/quickstart.yaml" --concurrency 1,16 --requests 16 --max-tokens 8 \
    --repeat 1 -- --set "model.path=$model"
fi
