#!/usr/bin/env bash
# Exact dense search with its vectors split over the ranks of an Open MPI job
# (`mpirun --oversubscribe`, loopback only): rank 0 runs the pipeline, ranks
# 1..3 each scan a third of the passages. The outputs, passages and scores
# (bit for bit) equal the one-process search's, and so do RaLMSpec's
# (speculation, prefetch, asynchronous verification) over the shards, in one
# `ralm compare` over the same ranks; a job with the wrong number of ranks,
# or a pipeline started without mpirun, is one error line (exit 2); a shard
# rank that stalls is one line naming it within the timeout (exit 1), and
# one that is killed ends the job at once with mpirun naming it. kNN-LM's
# datastore over the ranks, speculative or not, gives the same outputs too.
#   mpi_dense_test.sh RALM SOURCE_DIR
set -euo pipefail
ralm=$1
source_dir=$2
work=$(mktemp -d)
cleanup() {
  pkill -9 -f "$work/" 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
unset RALMKIT_PLUGIN_PATH RALM_LOG_LEVEL
source "$(dirname "${BASH_SOURCE[0]}")/shell_checks.sh"
die() {
  echo "FAIL: $*" >&2
  exit 1
}
# Loopback only; root may run ranks (CI runs as root); no rank binding, so
# more ranks than cores share them.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,tcp \
  OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_rmaps_base_oversubscribe=1 \
  OMPI_MCA_hwloc_base_binding_policy=none
mpi() { timeout 120 mpirun --oversubscribe -np "$@"; }

source "$(dirname "${BASH_SOURCE[0]}")/shard_fixture.sh"
write_corpus_and_prompts
# write_pipeline NAME SHARDS [ENGINE EXTRAS [SECTIONS]]
write_pipeline() {
  cat > "$work/$1.yaml" <<YAML
name: $1
model: $tiny_model
retriever: {plugin: dense, corpus: corpus, dim: 8, min_df: 1, shards: $2, timeout_ms: 3000}
policy: {plugin: prepend}
engine: {stride: 2, max_passage_tokens: 24, max_new_tokens: 24, threads: 1${3:-}}
task: {kind: generate, prompts: prompts.jsonl, output: out/$1}
${4:-}
YAML
}
write_pipeline one 1
write_pipeline sharded 3
write_pipeline sharded-ralmspec 3 ", prefetch: 8, async_verification: true" \
  "scheduler: {plugin: fixed, steps_per_round: 3}"
check "index build, without mpirun" "$ralm" index build "$work/sharded.yaml"

"$ralm" run "$work/one.yaml" > /dev/null 2>&1 || die "the one-process run failed"
mpi 4 "$ralm" compare "$work/sharded.yaml" "$work/sharded-ralmspec.yaml" > "$work/compare.out" 2> "$work/compare.err" ||
  die "mpirun ralm compare failed: $(tail -n 5 "$work/compare.err")"
check "3 shard ranks give the one process's outputs" diff <(outputs one) <(outputs sharded)
check "3 shard ranks give the one process's passages and scores" diff <(hits one) <(hits sharded)
check "passages were retrieved" test "$(hits one | grep -c '"score"')" -eq 4
check "RaLMSpec over the shard ranks gives its baseline's outputs" diff <(outputs sharded) <(outputs sharded-ralmspec)
check "compare says identical" grep -q "sharded-ralmspec .* yes" "$work/compare.out"

# kNN-LM with its datastore's entries over the shard ranks: the same.
# write_knnlm NAME SHARDS [SECTIONS]
write_knnlm() {
  cat > "$work/$1.yaml" <<YAML
name: $1
model: $tiny_model
policy: {plugin: knnlm, corpus: corpus, index: Flat, k: 8, max_tokens: 64, shards: $2, timeout_ms: 3000}
engine: {max_new_tokens: 16, threads: 1, async_verification: false, cache_capacity: 256}
task: {kind: generate, prompts: prompts.jsonl, output: out/$1}
${3:-}
YAML
}
write_knnlm knn-one 1
write_knnlm knn-sharded 3
write_knnlm knn-sharded-spec 3 "scheduler: {plugin: fixed, steps_per_round: 3}"
check "datastore build, without mpirun" "$ralm" datastore build "$work/knn-sharded.yaml"
"$ralm" run "$work/knn-one.yaml" > /dev/null 2>&1 || die "the one-process kNN-LM run failed"
mpi 4 "$ralm" compare "$work/knn-sharded.yaml" "$work/knn-sharded-spec.yaml" > "$work/knn.out" 2> "$work/knn.err" ||
  die "mpirun ralm compare (kNN-LM) failed: $(tail -n 5 "$work/knn.err")"
check "kNN-LM over 3 shard ranks gives the one process's outputs" diff <(outputs knn-one) <(outputs knn-sharded)
check "speculative kNN-LM over the shard ranks gives its baseline's outputs" \
  diff <(outputs knn-sharded) <(outputs knn-sharded-spec)
check "the speculative kNN-LM speculated" test "$(jq -s 'map(.speculation.accepted_steps) | add' \
  "$work/out/knn-sharded-spec/outputs.jsonl")" -gt 0

# expect_one_line NAME STATUS PATTERN COMMAND...: COMMAND exits STATUS, and
# ralm's stderr has one line matching PATTERN.
expect_one_line() {
  local name=$1 status=$2 pattern=$3 rc=0 before=$failed
  shift 3
  "$@" > /dev/null 2> "$work/err" || rc=$?
  check "$name: exit $status" test "$rc" -eq "$status"
  check "$name: one ralm line" test "$(grep -c '^ralm: ' "$work/err")" -eq 1
  check "$name: says '$pattern'" grep -q -- "$pattern" "$work/err"
  ((failed == before)) || cat "$work/err" >&2
}
expect_one_line "without mpirun" 2 "start the pipeline with \`mpirun -np SHARDS+1" "$ralm" run "$work/sharded.yaml"
expect_one_line "3 shards on 3 ranks" 2 "retriever.shards: 3 shards need 4 MPI ranks" mpi 3 "$ralm" run "$work/sharded.yaml"

# A stalled shard rank (SIGSTOP) is named within timeout_ms; a killed one
# ends the job. The prompts are many, so the signal lands mid-run.
for i in $(seq 1 200); do echo "{\"id\": \"q$i\", \"prompt\": \"Lisp programs $i\"}"; done > "$work/many.jsonl"
write_pipeline many 3
sed -i 's/prompts: prompts.jsonl/prompts: many.jsonl/' "$work/many.yaml"
# signal_mid_run SIGNAL: runs the pipeline and sends SIGNAL to one shard rank
# once it serves; sets rc, and elapsed (seconds from the signal to the end).
signal_mid_run() {
  rc=0
  mpi 4 "$ralm" run "$work/many.yaml" --log-level info > /dev/null 2> "$work/err" &
  local job=$! i pid=
  for ((i = 0; i < 200; i++)); do
    pid=$(pgrep -f "ralm run $work/many.yaml" | while read -r p; do
      grep -qs "OMPI_COMM_WORLD_RANK=2" "/proc/$p/environ" && echo "$p"; done | head -n 1 || true)
    [[ -n $pid ]] && grep -q "MPI rank 2 serves" "$work/err" && break
    sleep 0.1
  done
  [[ -n $pid ]] || die "no shard rank 2 found"
  sleep 0.5
  kill "-$1" "$pid"
  local start=$SECONDS
  wait "$job" || rc=$?
  elapsed=$((SECONDS - start))
  kill -CONT "$pid" 2> /dev/null || true
}
signal_mid_run STOP
check "a stalled shard rank: exit nonzero" test "$rc" -ne 0
check "a stalled shard rank: named" grep -q "dense: MPI rank 2 (of shards 1..3) did not answer within timeout_ms 3000" "$work/err"
check "a stalled shard rank: within the timeout" test "$elapsed" -le 15
((failed == 0)) || cat "$work/err" >&2
signal_mid_run KILL
check "a killed shard rank: exit nonzero" test "$rc" -ne 0
check "a killed shard rank: within the timeout" test "$elapsed" -le 15
check "a killed shard rank: mpirun names it" grep -qi "rank 2" "$work/err"
((failed == 0)) || cat "$work/err" >&2

echo "$passed passed, $failed failed"
((failed == 0))
