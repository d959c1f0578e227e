#!/usr/bin/env bash
# `ralm serve` as a client meets it, through curl on a free loopback port:
# a completion equals `ralm ask --raw`'s text, streamed or not; stop strings;
# every bad input gets its status and a JSON error naming the field; 404, 405
# and 413; retrieval, models, the page and the metrics. Then, on a slow model
# with one request in the batch and one in the queue: 429 past the queue, the
# deadline, a client leaving mid-stream freeing its place, and SIGTERM with a
# request in flight exiting 0 within the grace period.
#   serve_test.sh RALM SOURCE_DIR
set -euo pipefail
ralm=$1
source_dir=$2
work=$(mktemp -d)
server_pid=
background=()
cleanup() {
  local p
  for p in "${background[@]}" $server_pid; do kill -9 "$p" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
unset RALMKIT_PLUGIN_PATH RALM_LOG_LEVEL

source "$(dirname "${BASH_SOURCE[0]}")/shell_checks.sh"
die() {
  echo "FAIL: $*" >&2
  [[ -f $work/server.err ]] && tail -n 20 "$work/server.err" >&2
  exit 1
}
source "$(dirname "${BASH_SOURCE[0]}")/serve_fixture.sh"

# post PATH BODY: prints the body, and the status on a last line of its own.
post() { curl -s -w '\n%{http_code}' -H 'Content-Type: application/json' --data-binary "$2" "$url$1"; }
status_of() { tail -n 1 <<< "$1"; }
body_of() { sed '$d' <<< "$1"; }

# expect_error NAME STATUS PARAM BODY [PATH]: the status, and a JSON error
# whose param is PARAM (or null) and whose message names it.
expect_error() {
  local name=$1 status=$2 param=$3 body=$4 path=${5:-/v1/completions}
  local r
  r=$(post "$path" "$body")
  check "$name: status $status" [ "$(status_of "$r")" = "$status" ]
  check "$name: param" [ "$(body_of "$r" | jq -r '.error.param')" = "$param" ]
  check "$name: type" [ "$(body_of "$r" | jq -r '.error.type')" = invalid_request_error ]
  if [[ $param != null ]]; then
    check "$name: message names $param" grep -q "$param" <<< "$(body_of "$r" | jq -r '.error.message')"
  fi
}

# The text of a stream's events, joined (jq reads the JSON after "data: ").
stream_text() { grep '^data: {' "$1" | sed 's/^data: //' | jq -j '.choices[0].text'; }
last_event() { grep '^data: {' "$1" | tail -n 1 | sed 's/^data: //'; }

write_tiny_pipeline 12

# --- A small model: the API's answers --------------------------------------
start_server "$work/fast.yaml" --max-body 4096
check "GET / serves the page" grep -qi '<html' <<< "$(curl -s "$url/")"
check "GET / is HTML" grep -qi 'content-type: text/html' <<< "$(curl -sI "$url/")"
check "/health is ok" [ "$(curl -s "$url/health" | jq -r .status)" = ok ]
models=$(curl -s "$url/v1/models")
check "/v1/models names the pipeline" [ "$(jq -r '.data[0].id' <<< "$models")" = tiny ]
check "/v1/models: retriever" [ "$(jq -r '.data[0].ralm.retriever' <<< "$models")" = bm25 ]
check "/v1/models: policy" [ "$(jq -r '.data[0].ralm.policy' <<< "$models")" = prepend ]
check "/v1/models: context" [ "$(jq -r '.data[0].ralm.context_length' <<< "$models")" = 512 ]
check "/v1/models: speculation" [ "$(jq -r '.data[0].ralm.speculation' <<< "$models")" = false ]

prompt="what is a compiler"
asked=$(cd "$work" && "$ralm" ask fast.yaml "$prompt" --raw --json | jq -r .text)
r=$(post /v1/completions "{\"prompt\": \"$prompt\"}")
check "completion: 200" [ "$(status_of "$r")" = 200 ]
whole=$(body_of "$r")
text=$(jq -r '.choices[0].text' <<< "$whole")
check "completion equals ralm ask --raw" [ "$text" = "$asked" ]
check "completion: object" [ "$(jq -r .object <<< "$whole")" = text_completion ]
check "completion: length" [ "$(jq -r '.choices[0].finish_reason' <<< "$whole")" = length ]
check "completion: usage" [ "$(jq -r '.usage.completion_tokens, .usage.prompt_tokens, .usage.total_tokens' <<< "$whole" | tr '\n' ' ')" = "12 19 31 " ]
check "completion: retrievals at 0, 4, 8" [ "$(jq -c '[.ralm.retrievals[].position]' <<< "$whole")" = "[0,4,8]" ]
check "completion: passages with text" [ "$(jq -r '.ralm.retrievals[0].passages[0].text | length > 0' <<< "$whole")" = true ]
check "completion: times" [ "$(jq -r '.ralm.times | has("queued") and has("prefill") and has("total")' <<< "$whole")" = true ]

curl -sN -D "$work/stream.headers" -H 'Content-Type: application/json' \
  --data-binary "{\"prompt\": \"$prompt\", \"stream\": true}" "$url/v1/completions" > "$work/stream"
check "stream: event-stream" grep -qi 'content-type: text/event-stream' "$work/stream.headers"
check "stream: same text as whole" [ "$(stream_text "$work/stream")" = "$text" ]
check "stream: ends with [DONE]" [ "$(tail -n 2 "$work/stream" | head -n 1)" = "data: [DONE]" ]
check "stream: last event has finish_reason" [ "$(last_event "$work/stream" | jq -r '.choices[0].finish_reason')" = length ]
check "stream: last event has usage and ralm" [ "$(last_event "$work/stream" | jq -r 'has("usage") and has("ralm")')" = true ]
check "stream: others have a null finish_reason" [ "$(grep '^data: {' "$work/stream" | sed '$d' | sed 's/^data: //' | jq -r '.choices[0].finish_reason' | sort -u)" = null ]

# A stop string: the first printable ASCII character of the text. The
# completion ends before it.
stop=$(jq -r '[.choices[0].text | explode[] | select(. > 32 and . < 127)][0] | [.] | implode' <<< "$whole")
expected=$(jq -r --arg s "$stop" '.choices[0].text | split($s)[0]' <<< "$whole")
body=$(jq -cn --arg p "$prompt" --arg s "$stop" '{prompt: $p, stop: [$s]}')
r=$(post /v1/completions "$body")
check "stop: text ends before it" [ "$(body_of "$r" | jq -r '.choices[0].text')" = "$expected" ]
check "stop: finish_reason stop" [ "$(body_of "$r" | jq -r '.choices[0].finish_reason')" = stop ]
curl -sN -H 'Content-Type: application/json' --data-binary "$(jq -c '. + {stream: true}' <<< "$body")" \
  "$url/v1/completions" > "$work/stream.stop"
check "stop: streamed the same" [ "$(stream_text "$work/stream.stop")" = "$expected" ]

expect_error "malformed JSON" 400 null '{"prompt": "x",'
check "malformed JSON: says where" grep -q 'column' <<< "$(post /v1/completions '{"prompt": "x",' | sed '$d' | jq -r .error.message)"
expect_error "not an object" 400 null '["x"]'
expect_error "unknown field" 400 max_token '{"prompt": "x", "max_token": 3}'
expect_error "wrong type" 400 max_tokens '{"prompt": "x", "max_tokens": "ten"}'
expect_error "beyond the context" 400 max_tokens '{"prompt": "x", "max_tokens": 600}'
expect_error "empty prompt" 400 prompt '{"prompt": ""}'
expect_error "no prompt" 400 prompt '{"max_tokens": 3}'
expect_error "temperature" 400 temperature '{"prompt": "x", "temperature": -1}'
expect_error "top_p" 400 top_p '{"prompt": "x", "top_p": 2}'
expect_error "stop strings" 400 stop '{"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}'
expect_error "stream" 400 stream '{"prompt": "x", "stream": 1}'
expect_error "model" 400 model '{"prompt": "x", "model": "gpt"}'
expect_error "retrieve: k" 400 k '{"query": "compiler", "k": 0}' /v1/retrieve
expect_error "retrieve: query" 400 query '{"k": 2}' /v1/retrieve
big=$(printf '{"prompt": "%05000d"}' 0)
r=$(post /v1/completions "$big")
check "413: body over --max-body" [ "$(status_of "$r")" = 413 ]
check "413: JSON error" grep -q 'max-body' <<< "$(body_of "$r" | jq -r .error.message)"
r=$(curl -s -w '\n%{http_code}' "$url/v1/nothing")
check "404: unknown path" [ "$(status_of "$r")" = 404 ]
check "404: JSON error" [ "$(body_of "$r" | jq -r .error.type)" = invalid_request_error ]
check "405: wrong method" [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/completions")" = 405 ]
check "405: Allow" grep -qi '^allow: POST' <<< "$(curl -s -D - -o /dev/null "$url/v1/completions")"
r=$(post /v1/completions "{\"prompt\": \"$prompt\", \"max_tokens\": 5}")
check "a bad request affects no other" [ "$(body_of "$r" | jq -r '.usage.completion_tokens')" = 5 ]

r=$(post /v1/retrieve '{"query": "compiler", "k": 2}')
check "retrieve: 200" [ "$(status_of "$r")" = 200 ]
check "retrieve: k passages" [ "$(body_of "$r" | jq '.passages | length')" = 2 ]
check "retrieve: passage text" [ "$(body_of "$r" | jq -r '.passages[0].text | length > 0')" = true ]
check "retrieve: the ask's first passage" [ "$(body_of "$(post /v1/retrieve "{\"query\": \"$prompt\", \"k\": 1}")" | jq -r '.passages[0].id')" = "$(jq -r '.ralm.retrievals[0].passages[0].id' <<< "$whole")" ]

# Several completions at once share the engine's steps (and its prefix
# cache) and each gets the text `ralm ask` gives it alone.
prompts=("what is a compiler" "the kernel schedules threads" "a router forwards packets" "lisp lists")
clients=()
for i in "${!prompts[@]}"; do
  curl -s -H 'Content-Type: application/json' \
    --data-binary "$(jq -cn --arg p "${prompts[$i]}" '{prompt: $p}')" "$url/v1/completions" > "$work/together.$i" &
  clients+=($!)
done
wait "${clients[@]}"
for i in "${!prompts[@]}"; do
  alone=$(cd "$work" && "$ralm" ask fast.yaml "${prompts[$i]}" --raw --json | jq -r .text)
  check "together: '${prompts[$i]}' as alone" [ "$(jq -r '.choices[0].text' "$work/together.$i")" = "$alone" ]
done

metrics=$(curl -s "$url/metrics")
check "metrics: requests by outcome" grep -q '^ralm_requests_total{outcome="finished"} ' <<< "$metrics"
check "metrics: completions by finish reason" grep -q '^ralm_completions_total{finish_reason="stop"} 2$' <<< "$metrics"
check "metrics: responses by status" grep -q '^ralm_http_responses_total{status="400"} ' <<< "$metrics"
check "metrics: latency histogram" grep -q '^ralm_request_duration_seconds_count 9$' <<< "$metrics"
check "metrics: queue gauges" grep -q '^ralm_requests_queued 0$' <<< "$metrics"
check "metrics: steps through the batcher" [ "$(sed -n 's/^ralm_batch_steps_total //p' <<< "$metrics")" -gt 0 ]
check "metrics: prefix cache hits" [ "$(sed -n 's/^ralm_prefix_cache_hits_total //p' <<< "$metrics")" -gt 0 ]
check "log: one line per request" grep -q 'POST /v1/completions 200 12 tokens' "$work/server.err"

kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=
check "SIGTERM when idle: exit 0" [ "$rc" = 0 ]

# --- A slow model, one request in the batch and one in the queue ------------
# Random weights large enough that 4000 tokens take well over --deadline
# (about 950 in 3 s at half that size on the project's 2-core machine).
cat > "$work/slow.yaml" <<'YAML'
name: slow
model: {plugin: llama, init: random, seed: 2, tokenizer: bytes, hidden_size: 512,
        intermediate_size: 1376, num_layers: 4, num_heads: 8, context_length: 4096}
policy: {plugin: none}
engine: {max_new_tokens: 4000, threads: 1}
YAML
start_server "$work/slow.yaml" --max-batch 1 --max-queue 1 --deadline 3 --grace 1
long='{"prompt": "once upon a time", "max_tokens": 4000, "stream": true}'
metric() { curl -s "$url/metrics" | sed -n "s/^$1 //p"; }
wait_for_metric() { # NAME VALUE: within 5 s
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(metric "$1") == "$2" ]] && return 0
    sleep 0.05
  done
  return 1
}
# stream_in_background NAME: a long stream into $work/NAME; its curl's pid in $stream_pid.
stream_in_background() {
  curl -sN -H 'Content-Type: application/json' --data-binary "$long" "$url/v1/completions" > "$work/$1" &
  stream_pid=$!
  background+=("$stream_pid")
}
wait_for_text() { # FILE: until an event has come, within 5 s
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q '^data: {' "$1" 2> /dev/null && return 0
    sleep 0.05
  done
  return 1
}
now() { date +%s.%N; }
seconds_since() { awk -v a="$(now)" -v b="$1" 'BEGIN { print a - b }'; }
less_than() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# 429: one running, one waiting, the next refused.
stream_in_background running
check "queue: the first runs" wait_for_metric ralm_requests_running 1
first=$stream_pid
stream_in_background queued
check "queue: the second waits" wait_for_metric ralm_requests_queued 1
second=$stream_pid
r=$(curl -s -D "$work/full.headers" -w '\n%{http_code}' -H 'Content-Type: application/json' \
  --data-binary '{"prompt": "x"}' "$url/v1/completions")
check "queue full: 429" [ "$(status_of "$r")" = 429 ]
check "queue full: Retry-After" grep -qi '^retry-after: 1' "$work/full.headers"
check "queue full: overloaded" [ "$(body_of "$r" | jq -r .error.type)" = overloaded ]
check "/health answers while the engine is busy" [ "$(curl -s "$url/health" | jq -r .status)" = ok ]
# Their clients leave: each request is cancelled at its next text.
kill "$first" "$second" 2> /dev/null || true
check "clients gone: the batch empties" wait_for_metric ralm_requests_running 0
check "clients gone: the queue empties" wait_for_metric ralm_requests_queued 0

# A client leaving mid-stream frees its place at once, long before the
# deadline would: the next request waits for nothing.
stream_in_background leaving
check "disconnect: the stream began" wait_for_text "$work/leaving"
kill "$stream_pid"
r=$(post /v1/completions '{"prompt": "x", "max_tokens": 8}')
check "disconnect: the next request runs" [ "$(body_of "$r" | jq -r '.choices[0].finish_reason')" = length ]
check "disconnect: without waiting for the deadline" less_than "$(body_of "$r" | jq -r .ralm.times.queued)" 1.5

# The deadline cancels a request that runs too long.
start=$(now)
r=$(post /v1/completions '{"prompt": "once upon a time", "max_tokens": 4000}')
elapsed=$(seconds_since "$start")
check "deadline: cancelled" [ "$(body_of "$r" | jq -r '.choices[0].finish_reason')" = cancelled ]
check "deadline: at 3 s" less_than 2.9 "$elapsed"
check "deadline: not much later" less_than "$elapsed" 6
check "deadline: the text so far" [ "$(body_of "$r" | jq -r '.usage.completion_tokens > 0')" = true ]

# SIGTERM with a request in flight: /health says stopping, new work is
# refused, the request is cancelled after the grace period, exit 0.
stream_in_background stopped
check "SIGTERM: the stream began" wait_for_text "$work/stopped"
start=$(now)
kill -TERM "$server_pid"
sleep 0.2
check "SIGTERM: /health stopping" [ "$(curl -s -w '%{http_code}' -o /dev/null "$url/health")" = 503 ]
check "SIGTERM: new work refused" [ "$(status_of "$(post /v1/completions '{"prompt": "x"}')")" = 503 ]
rc=0
wait "$server_pid" || rc=$?
elapsed=$(seconds_since "$start")
server_pid=
check "SIGTERM: exit 0" [ "$rc" = 0 ]
check "SIGTERM: within the grace period" less_than "$elapsed" 3
wait "$stream_pid" || true
check "SIGTERM: the stream ends cancelled" [ "$(last_event "$work/stopped" | jq -r '.choices[0].finish_reason')" = cancelled ]
check "SIGTERM: the stream ends with [DONE]" [ "$(tail -n 2 "$work/stopped" | head -n 1)" = "data: [DONE]" ]

echo "$passed passed, $failed failed"
((failed == 0))
