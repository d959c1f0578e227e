#!/usr/bin/env bash
# The main job: set up, build the default corpus (FOLDOC and the Jargon File,
# from their Debian packages) if it is missing, and compare no retrieval,
# In-Context RALM (prepend), FlashBack (append) and RaLMSpec (prepend with
# speculative retrieval) on the same prompts, with the shipped model.
# Extra arguments go to `ralm compare` (e.g. --limit 2, --set engine.max_new_tokens=16).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ralm_setup
ralm="$ralm_build/bin/ralm"
cd "$ralm_root"
if [[ ! -f data/corpus/manifest.json ]]; then
  "$ralm" corpus build --source foldoc --source jargon --out data/corpus
fi
"$ralm" compare pipelines/quickstart.yaml pipelines/quickstart-prepend.yaml pipelines/quickstart-append.yaml \
  pipelines/quickstart-ralmspec.yaml --log-level info "$@"
