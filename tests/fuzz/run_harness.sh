#!/usr/bin/env bash
# Runs one libFuzzer harness the way ctest and scripts/fuzz.sh do.
#   run_harness.sh replay HARNESS CORPUS REGRESSIONS   every seed and regression input once
#   run_harness.sh replay-plain ...   the same, for a harness built without libFuzzer
#   run_harness.sh SECONDS HARNESS CORPUS REGRESSIONS [OUT]
#       fuzzes for SECONDS from the seeds and regressions, new inputs into OUT
#       (default: a temporary folder, removed), never into the repository
# Crashing inputs land in $RALM_FUZZ_ARTIFACTS (default: the current folder).
# The exit status is libFuzzer's: nonzero on any crash, leak, timeout,
# out-of-memory or sanitizer report.
set -euo pipefail
mode=$1 harness=$2 corpus=$3 regressions=$4 out=${5:-}
inputs=("$corpus")
[[ -d $regressions ]] && inputs+=("$regressions")
artifacts=${RALM_FUZZ_ARTIFACTS:-$PWD}
mkdir -p "$artifacts"
# A reader that takes more than a few seconds or a gigabyte on a
# few-kilobyte input is a finding too.
limits=(-rss_limit_mb=2048 -timeout=10 -max_len=65536 "-artifact_prefix=$artifacts/$(basename "$harness")-")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [[ $mode == replay ]]; then
  exec "$harness" "${limits[@]}" -runs=0 "${inputs[@]}"
fi
# A harness built without libFuzzer (replay_main.cpp) takes only the inputs.
[[ $mode == replay-plain ]] && exec "$harness" "${inputs[@]}"
if [[ -z $out ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
"$harness" "${limits[@]}" -max_total_time="$mode" -print_final_stats=1 "$out" "${inputs[@]}"
