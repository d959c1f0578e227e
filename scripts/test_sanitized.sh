#!/usr/bin/env bash
# The sanitized part of CI (scripts/test.sh runs it after the Release tests):
#   1. ASan + UBSan (clang, -O1 -g, -fno-sanitize-recover=all) in build-asan/:
#      the whole test suite, and, in the same build, the libFuzzer harnesses
#      of tests/fuzz (their seeds and regression inputs replayed, each fuzzed
#      for RALM_FUZZ_CI_SECONDS).
#   2. TSan in build-tsan/, only the tests of concurrent code: the llama
#      thread pool, the engine's continuous batcher and asynchronous
#      verification (with and without a draft retriever), the Xapian
#      retriever's parallel queries, the server (in-process and `ralm serve`
#      over curl).
# Any sanitizer report fails the run. tests/sanitizers/ holds the few
# suppressions, each for an uninstrumented library's internals, and says why.
#
#   RALM_SANITIZERS=asan|tsan|all (default all)   which parts run
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
which=${RALM_SANITIZERS:-all}
say() { echo "ralmkit: $*" >&2; }
command -v clang++ > /dev/null || { say "the sanitized tests need clang (scripts/setup.sh installs it)"; exit 1; }

configure() {  # DIR SANITIZERS [cmake args...]
  local dir=$1 sanitizers=$2
  shift 2
  [[ -f $dir/CMakeCache.txt ]] && return 0
  say "configuring $dir (clang, -fsanitize=$sanitizers)"
  local launcher=()
  command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  CC=clang CXX=clang++ cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRALM_WERROR=ON \
    -DRALM_BUILD_BENCH=OFF -DRALM_SANITIZE="$sanitizers" "${launcher[@]}" "$@" > /dev/null
}

suppressions=$root/tests/sanitizers
# Reports stop the run; the messages of leaks and races carry whole stacks.
# intercept_tls_get_addr=0: clang 14's leak checker, intercepting TLS lookups
# of dlopen()ed libraries (our plugins, OpenMP's runtime), crashed its own
# tracer at exit ("Tracer caught signal 11"); LLVM 17 fixes it (D147459).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:intercept_tls_get_addr=0:suppressions=$suppressions/asan.supp
export LSAN_OPTIONS=suppressions=$suppressions/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$suppressions/ubsan.supp
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$suppressions/tsan.supp

if [[ $which == all || $which == asan ]]; then
  start=$SECONDS
  configure "$root/build-asan" address,undefined -DRALM_FUZZ=ON
  cmake --build "$root/build-asan" --parallel "$(nproc)"
  built=$SECONDS
  RALM_FUZZ_ARTIFACTS="$root/build-asan/fuzz-findings" \
    ctest --test-dir "$root/build-asan" --output-on-failure --parallel "$(nproc)"
  say "ASan + UBSan: built in $((built - start)) s, tested and fuzzed in $((SECONDS - built)) s"
fi

if [[ $which == all || $which == tsan ]]; then
  start=$SECONDS
  tsan=$root/build-tsan
  configure "$tsan" thread
  cmake --build "$tsan" --parallel "$(nproc)" \
    --target llama_kernels_test engine_api_test speculation_test draft_speculation_test knnlm_speculation_test \
    xapian_test server_test ralm
  built=$SECONDS
  # A run per core at a time (the longest first), each one's output kept
  # apart and shown only if it fails.
  tsan_runs=(
    "'$tsan/bin/speculation_test'"
    "'$tsan/bin/draft_speculation_test'"
    "'$tsan/bin/knnlm_speculation_test'"
    "bash '$root/tests/serve_test.sh' '$tsan/bin/ralm' '$root'"
    "'$tsan/bin/xapian_test'"
    "'$tsan/bin/engine_api_test'"
    "'$tsan/bin/server_test'"
    "'$tsan/bin/llama_kernels_test' --gtest_filter='LlamaThreadPool.*:LlamaKernels.RowsPerCallAndThreadsNeverChangeABit'"
  )
  printf '%s\0' "${tsan_runs[@]}" | xargs -0 -n 1 -P "$(nproc)" bash -c '
    log=$(mktemp)
    if bash -c "$0" > "$log" 2>&1; then
      echo "ralmkit: TSan passed: $0" >&2
      rm -f "$log"
    else
      echo "ralmkit: TSan FAILED: $0" >&2
      cat "$log" >&2
      rm -f "$log"
      exit 1
    fi'
  say "TSan: built in $((built - start)) s, tested in $((SECONDS - built)) s"
fi
