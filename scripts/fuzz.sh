#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/) in the sanitizer build folder and runs
# them, one after another.
#   scripts/fuzz.sh [TARGET|all] [SECONDS]   run each for SECONDS (default 60)
#   scripts/fuzz.sh --merge [TARGET|all]     minimize what runs found into
#                                            fuzz/corpus/TARGET (to commit)
#   scripts/fuzz.sh --list                   the targets
# Targets: recipe onnx torchscript checkpoint idx coco image.
# Build folder: $EDGEOPT_SANITIZE_BUILD_DIR (default build-sanitize/, shared
# with scripts/test.sh --sanitize): clang-14, -O1, ASan + UBSan, and
# -fsanitize=fuzzer-no-link so the core and plugin objects serve both.
# Findings (crash-*, leak-*, oom-*, timeout-*) land in
# build-sanitize/fuzz/artifacts/TARGET/ and the script exits 1; reproduce one
# with build-sanitize/fuzz/fuzz_TARGET FILE. Each run prints libFuzzer's
# final stats (stat::number_of_executed_units, exec/s).
# The build step takes $EDGEOPT_BUILD_LOCK (default /tmp/edgeopt.lock), so
# a long fuzz run never holds other builds up; fuzzing runs at nice 10.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${EDGEOPT_SANITIZE_BUILD_DIR:-$root/build-sanitize}"
lock="${EDGEOPT_BUILD_LOCK:-/tmp/edgeopt.lock}"
all_targets=(recipe onnx torchscript checkpoint idx coco image)

mode=run
case "${1:-}" in
  --list) printf '%s\n' "${all_targets[@]}"; exit 0 ;;
  --merge) mode=merge; shift ;;
esac
which="${1:-all}"
seconds="${2:-60}"
if [ "$which" = all ]; then
  targets=("${all_targets[@]}")
elif [[ " ${all_targets[*]} " == *" $which "* ]]; then
  targets=("$which")
else
  echo "fuzz.sh: unknown target '$which' (one of: ${all_targets[*]}, all)" >&2
  exit 2
fi

"$root/scripts/sanitize-build.sh" --lock "${targets[@]/#/fuzz_}"

# LibTorch, OpenCV and the other system libraries are not instrumented: the
# suppression files name only findings inside them (each with its reason).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_odr_violation=0:abort_on_error=0:allocator_may_return_null=0}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/fuzz/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$root/fuzz/ubsan.supp}"

seeds="$build/fuzz/seeds"
if [ ! -d "$seeds" ]; then
  /usr/bin/python3 "$root/fuzz/make_seeds.py" "$seeds.tmp" "$root/build" && mv "$seeds.tmp" "$seeds"
fi

status=0
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  corpus="$root/fuzz/corpus/$t"
  work="$build/fuzz/work/$t"
  artifacts="$build/fuzz/artifacts/$t"
  mkdir -p "$corpus" "$work" "$artifacts"
  # Scratch files per process (the readers take paths), in memory when possible.
  scratch=/dev/shm; [ -w "$scratch" ] || scratch="$build/fuzz"
  export TMPDIR="$scratch/edgeopt-fuzz-tmp"
  mkdir -p "$TMPDIR"
  # OpenCV accepts 2^30 pixels (3 GiB in color) by default, more than the
  # 2 GiB a fuzz input may use: 16 M pixels keeps the image target on bugs.
  export CV_IO_MAX_IMAGE_PIXELS=16777216
  # The ONNX importer's budget for constants it computes (ConstantOfShape,
  # Expand, ...) is the machine's memory: 1 GiB, with the harness's own 0.7 GiB
  # (LibTorch, ASan's quarantine), keeps it under -rss_limit_mb.
  export EDGEOPT_MEMORY_LIMIT_MB="${EDGEOPT_MEMORY_LIMIT_MB:-1024}"
  if [ "$mode" = merge ]; then
    echo "fuzz.sh: merging $t into fuzz/corpus/$t"
    rm -rf "$corpus.new"
    mkdir -p "$corpus.new"
    nice -n 10 "$bin" -merge=1 -timeout=30 -rss_limit_mb=4096 "$corpus.new" "$corpus" "$work" "$seeds/$t" 2>&1 |
      grep -E "^MERGE-OUTER: [0-9]+ new files" || true
    rm -rf "$corpus"
    mv "$corpus.new" "$corpus"
    echo "fuzz.sh: fuzz/corpus/$t: $(find "$corpus" -type f | wc -l) files, $(du -sh "$corpus" | cut -f1)"
    continue
  fi
  echo "fuzz.sh: $t for ${seconds}s"
  # Inputs up to 64 KiB (model files); 10 s per input; 2 GiB of memory, so a
  # file whose header asks for more than that is a finding (oom-*).
  if ! nice -n 10 "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$corpus" "$seeds/$t" \
      >"$build/fuzz/$t.log" 2>&1; then
    status=1
    echo "fuzz.sh: $t: FINDING (see $build/fuzz/$t.log and $artifacts/)"
  fi
  grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)" "$build/fuzz/$t.log" |
    sed "s/^/fuzz.sh: $t: /" || true
done
exit "$status"
