#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan, in
# build-asan/, the build scripts/test_sanitized.sh tests in) and fuzzes each
# for SECONDS (default 600), JOBS harnesses at a time, then prints the
# executions and findings of each.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]
#   RALM_FUZZ_JOBS      harnesses at a time (default 2)
#   RALM_FUZZ_CORPUS    where each harness's grown corpus is kept, one folder
#                       per harness (default ~/.cache/ralmkit-fuzz/corpus): the
#                       repository's seeds are read, never written
#   RALM_FUZZ_INTO_REPO=1  afterwards, merge what added coverage into
#                       tests/fuzz/corpus/<harness> (libFuzzer's -merge=1)
#   RALM_FUZZ_SEEDS=1   first (re)write the seeds the folder harnesses make
#                       from a valid build (FolderFuzz) into tests/fuzz/corpus
# Findings (crashing, leaking, timing out or reported inputs) are copied to
# RALM_FUZZ_FINDINGS (default ~/.cache/ralmkit-fuzz/findings); keep each,
# once fixed, under tests/fuzz/regressions/<harness>/. Exit status 1 when any
# harness found something.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-600}
shift || true
build=${RALM_FUZZ_BUILD_DIR:-$root/build-asan}
cache=${HOME:-/tmp}/.cache/ralmkit-fuzz
corpus_root=${RALM_FUZZ_CORPUS:-$cache/corpus}
findings=${RALM_FUZZ_FINDINGS:-$cache/findings}
jobs=${RALM_FUZZ_JOBS:-2}
say() { echo "ralmkit: $*" >&2; }

if [[ ! -f $build/CMakeCache.txt ]]; then
  say "configuring $build (clang, ASan + UBSan, fuzz harnesses)"
  launcher=()
  command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRALM_WERROR=ON \
    -DRALM_BUILD_BENCH=OFF -DRALM_SANITIZE=address,undefined -DRALM_FUZZ=ON "${launcher[@]}" > /dev/null
fi
harnesses=("$@")
if ((${#harnesses[@]} == 0)); then
  cmake --build "$build" --parallel "$(nproc)" --target ralm_fuzz_harnesses
else
  cmake --build "$build" --parallel "$(nproc)" --target "${harnesses[@]}"
fi
if ((${#harnesses[@]} == 0)); then
  for f in "$root"/tests/fuzz/fuzz_*.cpp; do
    h=$(basename "$f" .cpp)
    [[ -x $build/bin/$h ]] && harnesses+=("$h")
  done
fi
binary() { echo "$build/bin/$1"; }

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# Each harness's libFuzzer output is kept beside its findings; what a run
# found is what appeared after this stamp.
touch "$logs/.start"
if [[ ${RALM_FUZZ_SEEDS:-0} == 1 ]]; then
  for h in "${harnesses[@]}"; do
    RALM_FUZZ_WRITE_SEEDS=$root/tests/fuzz/corpus/$h "$(binary "$h")" -runs=0 "$logs" > /dev/null 2>&1 || true
  done
fi

run_one() {
  local h=$1
  mkdir -p "$corpus_root/$h" "$findings/$h"
  local status=0
  RALM_FUZZ_ARTIFACTS="$findings/$h" bash "$root/tests/fuzz/run_harness.sh" "$seconds" "$(binary "$h")" \
    "$root/tests/fuzz/corpus/$h" "$root/tests/fuzz/regressions/$h" "$corpus_root/$h" > "$logs/$h.log" 2>&1 \
    || status=$?
  echo "$status" > "$logs/$h.status"
}
say "fuzzing ${#harnesses[@]} harnesses for $seconds s each, $jobs at a time; corpus in $corpus_root"
running=0
for h in "${harnesses[@]}"; do
  run_one "$h" &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

failed=0
printf '%-22s %14s %8s %10s %8s  %s\n' harness executions exec/s corpus peak_rss findings
for h in "${harnesses[@]}"; do
  log=$logs/$h.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  units=$(find "$corpus_root/$h" -type f | wc -l)
  status=$(cat "$logs/$h.status" 2> /dev/null || echo "?")
  cp "$log" "$findings/$h/last-run.log"
  found=$(find "$findings/$h" -type f -newer "$logs/.start" ! -name last-run.log | wc -l)
  note="none"
  if [[ $status != 0 || $found != 0 ]]; then
    failed=1
    note="$found input(s) in $findings/$h (exit $status): $(grep -m1 -E 'ERROR|runtime error|terminate|Timeout|out-of-memory' "$log" || true)"
  fi
  printf '%-22s %14s %8s %10s %8s  %s\n' "$h" "${execs:-?}" "${speed:-?}" "$units" "${rss:-?}MB" "$note"
  if [[ ${RALM_FUZZ_INTO_REPO:-0} == 1 ]]; then
    "$(binary "$h")" -merge=1 -rss_limit_mb=2048 -timeout=10 "$root/tests/fuzz/corpus/$h" "$corpus_root/$h" > /dev/null 2>&1
  fi
done
exit $failed
