#!/usr/bin/env bash
# Set up (warnings are errors), build, and run every test.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ralm_setup
ralm_install_tokenizer_oracle
ctest --test-dir "$ralm_build" --output-on-failure --parallel "$(nproc)" "$@"
