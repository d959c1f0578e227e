# Sanitizer and fuzzing builds: scripts/test.sh's build-asan/ (ASan + UBSan,
# with the fuzz harnesses) and build-tsan/, and scripts/fuzz.sh. clang only:
# libFuzzer is clang's, so one clang build serves the sanitized tests and the
# harnesses alike.
if(RALM_SANITIZE OR RALM_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "RALM_SANITIZE and RALM_FUZZ need clang: configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
endif()
if(RALM_FUZZ AND NOT RALM_SANITIZE MATCHES "address")
  message(FATAL_ERROR "RALM_FUZZ needs RALM_SANITIZE=address,undefined: a harness without ASan misses what it is for")
endif()

# -O1 after the build type's flags (it wins): fast enough for the whole test
# suite. Line tables, not full debug information: a report's stack still names
# file and line, and the whole tree compiles and links in far less time.
if(RALM_SANITIZE)
  add_compile_options(-fsanitize=${RALM_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -gline-tables-only)
  add_link_options(-fsanitize=${RALM_SANITIZE})
  # clang links the sanitizer runtime into executables only: a shared library
  # or plugin leaves the runtime's symbols to the executable that loads it,
  # so it cannot be linked with --no-undefined.
  set(RALM_LINK_NO_UNDEFINED "")
else()
  set(RALM_LINK_NO_UNDEFINED -Wl,--no-undefined)
endif()
# Coverage for libFuzzer in every library a harness links; the tests built
# alongside carry it too (libFuzzer's runtime only in harnesses). The hot
# kernels' files (matrix products, attention, quantized and dense dot
# products) add RALM_HOT_KERNEL_OPTIONS to their own flags, which leaves
# them without it: they read no input, and a counter on every edge of their
# loops made the sanitized tests that run the model take half as long again.
set(RALM_HOT_KERNEL_OPTIONS)
if(RALM_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
  set(RALM_HOT_KERNEL_OPTIONS -fno-sanitize=fuzzer-no-link)
endif()
