#!/usr/bin/env bash
# A sweep killed with SIGKILL mid-way resumes without running a finished run
# again: runs a full sweep for reference, then the same sweep in another
# folder, killed once its journal holds a few runs; run again, it must keep
# every journal line written before the kill as it was, run only the rest, and
# end with the reference's set of combinations x repeats in results.csv.
#   sweep_resume_test.sh BUILD_DIR [SOURCE_DIR]
set -euo pipefail
build_dir=$(cd "$1" && pwd)
source_dir=$(cd "${2:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)
source "$source_dir/tests/shell_checks.sh"
ralm=(env -u RALMKIT_PLUGIN_PATH -u RALM_LOG_LEVEL "$build_dir/bin/ralm")
work=$(mktemp -d)
sweep_pid=""
cleanup() {
  [[ -n $sweep_pid ]] && kill -9 "$sweep_pid" 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

"${ralm[@]}" corpus build --source "jsonl:$source_dir/tests/fixtures/corpus/docs.jsonl" --words 6 --out corpus \
  > corpus.log 2>&1 || { cat corpus.log; exit 1; }
for i in 1 2 3 4 5 6; do echo "{\"id\": \"p$i\", \"prompt\": \"Lisp is a language number $i\"}"; done > prompts.jsonl
# Long enough outputs that a run takes a while, so the kill lands mid-sweep.
cat > base.yaml << YAML
name: base
model: {plugin: llama, init: random, seed: 1, tokenizer: bytes, hidden_size: 64, intermediate_size: 128,
        num_layers: 2, num_heads: 4, num_kv_heads: 2, context_length: 1024}
retriever: {plugin: bm25, corpus: corpus}
policy: {plugin: prepend}
engine: {stride: 2, max_passage_tokens: 64, max_new_tokens: 96, threads: 1}
task: {kind: generate, prompts: prompts.jsonl}
YAML
grid=(--grid engine.stride=2,4,8 --grid engine.query_tokens=8,16 --repeat 3)

"${ralm[@]}" sweep base.yaml "${grid[@]}" --out full > full.log 2>&1 || { cat full.log; exit 1; }
total=$(($(wc -l < full/journal.jsonl) - 1))
check "the full sweep journals 3 x 2 combinations x 3 repeats" test "$total" -eq 18

"${ralm[@]}" sweep base.yaml "${grid[@]}" --out killed > killed.log 2>&1 &
sweep_pid=$!
for _ in $(seq 600); do
  [[ -f killed/journal.jsonl ]] && (($(wc -l < killed/journal.jsonl) >= 4)) && break
  sleep 0.02
done
kill -9 "$sweep_pid"
wait "$sweep_pid" 2> /dev/null || true
sweep_pid=""
cp killed/journal.jsonl before.jsonl
done_before=$(($(wc -l < before.jsonl) - 1))
check "the kill landed mid-sweep ($done_before of $total runs done)" test "$done_before" -ge 3 -a "$done_before" -lt "$total"
check "every line of the killed journal is whole JSON" \
  python3 -c "import json; [json.loads(l) for l in open('before.jsonl')]"

"${ralm[@]}" sweep base.yaml "${grid[@]}" --out killed > resumed.log 2>&1 || { cat resumed.log; exit 1; }
check "the rerun says it resumes" grep -q "resuming .*: $done_before of $total runs already done" resumed.log
check "the lines written before the kill are kept as they were" \
  cmp -s before.jsonl <(head -n "$((done_before + 1))" killed/journal.jsonl)
check "the journal ends with every run once" test "$(($(wc -l < killed/journal.jsonl) - 1))" -eq "$total"
pairs() { python3 -c "
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])][1:]
keys = [(l['combination'], l['repeat']) for l in lines]
assert len(keys) == len(set(keys)), 'a run was repeated'
print(sorted(keys))" "$1"; }
check "no run was repeated, and the runs are the full sweep's" \
  test "$(pairs killed/journal.jsonl)" = "$(pairs full/journal.jsonl)"
settings() { cut -d, -f1-3 "$1" | sort; }
check "results.csv has the full sweep's combinations x repeats" test "$(settings killed/results.csv)" = "$(settings full/results.csv)"
check "results.csv has a line per run" test "$(($(wc -l < killed/results.csv) - 1))" -eq "$total"
echo "$passed passed, $failed failed"
((failed == 0))
