#!/usr/bin/env bash
# The main job with a few batches per training stage: every stage runs and
# every output the full run makes is there and well-formed.
# usage: run_main_short.sh EDGEOPT_RUN SOURCE_DIR OUT_DIR
set -euo pipefail
run=$1 src=$2 out=$3
"$src/scripts/fetch-data.sh"
rm -rf "$out"
unset EDGEOPT_PLUGIN_PATH EDGEOPT_NO_BUILTIN_PLUGINS
"$run" "$src/recipes/mobilenetv2_qat.yaml" --output "$out" \
  --set stages.1.max_batches=4 --set stages.2.max_batches=2 --log-level warn
for f in recipe.yaml manifest.json state.json metrics.csv metrics.jsonl log.txt \
         exports/model.edgeopt exports/model.onnx exports/model.pt stages/0-summary/summary.txt; do
  test -s "$out/$f" || { echo "missing $out/$f"; exit 1; }
done
grep -q '"completed_stages": 4' "$out/state.json"
# One training row and one evaluation row, with accuracies.
test "$(grep -c '"kind":"train"' "$out/metrics.jsonl")" -eq 1
grep -q '"kind":"evaluate".*"val_top1"' "$out/metrics.jsonl"
grep -q 'Total MACs: 23,111,' "$out/stages/0-summary/summary.txt"
echo "main job (short): OK"
