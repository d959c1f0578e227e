#!/usr/bin/env bash
# The xapian retriever in pipelines, with `xapian-tcpsrv` servers this test
# starts on 127.0.0.1 and stops: `ralm index build` writes 3 shards; RaLMSpec
# (speculation, prefetch, asynchronous verification) over the remote shards
# gives exactly the outputs of its non-speculative baseline, with a batch's
# queries at once (parallel_queries, the default 8) or one after another,
# and the same as over the local shards; a bad host, a port with nothing listening and a shard
# count that does not match the index are one error line each (exit 2); a
# shard killed mid-run is one line naming it (exit 1), within the timeout.
#   xapian_pipeline_test.sh RALM SOURCE_DIR
set -euo pipefail
ralm=$1
source_dir=$2
work=$(mktemp -d)
servers=()
cleanup() {
  local p
  for p in "${servers[@]}"; do kill -9 -- "-$p" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
unset RALMKIT_PLUGIN_PATH RALM_LOG_LEVEL
source "$(dirname "${BASH_SOURCE[0]}")/shell_checks.sh"
die() {
  echo "FAIL: $*" >&2
  exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# serve_shard DB: a `xapian-tcpsrv` in its own process group on a free port;
# sets $port once a client can open the shard (bounded: 10 s).
serve_shard() {
  port=$(free_port)
  setsid xapian-tcpsrv --interface 127.0.0.1 --port "$port" "$1" > /dev/null 2>&1 &
  servers+=($!)
  disown
  local i
  for ((i = 0; i < 200; i++)); do
    if (echo > "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then return 0; fi
    sleep 0.05
  done
  die "xapian-tcpsrv $1 did not listen on $port within 10 s"
}

source "$(dirname "${BASH_SOURCE[0]}")/shard_fixture.sh"
write_corpus_and_prompts
# $1: name, $2: retriever settings, $3: extra sections
write_pipeline() {
  cat > "$work/$1.yaml" <<YAML
name: $1
model: $tiny_model
retriever: {plugin: xapian, corpus: corpus, shards: 3$2}
policy: {plugin: prepend}
engine: {stride: 2, max_passage_tokens: 24, max_new_tokens: 24, threads: 1${3:-}}
task: {kind: generate, prompts: prompts.jsonl, output: out/$1}
YAML
}
speculation=", prefetch: 8, async_verification: true}
scheduler: {plugin: fixed, steps_per_round: 3"

write_pipeline local ""
check "index build writes three shards" \
  "$ralm" index build "$work/local.yaml" > /dev/null 2>&1
check "three shard folders" test -d "$work/corpus/xapian/shard-002" -a ! -e "$work/corpus/xapian/shard-003"

serve_shard "$work/corpus/xapian/shard-000"
p0=$port
serve_shard "$work/corpus/xapian/shard-001"
p1=$port
serve_shard "$work/corpus/xapian/shard-002"
p2=$port
remote=", remote: [127.0.0.1:$p0, 127.0.0.1:$p1, 127.0.0.1:$p2], timeout_ms: 3000"
write_pipeline remote "$remote"
write_pipeline remote-ralmspec "$remote" "$speculation"
write_pipeline remote-ralmspec-sequential "$remote, parallel_queries: 1" "$speculation"

for p in local remote remote-ralmspec remote-ralmspec-sequential; do
  "$ralm" run "$work/$p.yaml" > "$work/$p.log" 2>&1 || die "ralm run $p failed: $(tail -n 3 "$work/$p.log")"
done
check "remote shards give the local shards' outputs" diff <(outputs local) <(outputs remote)
check "remote shards give the local shards' passages and scores" diff <(hits local) <(hits remote)
check "passages were retrieved" test "$(hits local | grep -c '"score"')" -eq 4
check "RaLMSpec over remote shards gives its baseline's outputs" diff <(outputs remote) <(outputs remote-ralmspec)
check "RaLMSpec verifying one query after another gives them too" \
  diff <(outputs remote) <(outputs remote-ralmspec-sequential)
check "the outputs are not empty" test "$(outputs remote | grep -c '"output_ids":\[[0-9]')" -eq 4

# expect_one_line NAME STATUS PATTERN PIPELINE: `ralm run` exits STATUS with
# one stderr line matching PATTERN.
expect_one_line() {
  local name=$1 status=$2 pattern=$3 rc=0 before=$failed
  "$ralm" run "$work/$4.yaml" > /dev/null 2> "$work/err" || rc=$?
  check "$name: exit $status" test "$rc" -eq "$status"
  check "$name: one line" test "$(wc -l < "$work/err")" -eq 1
  check "$name: says '$pattern'" grep -q -- "$pattern" "$work/err"
  ((failed == before)) || cat "$work/err" >&2
}
write_pipeline bad-host ", remote: [no-such-host.invalid:7001, 127.0.0.1:$p1, 127.0.0.1:$p2], connect_timeout_ms: 500"
expect_one_line "a bad host name" 2 "no-such-host.invalid:7001" bad-host
nobody=$(free_port)
write_pipeline nobody ", remote: [127.0.0.1:$p0, 127.0.0.1:$nobody, 127.0.0.1:$p2]"
expect_one_line "a port with nothing listening" 2 "127.0.0.1:$nobody" nobody
write_pipeline two ", remote: [127.0.0.1:$p0, 127.0.0.1:$p1]"
expect_one_line "two servers for three shards" 2 "retriever.remote: lists 2 servers for shards: 3" two
sed -i 's/shards: 3, remote: \[127.0.0.1:[0-9]*, 127.0.0.1:[0-9]*\]/shards: 2&/; s/shards: 2shards: 3/shards: 2/' "$work/two.yaml"
expect_one_line "a shard count the servers do not have" 2 "holds shard 0/3, but it is listed as shard 0/2" two
write_pipeline local-two ""
sed -i 's/shards: 3/shards: 2/' "$work/local-two.yaml"
expect_one_line "a shard count the index does not have" 2 "retriever.shards: 2, but the index" local-two

# A shard killed while the pipeline runs: the run stops with one line naming
# it, well within the timeout (the model is slowed so the kill lands mid-run).
write_pipeline dies "$remote" ", max_new_tokens: 400"
sed -i 's/max_new_tokens: 24, //' "$work/dies.yaml"
for i in $(seq 1 40); do echo "{\"id\": \"q$i\", \"prompt\": \"Lisp programs $i\"}"; done > "$work/prompts-many.jsonl"
sed -i 's/prompts: prompts.jsonl/prompts: prompts-many.jsonl/' "$work/dies.yaml"
rc=0
before=$failed
"$ralm" run "$work/dies.yaml" > /dev/null 2> "$work/err" &
run_pid=$!
sleep 1
kill -9 -- "-${servers[1]}"
started=$SECONDS
wait "$run_pid" || rc=$?
check "a shard killed mid-run: exit 1" test "$rc" -eq 1
check "a shard killed mid-run: names it" grep -q "127.0.0.1:$p1" "$work/err"
check "a shard killed mid-run: one line" test "$(wc -l < "$work/err")" -eq 1
check "a shard killed mid-run: ends within the timeout" test $((SECONDS - started)) -le 10
((failed == before)) || cat "$work/err" >&2

echo "$passed passed, $failed failed"
((failed == 0))
