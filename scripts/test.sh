#!/usr/bin/env bash
# Set up (warnings are errors), build, and run every test; then again under
# ASan + UBSan, the whole suite with the fuzz harnesses' replays and short
# runs (scripts/test_sanitized.sh). RALM_SANITIZERS=all adds TSan over the
# concurrent code, which does not fit CI's time yet (docs/RELIABILITY.md);
# RALM_SANITIZERS=none skips the sanitized part.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ralm_setup
ralm_install_tokenizer_oracle
ctest --test-dir "$ralm_build" --output-on-failure --parallel "$(nproc)" "$@"
export RALM_SANITIZERS=${RALM_SANITIZERS:-asan}
[[ $RALM_SANITIZERS == none ]] || "$ralm_root/scripts/test_sanitized.sh"
