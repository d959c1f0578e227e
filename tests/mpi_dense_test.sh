#!/usr/bin/env bash
# Dense search with its index split over the ranks of an Open MPI job
# (`mpirun --oversubscribe`, loopback only): `ralm index build` with shards: 3
# writes three shard file sets, rank 0 runs the pipeline, ranks 1..3 each
# search theirs. The outputs, passages and scores (bit for bit) equal the
# one-process search's, and so do RaLMSpec's (speculation, prefetch,
# asynchronous verification) over the shards, in one `ralm compare` over the
# same ranks; so do an IVF…,Flat and an IVF…,PQ index's over shards that
# share the unsharded index's training; the run report splits the shards'
# search time from the network's. A job with the wrong number of ranks, a
# pipeline started without mpirun, shard sets built for another shard count,
# one missing, one of another corpus, or sets cut from another copy of the
# index than rank 0's is one error line (exit 2); a shard
# rank that stalls is one line naming it within the timeout (exit 1), and
# one that is killed ends the job at once with mpirun naming it. kNN-LM's
# datastore over the ranks (exact, speculative, IVF) gives the same outputs
# too.
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
# Under ASan (scripts/test_sanitized.sh), Open MPI's own allocations at exit
# are suppressed by library (tests/sanitizers/lsan.supp); they are found only
# when its components stay mapped and stacks unwind through code built
# without frame pointers.
if [[ -n ${ASAN_OPTIONS:-} ]]; then
  export ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0 OMPI_MCA_mca_base_component_disable_dlclose=1
fi

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
check "index build wrote 3 shard file sets" test -f "$work/corpus/dense-lsa8/shard-2-of-3/vectors.f32"
check "the run report splits shard search from network" \
  grep -q "^sharded: [0-9]* searches over shard ranks took .* s: shard search .* + network" "$work/compare.out"
check "summary.json has the split" test "$(jq '.times.shard_exchanges > 0 and .times.network_s > 0 and
  (.times.shard_search_s + .times.network_s) <= .times.retrieval_s + .times.verification_s' \
  "$work/out/sharded/summary.json")" = true

# Approximate indexes over the shards: each shard's IVF (or IVF-PQ) holds its
# rows under the unsharded index's coarse quantizer and codebooks, so with
# the same nprobe the merged top 4 is the unsharded index's. nprobe 1 of 4
# lists keeps the search approximate (checked: it differs from exact).
# write_approx NAME SHARDS INDEX
write_approx() {
  write_pipeline "$1" "$2" ", top_k: 4"
  sed -i "s|shards: $2,|shards: $2, index: \"$3\", nprobe: 1, index_dir: corpus/approx,|" "$work/$1.yaml"
}
write_approx exact-k4 1 Flat
write_approx ivf-one 1 "IVF4,Flat"
write_approx ivf-sharded 3 "IVF4,Flat"
write_approx pq-one 1 "IVF2,PQ4x4"
write_approx pq-sharded 3 "IVF2,PQ4x4"
# Rank 0 opens no FAISS index over shards: the sharded runs go without it.
for name in ivf pq; do
  "$ralm" index build "$work/$name-sharded.yaml" > /dev/null 2>&1 || die "index build of $name-sharded failed"
  "$ralm" run "$work/$name-one.yaml" > /dev/null 2>&1 || die "the one-process $name run failed"
  mkdir "$work/aside"
  mv "$work"/corpus/approx/faiss-* "$work/aside/"
  mpi 4 "$ralm" run "$work/$name-sharded.yaml" > /dev/null 2> "$work/$name.err" ||
    die "mpirun ralm run $name-sharded failed: $(tail -n 5 "$work/$name.err")"
  mv "$work"/aside/* "$work/corpus/approx/" && rmdir "$work/aside"
  check "$name over 3 shard ranks gives the one process's passages and scores" \
    diff <(hits "$name-one") <(hits "$name-sharded")
  check "$name over 3 shard ranks gives the one process's outputs" diff <(outputs "$name-one") <(outputs "$name-sharded")
done
"$ralm" run "$work/exact-k4.yaml" > /dev/null 2>&1 || die "the exact top-4 run failed"
check "IVF at nprobe 1 is approximate here" \
  test "$(jq -c '.retrievals[].hits' "$work/out/exact-k4/outputs.jsonl")" != \
  "$(jq -c '.retrievals[].hits' "$work/out/ivf-one/outputs.jsonl")"
check "the shard sets of two indexes share their rows" test -f "$work/corpus/approx/shard-0-of-3/faiss-IVF2_PQ4x4-ip/faiss.index"

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
# An IVF datastore over the shard ranks: its shards share the unsharded
# datastore index's coarse quantizer.
write_knnlm knn-ivf-one 1
write_knnlm knn-ivf-sharded 3
sed -i 's/index: Flat,/index: "IVF8,Flat", nprobe: 2,/' "$work/knn-ivf-one.yaml" "$work/knn-ivf-sharded.yaml"
"$ralm" datastore build "$work/knn-ivf-sharded.yaml" > /dev/null 2>&1 || die "datastore build (IVF) failed"
"$ralm" run "$work/knn-ivf-one.yaml" > /dev/null 2>&1 || die "the one-process IVF kNN-LM run failed"
mpi 4 "$ralm" run "$work/knn-ivf-sharded.yaml" > /dev/null 2> "$work/knn-ivf.err" ||
  die "mpirun ralm run (IVF kNN-LM) failed: $(tail -n 5 "$work/knn-ivf.err")"
check "IVF kNN-LM over 3 shard ranks gives the one process's outputs" \
  diff <(outputs knn-ivf-one) <(outputs knn-ivf-sharded)

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
# Shard file sets: built for another count, one missing, one of another corpus.
write_pipeline two-shards 2
expect_one_line "2 shards, sets for 3" 2 "MPI rank 1: .*shard-0-of-2: missing (shard 0 of 2; the folder has shard file sets for shards: 3); build them with \`ralm index build PIPELINE\`" \
  mpi 3 "$ralm" run "$work/two-shards.yaml"
# `ralm index build --shards 2` writes the 2 sets, and 2 shard ranks then agree.
"$ralm" index build "$work/one.yaml" --shards 2 > /dev/null 2>&1 || die "index build --shards 2 failed"
mpi 3 "$ralm" run "$work/two-shards.yaml" > /dev/null 2> "$work/two.err" ||
  die "mpirun ralm run two-shards failed: $(tail -n 5 "$work/two.err")"
check "2 shard ranks from index build --shards 2 give the one process's hits" diff <(hits one) <(hits two-shards)
index="$work/corpus/dense-lsa8"
mv "$index/shard-1-of-3" "$work/shard-1-of-3"
expect_one_line "a shard set missing" 2 "MPI rank 2: .*shard-1-of-3: missing" mpi 4 "$ralm" run "$work/sharded.yaml"
mv "$work/shard-1-of-3" "$index/shard-1-of-3"
cp "$index/shard-2-of-3/meta.json" "$work/meta.json"
jq '.corpus_checksum = "0123456789abcdef"' "$work/meta.json" > "$index/shard-2-of-3/meta.json"
expect_one_line "a shard set of another corpus" 2 \
  "MPI rank 3: .*shard-2-of-3/meta.json: built for corpus_checksum \"0123456789abcdef\"" \
  mpi 4 "$ralm" run "$work/sharded.yaml"
cp "$work/meta.json" "$index/shard-2-of-3/meta.json"
# Rank 0's vectors no longer those the sets were cut from (its first row
# changed): its cache scores would disagree with the shards' search.
cp "$index/vectors.f32" "$work/vectors.f32"
printf '\x7f\x7f\x7f\x7f' | dd of="$index/vectors.f32" bs=1 seek=0 conv=notrunc status=none
expect_one_line "a shard set cut from another copy of the index" 2 \
  "MPI rank 1 holds other rows than this pipeline's .*a shard set cut from another copy" \
  mpi 4 "$ralm" run "$work/sharded.yaml"
cp "$work/vectors.f32" "$index/vectors.f32"
expect_one_line "filler with IVF over shards" 2 \
  "retriever.filler_vectors: shards over MPI ranks take filler with index: Flat only, not IVF4,Flat" \
  mpi 4 "$ralm" run "$work/ivf-sharded.yaml" --set retriever.filler_vectors=100
# Rank 0 failing before it greets the shard ranks stops them: no hang.
write_knnlm knn-big-k 3
sed -i 's/k: 8,/k: 100000,/' "$work/knn-big-k.yaml"
expect_one_line "rank 0's own error with shard ranks waiting" 2 "policy.k: 100000 neighbours asked" \
  mpi 4 "$ralm" run "$work/knn-big-k.yaml"

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
