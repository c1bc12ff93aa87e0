#!/usr/bin/env bash
# recipes/yolov5n_detect.yaml end to end on digits-coco, asserting COCO mAP
# floors under the figures measured on the 2-core dev machine (seed 0):
#   short  1 epoch  (~1.5 min):  mAP 0.046, mAP@.5 0.090   floors 0.015 / 0.05
#   full   the recipe's 10 epochs (~12 min):  mAP 0.769, mAP@.5 0.955   floors 0.70 / 0.90
# usage: run_detect_recipe.sh EDGEOPT_RUN SOURCE_DIR OUT_DIR short|full
set -euo pipefail
run=$1 src=$2 out=$3 mode=$4
"$src/scripts/fetch-data.sh" digits-coco
rm -rf "$out"
unset EDGEOPT_PLUGIN_PATH EDGEOPT_NO_BUILTIN_PLUGINS
case "$mode" in
  short) epochs=1 min_map=0.015 min_map50=0.05 ;;
  full) epochs=10 min_map=0.70 min_map50=0.90 ;;
  *) echo "mode must be short or full" >&2; exit 2 ;;
esac
"$run" "$src/recipes/yolov5n_detect.yaml" --output "$out" --log-level warn --set stages.1.epochs=$epochs
for f in exports/model.edgeopt exports/model.onnx stages/1-train/best.edgeopt stages/1-train/last.edgeopt; do
  test -s "$out/$f" || { echo "missing $out/$f"; exit 1; }
done
/usr/bin/python3 - "$out/metrics.jsonl" "$min_map" "$min_map50" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
final = [r for r in rows if r["kind"] == "evaluate"][-1]
best = max(r["val_map"] for r in rows if r["kind"] == "train")
print(f"evaluate: mAP {final['val_map']:.4f} mAP@.5 {final['val_map50']:.4f} (best train epoch mAP {best:.4f})")
assert abs(final["val_map"] - best) < 1e-12, "keep: best must hand on the best epoch's model"
assert final["val_map"] > float(sys.argv[2]), f"mAP {final['val_map']} <= floor {sys.argv[2]}"
assert final["val_map50"] > float(sys.argv[3]), f"mAP@.5 {final['val_map50']} <= floor {sys.argv[3]}"
PY
echo "yolov5n_detect ($mode): OK"
