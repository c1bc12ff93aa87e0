#!/usr/bin/env bash
# The whole test suite: installs dependencies and builds when needed
# (scripts/setup.sh), then runs every ctest test. Extra arguments go to ctest
# (e.g. scripts/test.sh -R recipe, or -L accuracy for the long runs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${EDGEOPT_BUILD_DIR:-$root/build}"
"$root/scripts/setup.sh"
cmake --build "$build" -j "$(nproc)" --target all
cd "$build"
# Long accuracy runs carry the label `accuracy` and are excluded by default.
if [[ " $* " == *" -L "* ]]; then
  ctest --output-on-failure -j "$(nproc)" "$@"
else
  ctest --output-on-failure -j "$(nproc)" -LE accuracy "$@"
fi
