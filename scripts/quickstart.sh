#!/usr/bin/env bash
# The main job: set up, list the plugins, validate the quick-start pipeline and
# build its components.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ralm_setup
ralm="$ralm_build/bin/ralm"
"$ralm" plugins
echo
"$ralm" validate --quiet "$ralm_root/pipelines/quickstart.yaml" && echo "pipelines/quickstart.yaml: valid"
echo
"$ralm" run "$ralm_root/pipelines/quickstart.yaml" --dry-run "$@"
