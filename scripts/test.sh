#!/usr/bin/env bash
# Set up (warnings are errors), build, and run every test. With
# RALM_SANITIZERS=asan, then again under ASan + UBSan: the whole suite with
# the fuzz harnesses' replays and short runs; =all adds TSan over the
# concurrent code (scripts/test_sanitized.sh). Both pass; ASan + UBSan is
# not the default yet because it takes a clean clone's CI from 10 to 26
# minutes on two cores, past "well under 30" (docs/RELIABILITY.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ralm_setup
ralm_install_tokenizer_oracle
ctest --test-dir "$ralm_build" --output-on-failure --parallel "$(nproc)" "$@"
export RALM_SANITIZERS=${RALM_SANITIZERS:-none}
[[ $RALM_SANITIZERS == none ]] || "$ralm_root/scripts/test_sanitized.sh"
