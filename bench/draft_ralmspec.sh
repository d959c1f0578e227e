#!/usr/bin/env bash
# RaLMSpec with a draft retriever (engine.draft, issue 21) against RaLMSpec
# from its cache alone and against the baseline, In-Context RALM with exact
# dense retrieval over the default corpus plus FILLER vectors that every
# search scans (pipelines/ralmspec/: dense-baseline, dense-spec-psa and
# dense-spec-psa-draft, the last also with engine.draft=only), one process.
#   bench/draft_ralmspec.sh [LIMIT=3] [FILLER=1981598] [ROUNDS=2] [CORPUS=data/corpus]
# (CORPUS: the quick start's `ralm corpus build --source foldoc --source
# jargon` store, or a copy of it elsewhere; its exact index is built there
# if missing.)
# Builds the draft's IVF256,PQ32np index afresh into build/draft-index (its
# own folder: the passages are encoded again) and prints what that took;
# then ROUNDS rounds of one `ralm compare` of the four, in turn, and per
# round each pipeline's wall time, speed-up over the baseline, acceptance
# split by source (summary.json), and the baseline's Amdahl bound
# (total / (total - retrieval)).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
limit=${1:-3}
filler=${2:-1981598}
rounds=${3:-2}
corpus=$(realpath "${4:-$root/data/corpus}")
P=$root/pipelines/ralmspec
ralm=$root/build/bin/ralm
draft_dir=$root/build/draft-index
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The exact index: built only if missing (the quick start's, usually).
"$ralm" index build "$P/dense-baseline.yaml" --set retriever.corpus="$corpus" > /dev/null
cat > "$work/dense-spec-psa-draft.yaml" << YAML
extends: $P/dense-spec-psa-draft.yaml
name: dense-spec-psa-draft
draft_retriever:
  corpus: $corpus
  index_dir: $draft_dir
YAML
cat > "$work/dense-spec-psa-draft-only.yaml" << YAML
extends: dense-spec-psa-draft.yaml
name: dense-spec-psa-draft-only
engine:
  draft: only
YAML
rm -rf "$draft_dir"
start=$(date +%s.%N)
"$ralm" index build "$work/dense-spec-psa-draft.yaml" --set engine.threads=1 --set retriever.corpus="$corpus" \
  > /dev/null
echo "draft index (lsa vectors + IVF256,PQ32np, one thread): $(echo "$(date +%s.%N) - $start" | bc) s," \
  "$(du -sh "$draft_dir"/faiss-* | cut -f1) of codes and lists"
settings=(--set retriever.corpus="$corpus" --set engine.threads=1 --set retriever.threads=1 --set retriever.filler_vectors="$filler"
  --limit "$limit")
# acceptance PIPELINE-OUT-DIR: overall, and of the steps the draft / the cache alone supplied.
acceptance() {
  jq -r '.speculation | [ (.acceptance * 100 | floor | tostring) + "%",
    (if .draft then ((.draft.accepted_steps | tostring) + "/" + (.draft.speculated_steps | tostring)) else "-" end),
    (if .cache then ((.cache.accepted_steps | tostring) + "/" + (.cache.speculated_steps | tostring))
     else ((.accepted_steps | tostring) + "/" + (.speculated_steps | tostring)) end),
    (if .draft then (.draft.search_s * 1000 | floor | tostring) else "-" end),
    (.real_retrievals | tostring)] | join("\t")' "$1/summary.json"
}
summary=""
for r in $(seq 1 "$rounds"); do
  out=$(cd "$work" && "$ralm" compare "$P/dense-baseline.yaml" "$P/dense-spec-psa.yaml" "$work/dense-spec-psa-draft.yaml" \
    "$work/dense-spec-psa-draft-only.yaml" "${settings[@]}")
  echo "== round $r (load $(cut -d' ' -f1-3 /proc/loadavg))"
  echo "$out"
  base=$(awk '$1 == "dense-baseline" { print $4, $5 }' <<< "$out")
  for name in dense-spec-psa dense-spec-psa-draft dense-spec-psa-draft-only; do
    dir=$work/out/$name
    summary+=$(awk -v r="$r" -v n="$name" -v base="$base" -v acc="$(acceptance "$dir")" '$1 == n {
      split(base, b, " "); printf "%d\t%s\t%.3f\t%.3f\t%.2fx\t%.2fx\t%s\t%s\n", r, n, b[1], $4, b[1] / $4,
      b[1] / (b[1] - b[2]), acc, $17 }' <<< "$out")$'\n'
  done
done
printf '\nROUND\tPIPELINE\tBASE WALL s\tWALL s\tSPEED-UP\tAMDAHL\tACCEPTED\tDRAFT ACC\tCACHE ACC\tDRAFT ms\tREAL\tIDENTICAL\n%s' \
  "$summary"
