#!/usr/bin/env bash
# Configures and builds the ASan + UBSan build folder shared by
# scripts/fuzz.sh and scripts/test.sh --sanitize (idempotent, incremental).
#   scripts/sanitize-build.sh [--lock] [TARGET...]   (default target: all)
# Folder: $EDGEOPT_SANITIZE_BUILD_DIR (default build-sanitize/). Compiler:
# Debian's clang-14 with libFuzzer (libfuzzer-14-dev), installed when missing.
# Flags: -O1, -fsanitize=address,undefined plus -fsanitize=fuzzer-no-link
# (coverage for libFuzzer, inert without it), so one set of objects serves the
# fuzz harnesses and the test suite. A cold build of everything takes about
# an hour on 2 cores (ccache keeps later ones short).
# --lock: hold $EDGEOPT_BUILD_LOCK (default /tmp/edgeopt.lock) while building.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${EDGEOPT_SANITIZE_BUILD_DIR:-$root/build-sanitize}"
lock=()
if [ "${1:-}" = --lock ]; then
  lock=(flock "${EDGEOPT_BUILD_LOCK:-/tmp/edgeopt.lock}")
  shift
fi
targets=("${@:-all}")

"$root/scripts/setup.sh" --deps clang-14 libfuzzer-14-dev

if [ ! -f "$build/build.ninja" ]; then
  "${lock[@]}" cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fsanitize=fuzzer-no-link -fno-omit-frame-pointer -gline-tables-only" \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG" -DEDGEOPT_BUILD_BENCH=OFF -DEDGEOPT_BUILD_FUZZ=ON >/dev/null
fi
"${lock[@]}" cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
