#!/usr/bin/env bash
# Set up (warnings are errors), build, and run every test; then again under
# the sanitizers (scripts/test_sanitized.sh): the whole suite under ASan +
# UBSan with the fuzz harnesses' replays and short runs, and the tests of
# concurrent code under TSan. RALM_SANITIZERS=asan|tsan runs one of the two,
# =none neither (for a quick local check; CI runs both).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ralm_setup
ralm_install_tokenizer_oracle
ctest --test-dir "$ralm_build" --output-on-failure --parallel "$(nproc)" "$@"
export RALM_SANITIZERS=${RALM_SANITIZERS:-all}
[[ $RALM_SANITIZERS == none ]] || "$ralm_root/scripts/test_sanitized.sh"
