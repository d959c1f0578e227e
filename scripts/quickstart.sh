#!/usr/bin/env bash
# The main job: set up, then show each method where its paper says it helps,
# with the shipped model (models/tiny), in three `ralm compare` tables:
#   FlashBack (append) against In-Context RALM (prepend) on ~1,500-token inputs;
#   RaLMSpec against In-Context RALM with exact dense search over 277,819
#     passages (FOLDOC, the Jargon File, GCIDE and WordNet);
#   speculative kNN-LM against kNN-LM over an exact datastore.
# Then one HTML report of the three (out/quickstart/report.html, with PNGs of
# its charts beside it). The first run also builds the corpora, the dense
# index and the datastore (a few minutes); later runs reuse them.
# Extra arguments go to each `ralm compare` (e.g. --limit 2, --repeat is not one).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ralm_setup
ralm="$ralm_build/bin/ralm"
cd "$ralm_root"
if [[ ! -f data/corpus/manifest.json ]]; then
  "$ralm" corpus build --source foldoc --source jargon --out data/corpus
fi
if [[ ! -f data/corpus-dictionaries/manifest.json ]]; then
  "$ralm" corpus build --source foldoc --source jargon --source gcide --source wordnet \
    --out data/corpus-dictionaries
fi
# Both leave an existing index or datastore as it is.
"$ralm" index build pipelines/quickstart-dictionaries.yaml --log-level info
"$ralm" datastore build pipelines/quickstart-knnlm.yaml --log-level info

out=out/quickstart
say() { printf '%s\n' "$@"; echo; }

echo "== FlashBack: append against prepend, ~1,500-token inputs, a retrieval every 4 tokens"
"$ralm" compare pipelines/quickstart-long-prepend.yaml pipelines/quickstart-long-append.yaml \
  --out "$out/flashback" "$@"
say "quickstart-long-append: FlashBack keeps the input's KV cache and recomputes only the passage" \
  "  and the tokens since (COMPUTED/KEPT), where prepend recomputes the whole input at every retrieval;" \
  "  its outputs differ (another layout, and its LoRA adapter)."

echo "== RaLMSpec: speculative retrieval against In-Context RALM, exact dense search over 277,819 passages"
"$ralm" compare pipelines/quickstart-dictionaries.yaml pipelines/quickstart-dictionaries-ralmspec.yaml \
  --out "$out/ralmspec" "$@"
say "quickstart-dictionaries-ralmspec: guesses each passage from a local cache and verifies a round's" \
  "  guesses with one batched search, so RETRIEVAL s shrinks; outputs equal the baseline's (IDENTICAL)."

echo "== Speculative kNN-LM against kNN-LM, exact search over 594,070 datastore entries"
"$ralm" compare pipelines/quickstart-knnlm.yaml pipelines/quickstart-knnlm-spec.yaml \
  --out "$out/knnlm" "$@"
say "quickstart-knnlm-spec: guesses each position's neighbours from the datastore successors of" \
  "  earlier ones and verifies 8 positions with one search; outputs equal the baseline's (IDENTICAL)."

"$ralm" report "$out/flashback" "$out/ralmspec" "$out/knnlm" --html "$out/report.html" > /dev/null
echo "report: $out/report.html (charts as PNG beside it: $out/report-speedup.png, ...)"
