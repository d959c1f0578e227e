#!/usr/bin/env bash
# Regenerates the reports committed in docs/reports/ (HTML with the charts
# inline, and PNGs of them) and the quick start's picture in the README:
#   scripts/ablation_reports.sh quickstart   docs/reports/quickstart-speedup.png
#   scripts/ablation_reports.sh ralmspec     docs/reports/ralmspec.html (+ PNGs)
#   scripts/ablation_reports.sh knnlm        docs/reports/knnlm.html (+ PNGs)
# No argument: all three. Each ablation is a bounded `ralm sweep` (2 prompts,
# 3 interleaved repeats) whose folder under out/ keeps its journal, so an
# interrupted one resumes. Timings swing with the machine's load: run it on a
# quiet machine and note the CPU (the report names it) and the load.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ralm_setup
ralm="$ralm_build/bin/ralm"
cd "$ralm_root"
reports=docs/reports
mkdir -p "$reports"
say_load() { ralm_say "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }

quickstart() {
  scripts/quickstart.sh
  cp out/quickstart/report-speedup.png "$reports/quickstart-speedup.png"
}

# RaLMSpec's ablation (the paper's P, S, A and fixed strides) with exact dense
# search, where a search is cheap (the default corpus alone) and where it
# dominates (the scan reading 2,000,000 vectors).
ralmspec() {
  local P=pipelines/ralmspec
  [[ -f data/corpus/manifest.json ]] || "$ralm" corpus build --source foldoc --source jargon --out data/corpus
  "$ralm" index build $P/dense-baseline.yaml
  say_load
  "$ralm" sweep $P/dense-baseline.yaml $P/dense-spec.yaml $P/dense-spec-p.yaml $P/dense-spec-s.yaml \
    $P/dense-spec-a.yaml $P/dense-spec-psa.yaml $P/dense-stride8.yaml \
    --grid retriever.filler_vectors=0,1981598 --set engine.threads=1 --limit 2 --repeat 3 \
    --out out/ablation-ralmspec --html "$reports/ralmspec.html"
  say_load
}

# Speculative kNN-LM's ablation over the quick start's exact datastore (6,000
# passages, 594,070 entries): fixed rounds and OS3, synchronous and
# asynchronous verification, on one thread and on two.
knnlm() {
  local K=pipelines/knnlm
  "$ralm" datastore build pipelines/quickstart-knnlm.yaml
  say_load
  "$ralm" sweep $K/generate-knnlm-exact.yaml $K/generate-knnlm-exact-spec.yaml \
    $K/generate-knnlm-exact-spec-s.yaml $K/generate-knnlm-exact-spec-sa.yaml $K/generate-knnlm-exact-stride8.yaml \
    --grid engine.threads=1,2 --set policy.max_passages=6000 --set policy.exclude_validation_permille=0 \
    --limit 2 --repeat 3 --out out/ablation-knnlm --html "$reports/knnlm.html"
  say_load
}

for target in "${@:-quickstart ralmspec knnlm}"; do
  for t in $target; do
    case $t in
      quickstart | ralmspec | knnlm) "$t" ;;
      *) ralm_say "unknown report '$t': quickstart, ralmspec or knnlm"; exit 2 ;;
    esac
  done
done
