#!/usr/bin/env bash
# The whole test suite: installs dependencies and builds when needed
# (scripts/setup.sh), then runs every ctest test. Extra arguments go to ctest
# (e.g. scripts/test.sh -R recipe, or -L accuracy for the long runs).
#   scripts/test.sh --sanitize [ctest args]: the same suite built with ASan +
#   UBSan in its own folder (scripts/sanitize-build.sh, build-sanitize/); any
#   sanitizer report fails the test that made it (README: Fuzzing and sanitizers).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${EDGEOPT_BUILD_DIR:-$root/build}"
if [ "${1:-}" = --sanitize ]; then
  shift
  "$root/scripts/sanitize-build.sh" all
  build="${EDGEOPT_SANITIZE_BUILD_DIR:-$root/build-sanitize}"
  # Suppressions cover findings inside uninstrumented third-party libraries only.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_odr_violation=0}"
  export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/fuzz/lsan.supp:print_suppressions=0}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$root/fuzz/ubsan.supp}"
  cd "$build"
  if [[ " $* " == *" -L "* ]]; then
    exec ctest --output-on-failure -j "$(nproc)" "$@"
  fi
  exec ctest --output-on-failure -j "$(nproc)" -LE accuracy "$@"
fi
"$root/scripts/setup.sh"
cmake --build "$build" -j "$(nproc)" --target all
cd "$build"
# Long accuracy runs carry the label `accuracy` and are excluded by default.
if [[ " $* " == *" -L "* ]]; then
  ctest --output-on-failure -j "$(nproc)" "$@"
else
  ctest --output-on-failure -j "$(nproc)" -LE accuracy "$@"
fi
