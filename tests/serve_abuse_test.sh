#!/usr/bin/env bash
# `ralm serve` abused from another process over loopback (tests/support/
# serve_abuse.cpp): thousands of requests mixing good ones (whole and
# streamed), malformed JSON, wrong types, oversized bodies, clients that
# trickle their bytes, clients that leave mid-stream, and bursts past the
# queue. The server must not crash, every good output must equal its solo
# run, every bad request must get a 4xx with a JSON error, overload must
# answer 429, and its resident memory must stay bounded (sampled every
# 0.2 s).
#   serve_abuse_test.sh RALM SERVE_ABUSE SOURCE_DIR
set -euo pipefail
ralm=$(realpath "$1")
abuse=$(realpath "$2")
source_dir=$(realpath "$3")
work=$(mktemp -d)
server_pid=
sampler_pid=
cleanup() {
  local p
  for p in $sampler_pid $server_pid; do kill -9 "$p" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
unset RALMKIT_PLUGIN_PATH RALM_LOG_LEVEL
die() {
  echo "FAIL: $*" >&2
  [[ -f $work/server.err ]] && tail -n 20 "$work/server.err" >&2
  exit 1
}

# Under ASan (scripts/test_sanitized.sh) the allocator keeps freed memory in
# quarantine (256 MB) and every thread a fake stack: the sanitizer's memory,
# not the server's. A 1 MB quarantine and real stacks leave the bounds below
# measuring the server's own growth.
if [[ -n ${ASAN_OPTIONS:-} ]]; then
  export ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=1:thread_local_quarantine_size_kb=64:detect_stack_use_after_return=0
fi
source "$(dirname "${BASH_SOURCE[0]}")/serve_fixture.sh"
write_tiny_pipeline 6
jq -r .prompt "$source_dir/pipelines/prompts/quickstart.jsonl" > "$work/prompts.txt"
start_server "$work/fast.yaml" --max-batch 4 --max-queue 4 --max-body 4096
port=${url##*:}
rss() { awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status"; }

# A first round warms the server (buffers, pools, the prefix cache), then the
# memory it holds is the baseline the abuse may not grow from.
"$abuse" 127.0.0.1 "$port" "$work/prompts.txt" --workers 4 --requests 40 --seed 7 > "$work/warm.json" ||
  die "the warm-up round failed: $(cat "$work/warm.json")"
baseline=$(rss)
(while kill -0 "$server_pid" 2> /dev/null; do rss >> "$work/rss"; sleep 0.2; done) &
sampler_pid=$!
"$abuse" 127.0.0.1 "$port" "$work/prompts.txt" --workers 4 --requests 200 --seed 11 --max-body 4096 \
  > "$work/abuse.json" || die "abuse: $(cat "$work/abuse.json")"
kill "$sampler_pid" 2> /dev/null || true
wait "$sampler_pid" 2> /dev/null || true
sampler_pid=
kill -0 "$server_pid" 2> /dev/null || die "the server died"
peak=$(sort -n "$work/rss" | tail -n 1)
final=$(rss)
summary=$(cat "$work/abuse.json")
echo "serve_abuse: $summary; RSS KiB baseline $baseline, peak $peak, final $final" >&2

# Every request is counted by its outcome (a burst's sixteen each, and the
# burst once more as such).
total=$(jq '[to_entries[] | select(.key != "seconds" and .key != "failure_examples") | .value] | add' <<< "$summary")
bursts=$(jq '."bursts of 16" // 0' <<< "$summary")
requests=$((total - bursts))
[[ $requests -ge 1000 ]] || die "only $requests requests were sent"
[[ $(jq '."429 (queue full)" // 0' <<< "$summary") -gt 0 ]] || die "no burst was answered 429"
[[ $(jq '."good, whole" // 0' <<< "$summary") -gt 0 && $(jq '."good, streamed" // 0' <<< "$summary") -gt 0 ]] ||
  die "no good request was served"
for what in "malformed JSON (400)" "wrong types (400)" "oversized body (413)" "slow clients" "left mid-stream"; do
  [[ $(jq --arg k "$what" '.[$k] // 0' <<< "$summary") -gt 0 ]] || die "no '$what' in the mix"
done
# Bounded: the peak within 64 MiB of the warmed-up server, and nothing kept.
[[ $peak -le $((baseline + 65536)) ]] || die "RSS grew from $baseline to a peak of $peak KiB"
[[ $final -le $((baseline + 32768)) ]] || die "RSS ended at $final KiB, from $baseline"
# SIGTERM still ends it cleanly after all that.
kill -TERM "$server_pid"
for ((i = 0; i < 200; i++)); do kill -0 "$server_pid" 2> /dev/null || break; sleep 0.05; done
kill -0 "$server_pid" 2> /dev/null && die "the server did not exit on SIGTERM"
wait "$server_pid" && status=0 || status=$?
server_pid=
[[ $status -eq 0 ]] || die "the server exited $status on SIGTERM"
echo "serve_abuse: $requests requests, nothing lost"
