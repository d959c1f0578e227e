#!/usr/bin/env bash
# The page `ralm serve` serves at /, in headless Chromium: serves a small
# pipeline (the shipped model, BM25 over the fixture corpus, speculation), has
# the page ask a question through ?q=...&auto=1, and checks in its DOM once the
# answer has streamed in: #status says done, #answer has text, #retrievals
# holds a .retrieval, #phases a bar, the served model is named; and that the
# page logged no error (console.error, an uncaught exception, a failed load).
#   serve_page_test.sh BUILD_DIR [SOURCE_DIR]
# Keeps its screenshot, DOM, console and logs in BUILD_DIR/tests/serve_page/.
set -euo pipefail
build_dir=$(cd "$1" && pwd)
source_dir=$(cd "${2:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)
ralm=$build_dir/bin/ralm
work=$build_dir/tests/serve_page

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

command -v chromium > /dev/null || fail "no chromium to load the page in: apt-get install chromium"
command -v python3 > /dev/null || fail "no python3 to drive Chromium: apt-get install python3"
command -v curl > /dev/null || fail "no curl to ask the server for /health: apt-get install curl"
[[ -x $ralm ]] || fail "no $ralm: build the project first"

server_pid=""
browser_pid=""
stop() {
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2> /dev/null || return 0
  kill "$pid" 2> /dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
}
# The browser's driver closes Chromium when it is stopped; the server finishes what it runs.
cleanup() {
  stop "$browser_pid"
  stop "$server_pid"
}
trap cleanup EXIT

rm -rf "$work"
mkdir -p "$work"
# The environment must not bring other plugins or another log level in. A
# command, not a function: started in the background, its pid is the server's.
run_ralm=(env -u RALMKIT_PLUGIN_PATH -u RALM_LOG_LEVEL "$ralm")

"${run_ralm[@]}" corpus build --source "jsonl:$source_dir/tests/fixtures/corpus/docs.jsonl" --words 6 \
  --out "$work/corpus" > "$work/corpus.log" 2>&1 || { cat "$work/corpus.log"; fail "the fixture corpus does not build"; }
cat > "$work/serve-page.yaml" << YAML
name: serve-page
description: the shipped model, BM25 over the fixture corpus, speculative retrieval
model: {plugin: llama, path: $source_dir/models/tiny}
retriever: {plugin: bm25, corpus: corpus}
policy: {plugin: prepend}
scheduler: {plugin: fixed, steps_per_round: 2}
engine: {stride: 4, max_passage_tokens: 32, max_new_tokens: 16, prefetch: 4, threads: 1}
YAML

# A port nobody listens on; should another process take it before the server
# binds, the server exits and the next try takes another. A server that runs
# but does not answer /health within 15 s gets no second try.
port=""
for try in 1 2 3; do
  candidate=$((20000 + RANDOM % 40000))
  (exec 3<> "/dev/tcp/127.0.0.1/$candidate") 2> /dev/null && continue
  "${run_ralm[@]}" serve "$work/serve-page.yaml" --port "$candidate" > "$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 150); do
    if curl -sf --max-time 1 "http://127.0.0.1:$candidate/health" > /dev/null 2>&1; then
      port=$candidate
      break
    fi
    kill -0 "$server_pid" 2> /dev/null || break
    sleep 0.1
  done
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2> /dev/null && fail "ralm serve did not answer GET /health within 15 s; its log: $work/server.log"
  echo "ralm serve on port $candidate exited (try $try):" >&2
  tail -5 "$work/server.log" >&2
  server_pid=""
done
[[ -n $port ]] || fail "ralm serve never answered GET /health; its log: $work/server.log"

# What the test reads from the page once it settles.
status='document.getElementById("status").textContent'
report='[
  "status=" + document.getElementById("status").textContent,
  "answer_chars=" + document.getElementById("answer").textContent.trim().length,
  "retrievals=" + document.querySelectorAll("#retrievals .retrieval").length,
  "phase_segments=" + document.querySelectorAll("#phases .bar > span").length,
  "model=" + (document.querySelector("#model strong") || {textContent: ""}).textContent,
  "error=" + document.getElementById("error").textContent,
].join("\n")'
url="http://127.0.0.1:$port/?q=What%20is%20Lisp%3F&auto=1"
set +e
python3 "$source_dir/tests/support/headless_page.py" --chromium "$(command -v chromium)" --url "$url" \
  --out "$work" --timeout 20 --until "[\"done\", \"error\", \"stopped\"].includes($status)" --report "$report" &
browser_pid=$!
wait "$browser_pid"
probe=$?
set -e
browser_pid=""
echo "screenshot: $work/screenshot.png (DOM: dom.html, console: console.txt, logs: chromium.log, server.log)"
((probe != 2)) || fail "Chromium could not be driven; its log: $work/chromium.log"
cat "$work/report.txt"
value() { sed -n "s/^$1=//p" "$work/report.txt"; }

[[ $(value status) == "done" ]] || fail "#status is '$(value status)', not done (page error: '$(value error)')"
(($(value answer_chars) > 0)) || fail "#answer has no text"
(($(value retrievals) >= 1)) || fail "#retrievals holds no .retrieval, yet the pipeline retrieves"
(($(value phase_segments) >= 1)) || fail "#phases shows no bar"
[[ -n $(value model) ]] || fail "the page names no model (GET /v1/models)"
if grep -q '^error ' "$work/console.txt"; then
  grep '^error ' "$work/console.txt" >&2
  fail "the page logged the errors above"
fi
echo "serve page: answered, $(value retrievals) retrieval(s) shown, no console error"
