#!/usr/bin/env bash
# The main job with a few batches per training stage, then the PTQ recipe on
# the float ONNX it exported: every stage runs and every output the full runs
# make is there and well-formed.
# usage: run_main_short.sh EDGEOPT_RUN SOURCE_DIR OUT_DIR
set -euo pipefail
run=$1 src=$2 out=$3
"$src/scripts/fetch-data.sh"
rm -rf "$out" "$out-ptq"
unset EDGEOPT_PLUGIN_PATH EDGEOPT_NO_BUILTIN_PLUGINS
"$run" "$src/recipes/mobilenetv2_qat.yaml" --output "$out" --log-level warn \
  --set stages.1.max_batches=4 --set stages.2.max_batches=2 --set stages.4.max_batches=4 --set stages.5.max_batches=2
for f in recipe.yaml manifest.json state.json metrics.csv metrics.jsonl log.txt stages/0-summary/summary.txt \
         exports/float.onnx exports/model.edgeopt exports/model.qdq.onnx exports/model.pt; do
  test -s "$out/$f" || { echo "missing $out/$f"; exit 1; }
done
grep -q '"completed_stages": 7' "$out/state.json"
test "$(grep -c '"kind":"train"' "$out/metrics.jsonl")" -eq 1
test "$(grep -c '"kind":"qat"' "$out/metrics.jsonl")" -eq 1
test "$(grep -c '"kind":"evaluate".*"val_top1"' "$out/metrics.jsonl")" -eq 2
grep -q 'Total MACs: 23,111,' "$out/stages/0-summary/summary.txt"
grep -q 'QuantizeLinear' "$out/exports/model.qdq.onnx"

"$run" "$src/recipes/ptq_calibrate.yaml" --output "$out-ptq" --log-level warn \
  --set vars.model="$out/exports/float.onnx" --set stages.0.max_batches=2 --set stages.1.batches=2 \
  --set stages.2.max_batches=2
grep -q '"completed_stages": 4' "$out-ptq/state.json"
grep -q 'QuantizeLinear' "$out-ptq/exports/model.qdq.onnx"
echo "main job and PTQ recipe (short): OK"
