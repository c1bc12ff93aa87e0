#!/usr/bin/env bash
# recipes/yolov5n_detect.yaml end to end on digits-coco, asserting COCO mAP
# floors under the figures measured on the 2-core dev machine (seed 0), then
# the QDQ export scored in ONNX Runtime (edgeopt-run --onnxruntime) against
# the QAT model's evaluate row:
#   short  1 float epoch, QAT 1 epoch of 20 batches (~3 min):
#          float mAP 0.045, mAP@.5 0.094 (floors 0.015 / 0.05);
#          QAT mAP 0.063, mAP@.5 0.121 (floor 0.03); ORT 0.063 / 0.120, within 0.005 of QAT
#   full   the recipe (10 float epochs, 2 QAT epochs; ~20-27 min):
#          float mAP 0.772, mAP@.5 0.954 (floors 0.70 / 0.90);
#          QAT mAP 0.762, mAP@.5 0.951 (floor 0.70); ORT 0.762 / 0.951, within 0.005 of QAT
# usage: run_detect_recipe.sh EDGEOPT_RUN SOURCE_DIR OUT_DIR short|full
set -euo pipefail
run=$1 src=$2 out=$3 mode=$4
"$src/scripts/fetch-data.sh" digits-coco
rm -rf "$out"
unset EDGEOPT_PLUGIN_PATH EDGEOPT_NO_BUILTIN_PLUGINS
case "$mode" in
  short) sets=(--set stages.1.epochs=1 --set stages.4.epochs=1 --set stages.4.max_batches=20)
         min_map=0.015 min_map50=0.05 min_qat_map=0.03 ;;
  full) sets=() min_map=0.70 min_map50=0.90 min_qat_map=0.70 ;;
  *) echo "mode must be short or full" >&2; exit 2 ;;
esac
"$run" "$src/recipes/yolov5n_detect.yaml" --output "$out" --log-level warn "${sets[@]}"
for f in exports/float.edgeopt exports/float.onnx exports/model.edgeopt exports/model.qdq.onnx \
         stages/1-train/best.edgeopt stages/1-train/last.edgeopt; do
  test -s "$out/$f" || { echo "missing $out/$f"; exit 1; }
done
"$run" --onnxruntime "$out" --log-level warn
/usr/bin/python3 - "$out" "$min_map" "$min_map50" "$min_qat_map" <<'PY'
import json, sys
out, min_map, min_map50, min_qat_map = sys.argv[1], *map(float, sys.argv[2:])
rows = [json.loads(line) for line in open(out + "/metrics.jsonl")]
float_eval, qat_eval = [r for r in rows if r["kind"] == "evaluate"]
best = max(r["val_map"] for r in rows if r["kind"] == "train")
ort = {r["export"]: r for r in json.load(open(out + "/onnxruntime.json"))["rows"]}["model.qdq.onnx"]
print(f"float: mAP {float_eval['val_map']:.4f} mAP@.5 {float_eval['val_map50']:.4f} (best train epoch mAP {best:.4f}); "
      f"QAT: mAP {qat_eval['val_map']:.4f} mAP@.5 {qat_eval['val_map50']:.4f}; "
      f"model.qdq.onnx in ONNX Runtime: mAP {ort['val_map']:.4f} mAP@.5 {ort['val_map50']:.4f}")
assert abs(float_eval["val_map"] - best) < 1e-12, "keep: best must hand on the best epoch's model"
assert float_eval["val_map"] > min_map, f"mAP {float_eval['val_map']} <= floor {min_map}"
assert float_eval["val_map50"] > min_map50, f"mAP@.5 {float_eval['val_map50']} <= floor {min_map50}"
assert qat_eval["val_map"] > min_qat_map, f"QAT mAP {qat_eval['val_map']} <= floor {min_qat_map}"
for key in ("val_map", "val_map50"):
    assert abs(ort[key] - qat_eval[key]) <= 0.005, f"ONNX Runtime {key} {ort[key]} vs QAT evaluate {qat_eval[key]}"
PY
echo "yolov5n_detect ($mode): OK"
