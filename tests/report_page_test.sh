#!/usr/bin/env bash
# The HTML report of a small sweep, in headless Chromium: a speculative and a
# plain pipeline swept over two strides, then `ralm sweep --html`; checks in
# the page's DOM that the results table has a row per combination, every chart
# is there (speed-up, phases, acceptance: three inline SVGs, each with its
# bars drawn), nothing is loaded from elsewhere, and that the page logged no
# error; and that the charts' PNGs were written beside it.
#   report_page_test.sh BUILD_DIR [SOURCE_DIR]
# Keeps its screenshot, DOM, console and the report in BUILD_DIR/tests/report_page/.
set -euo pipefail
build_dir=$(cd "$1" && pwd)
source_dir=$(cd "${2:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)
source "$source_dir/tests/shell_checks.sh"
work=$build_dir/tests/report_page
ralm=(env -u RALMKIT_PLUGIN_PATH -u RALM_LOG_LEVEL "$build_dir/bin/ralm")
command -v chromium > /dev/null || { echo "FAIL: no chromium: apt-get install chromium" >&2; exit 1; }
command -v gnuplot > /dev/null || { echo "FAIL: no gnuplot: apt-get install gnuplot-nox" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
cd "$work"
"${ralm[@]}" corpus build --source "jsonl:$source_dir/tests/fixtures/corpus/docs.jsonl" --words 6 --out corpus \
  > corpus.log 2>&1 || { cat corpus.log; exit 1; }
echo '{"id": "a", "prompt": "Lisp is"}' > prompts.jsonl
cat > base.yaml << YAML
name: base
model: {plugin: llama, init: random, seed: 1, tokenizer: bytes, hidden_size: 32, intermediate_size: 64,
        num_layers: 2, num_heads: 4, num_kv_heads: 2, context_length: 512}
retriever: {plugin: bm25, corpus: corpus}
policy: {plugin: prepend}
engine: {stride: 4, max_passage_tokens: 32, max_new_tokens: 16, threads: 1}
task: {kind: generate, prompts: prompts.jsonl}
YAML
printf 'extends: base.yaml\nname: spec\nscheduler: {plugin: fixed, steps_per_round: 2}\ncompare: {baseline: base}\n' \
  > spec.yaml
"${ralm[@]}" sweep base.yaml spec.yaml --grid engine.stride=2,4 --repeat 2 --out sweep --html report.html \
  > sweep.log 2>&1 || { cat sweep.log; exit 1; }
for png in speedup phases acceptance; do
  check "report-$png.png is written beside the report" test -s "report-$png.png"
done

report='[
  "rows=" + document.querySelectorAll("#results tbody tr").length,
  "charts=" + document.querySelectorAll("figure.chart > svg").length,
  "speedup_svg=" + document.querySelectorAll("#chart-speedup svg").length,
  "phases_svg=" + document.querySelectorAll("#chart-phases svg").length,
  "acceptance_svg=" + document.querySelectorAll("#chart-acceptance svg").length,
  "drawn=" + Array.from(document.querySelectorAll("figure.chart > svg")).filter(s => s.getBBox().width > 100 && s.querySelectorAll("path").length > 5).length,
  "external=" + document.querySelectorAll("[src], link[href], script").length,
].join("\n")'
set +e
python3 "$source_dir/tests/support/headless_page.py" --chromium "$(command -v chromium)" \
  --url "file://$work/report.html" --out "$work" --timeout 20 --size 1200,2400 \
  --until 'document.readyState === "complete"' --report "$report"
probe=$?
set -e
echo "screenshot: $work/screenshot.png (DOM: dom.html, console: console.txt)"
check "Chromium loaded the page" test "$probe" -eq 0
cat "$work/report.txt"
value() { sed -n "s/^$1=//p" "$work/report.txt"; }
check "the table has a row per combination" test "$(value rows)" = 4
check "three charts are inlined" test "$(value charts)" = 3
check "the speed-up chart is there" test "$(value speedup_svg)" = 1
check "the phases chart is there" test "$(value phases_svg)" = 1
check "the acceptance chart is there" test "$(value acceptance_svg)" = 1
check "every chart has its bars drawn" test "$(value drawn)" = 3
check "nothing is loaded from elsewhere" test "$(value external)" = 0
check "the page logged no error" bash -c "! grep '^error ' '$work/console.txt'"
echo "$passed passed, $failed failed"
((failed == 0))
