#!/usr/bin/env bash
# Set up (warnings are errors), build, and run every test; with
# RALM_SANITIZERS=all (or asan, tsan), then again under the sanitizers
# (scripts/test_sanitized.sh: ASan + UBSan for the whole suite and the fuzz
# harnesses, TSan for the concurrent code). Off by default until one whole
# run has been timed within CI's 30 minutes (docs/RELIABILITY.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ralm_setup
ralm_install_tokenizer_oracle
ctest --test-dir "$ralm_build" --output-on-failure --parallel "$(nproc)" "$@"
[[ ${RALM_SANITIZERS:-none} == none ]] || "$ralm_root/scripts/test_sanitized.sh"
