#!/usr/bin/env bash
# Killed anywhere, nothing lost: each command that writes a folder or a file
# (`corpus build`, `index build` of BM25, a dense index and one in shards, `datastore build`,
# `model quantize` and `convert`, `train`) is SIGKILLed at random moments of
# its run, then run again to completion. The output must equal an
# uninterrupted run's byte for byte, what the killed run left at an output's
# own name must already be complete (a kill after the rename is fine, a
# half-written output that looks done is not), and no DIR.partial-PID,
# FILE.tmp-PID or DIR.old-PID may be left anywhere once the rerun is done.
#   kill_test.sh RALM SOURCE_DIR
# The seed of the kill moments is printed; KILL_TEST_SEED=N repeats them.
set -euo pipefail
ralm=$1
source_dir=$2
work=$(mktemp -d)
victim=
cleanup() {
  [[ -n $victim ]] && kill -9 "$victim" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT
unset RALMKIT_PLUGIN_PATH RALM_LOG_LEVEL

source "$(dirname "${BASH_SOURCE[0]}")/shell_checks.sh"
die() {
  echo "FAIL: $*" >&2
  exit 1
}

seed=${KILL_TEST_SEED:-$RANDOM}
RANDOM=$seed
echo "kill moments seeded with $seed (KILL_TEST_SEED=$seed repeats them)"
kills=6 # per command: half of them afresh, half replacing a whole output

now() { date +%s.%N; }
seconds_since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.3f", a - b }'; }

# --- Inputs, shared by every case at the same absolute paths -----------------
# The fixture documents, repeated with new ids, so that each build lasts long
# enough (tenths of a second) for a kill to land inside its writing and not
# only in its start-up.
inputs=$work/inputs
mkdir -p "$inputs"
fixture=$source_dir/tests/fixtures/corpus/docs.jsonl
jq -c --argjson n 12000 --slurp \
  '. as $d | range($n) | . as $i | $d[$i % ($d | length)] | .id += "-\($i)" | .text += " copy \($i)"' \
  "$fixture" > "$inputs/docs.jsonl" || die "could not repeat $fixture"
# Fewer for the builds that do more per passage (the dense encoder, the
# model's forward passes).
head -n 3000 "$inputs/docs.jsonl" > "$inputs/some.jsonl"
head -n 400 "$inputs/docs.jsonl" > "$inputs/few.jsonl"
for size in docs some few; do
  "$ralm" corpus build --source "jsonl:$inputs/$size.jsonl" --words 6 --out "$inputs/$size" > /dev/null \
    || die "corpus build of the inputs failed"
done

# --- The cases -----------------------------------------------------------------
# Each case, run inside its own folder, is setup_NAME (its inputs),
# command_NAME (sets cmd to the command), outputs_NAME (the paths it writes,
# relative to the folder), rerun_flag_NAME, what a rerun adds where an
# output already stands (nothing for the index builds, which use what they
# find and build what is missing), and force_flag_NAME, the flag that
# replaces a whole output (none for train).

setup_corpus() { :; }
command_corpus() {
  cmd=("$ralm" corpus build --source "jsonl:$inputs/docs.jsonl"
    --source "tsv:$source_dir/tests/fixtures/corpus/passages.tsv" --words 6 --out corpus)
}
outputs_corpus() { echo corpus; }
rerun_flag_corpus=--force
force_flag_corpus=--force

setup_bm25() {
  cp -r "$inputs/docs" corpus
  echo "retriever: {plugin: bm25, corpus: corpus}" > bm25.yaml
}
command_bm25() { cmd=("$ralm" index build bm25.yaml); }
outputs_bm25() { echo corpus/bm25; }
rerun_flag_bm25= # an existing one is used as it stands, so it had better be whole
force_flag_bm25=--force

setup_dense() {
  cp -r "$inputs/some" corpus
  echo "retriever: {plugin: dense, corpus: corpus, dim: 8, min_df: 1, index: HNSW8, threads: 1}" > dense.yaml
}
command_dense() { cmd=("$ralm" index build dense.yaml); }
# The encoder and vectors, then the FAISS index, each written on its own (an
# encoder's folder holds one index per factory string).
outputs_dense() { echo corpus/dense-lsa8 corpus/dense-lsa8/faiss-HNSW8-ip; }
rerun_flag_dense= # an existing one is used as it stands, so it had better be whole
force_flag_dense=--force

# An IVF index in 2 shard file sets (`--shards 2`): the index, then each
# shard's rows and its IVF holding them, each written on its own.
setup_dense_shards() {
  cp -r "$inputs/some" corpus
  echo "retriever: {plugin: dense, corpus: corpus, dim: 8, min_df: 1, index: \"IVF4,Flat\", threads: 1}" > dense.yaml
}
command_dense_shards() { cmd=("$ralm" index build dense.yaml --shards 2); }
outputs_dense_shards() {
  local d=corpus/dense-lsa8 s
  echo $d $d/faiss-IVF4_Flat-ip
  for s in 0 1; do echo $d/shard-$s-of-2 $d/shard-$s-of-2/faiss-IVF4_Flat-ip; done
}
rerun_flag_dense_shards= # an existing one is used as it stands, so it had better be whole
force_flag_dense_shards=--force

setup_datastore() {
  cp -r "$inputs/few" corpus
  cat > knnlm.yaml << 'YAML'
model: {plugin: llama, init: random, seed: 1, tokenizer: bytes, hidden_size: 32,
        intermediate_size: 64, num_layers: 2, num_heads: 4, num_kv_heads: 2, context_length: 512}
policy: {plugin: knnlm, corpus: corpus, datastore: ds, k: 8, lambda: 0.5, build_if_missing: false}
engine: {threads: 1}
YAML
}
command_datastore() { cmd=("$ralm" datastore build knnlm.yaml); }
outputs_datastore() { echo ds; }
rerun_flag_datastore= # an existing one is used as it stands, so it had better be whole
force_flag_datastore=--force

setup_quantize() { :; }
command_quantize() { cmd=("$ralm" model quantize "$source_dir/models/tiny" --type q8_0 --threads 1 --out tiny.gguf); }
outputs_quantize() { echo tiny.gguf; }
rerun_flag_quantize=--force
force_flag_quantize=--force

setup_convert() { :; }
command_convert() { cmd=("$ralm" model convert "$source_dir/models/tiny" --type f16 --threads 1 --out tiny.gguf); }
outputs_convert() { echo tiny.gguf; }
rerun_flag_convert=--force
force_flag_convert=--force

# The trainer test's tiny byte model, long enough for several checkpoints.
# Its checkpoint is a resumable state, not an output: a rerun resumes from it
# and must end at the uninterrupted run's model and checkpoint.
setup_train() {
  cp -r "$inputs/few" corpus
  cat > train.yaml << 'YAML'
engine: {threads: 1}
trainer: {plugin: llama, corpus: corpus, out: trained, vocab_size: 259, hidden_size: 32,
          intermediate_size: 64, num_layers: 2, num_heads: 4, num_kv_heads: 2, seq_len: 32,
          batch_size: 4, grad_accum: 2, steps: 120, lr: 0.01, min_lr: 0.001, warmup: 5,
          eval_every: 40, eval_windows: 8, validation_permille: 100, checkpoint_every: 10}
YAML
}
command_train() { cmd=("$ralm" train train.yaml); }
outputs_train() { echo trained/model trained/checkpoint; }
rerun_flag_train=--resume
force_flag_train=

# What a killed writer may leave: names the next writer must remove.
leftovers() { find "$1" \( -name '*.partial-*' -o -name '*.tmp-*' -o -name '*.old-*' \) -print; }

# exercise NAME: the reference run into ref/, then $kills killed runs into
# killed.K/, each followed by a rerun, compared with ref/. Every other killed
# run (where the command has a flag for it) replaces a complete output, a
# copy of the reference's, so that a kill can land in the replacing too.
exercise() {
  local name=$1
  local ref=$work/$name/ref
  mkdir -p "$ref"
  (cd "$ref" && "setup_$name") || die "$name: setup failed"
  local cmd
  "command_$name"
  local start
  start=$(now)
  (cd "$ref" && "${cmd[@]}" > ../ref.out 2>&1) || die "$name: the reference run failed: $(tail -n 3 "$work/$name/ref.out")"
  local duration
  duration=$(seconds_since "$start")
  check "$name: the reference run leaves nothing beside its output" [ -z "$(leftovers "$ref")" ]
  local flag_var=rerun_flag_$name force_var=force_flag_$name
  local landed=0 mid_write=0 k
  for ((k = 0; k < kills; k++)); do
    # Kill k at a random point of the k-th of $kills equal parts of the
    # reference run (its duration includes the start-up, so the earliest
    # land before any writing; the last may come after the end).
    local delay
    delay=$(awk -v d="$duration" -v k="$k" -v n="$kills" -v r="$RANDOM" 'BEGIN { printf "%.3f", d * (k + r / 32768) / n }')
    local dir=$work/$name/killed.$k
    local killed=("${cmd[@]}") mode=afresh
    mkdir -p "$dir"
    if ((k % 2 == 1)) && [[ -n ${!force_var} ]]; then
      cp -a "$ref/." "$dir"
      killed+=("${!force_var}")
      mode="${!force_var} over a whole output"
    else
      (cd "$dir" && "setup_$name") || die "$name: setup failed"
    fi
    # exec: the kill must reach ralm itself, not a shell waiting for it.
    (cd "$dir" && exec "${killed[@]}" > "$dir.killed.out" 2>&1) &
    victim=$!
    sleep "$delay"
    kill -KILL "$victim" 2> /dev/null || true
    local rc=0
    wait "$victim" 2> /dev/null || rc=$?
    victim=
    if ((rc == 128 + 9)); then
      landed=$((landed + 1))
    else
      check "$name: kill $k came after the command ended, successfully" [ "$rc" = 0 ]
    fi
    local what="$name: kill $k ($mode) at ${delay}s of ${duration}s"
    [[ -n $(leftovers "$dir") ]] && mid_write=$((mid_write + 1))

    # What stands at an output's own name is complete: all of it but what
    # the next writer removes and the outputs written on their own inside it.
    local out other
    for out in $("outputs_$name"); do
      [[ $name == train && $out == trained/checkpoint ]] && continue # resumable state, checked after the rerun
      [[ -e $dir/$out ]] || continue
      local excludes=(-x '*.partial-*' -x '*.tmp-*' -x '*.old-*')
      for other in $("outputs_$name"); do
        [[ $other == "$out"/* ]] && excludes+=(-x "${other##*/}")
      done
      check "$what: $out, in place after the kill, is complete" diff -r "${excludes[@]}" "$ref/$out" "$dir/$out"
    done

    # The rerun: the plain command where it would write afresh, the rerun
    # flag where something already stands at an output's name.
    local args=()
    for out in $("outputs_$name"); do
      if [[ -e $dir/$out ]]; then read -ra args <<< "${!flag_var}"; fi
    done
    if ! (cd "$dir" && "${cmd[@]}" "${args[@]}" > "$dir.rerun.out" 2>&1); then
      check "$what: the rerun ${args[*]} succeeds" false
      tail -n 3 "$dir.rerun.out" >&2
      continue
    fi
    check "$what: the rerun equals the uninterrupted run" diff -r "$ref" "$dir"
    local left
    left=$(leftovers "$dir")
    check "$what: nothing left beside the outputs${left:+: $left}" [ -z "$left" ]
  done
  echo "$name: reference ${duration}s; $landed of $kills kills landed before the command ended," \
    "$mid_write in the middle of a write (something left beside an output)"
}

for name in corpus bm25 dense dense_shards datastore quantize convert train; do
  exercise "$name"
done

echo "$passed passed, $failed failed"
((failed == 0))
