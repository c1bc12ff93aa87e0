#!/usr/bin/env bash
# recipes/mobilenetv3_lite.yaml with a few batches per training stage: the
# surgery stage replaces what its header says, and every stage after it runs
# on the lite model and writes its outputs.
# usage: run_lite_short.sh EDGEOPT_RUN SOURCE_DIR OUT_DIR
set -euo pipefail
run=$1 src=$2 out=$3
"$src/scripts/fetch-data.sh" fashion-mnist
rm -rf "$out"
unset EDGEOPT_PLUGIN_PATH EDGEOPT_NO_BUILTIN_PLUGINS
"$run" "$src/recipes/mobilenetv3_lite.yaml" --output "$out" --log-level warn \
  --set stages.2.max_batches=4 --set stages.3.max_batches=2 --set stages.5.max_batches=4 --set stages.6.max_batches=2
for f in stages/0-surgery/surgery.json stages/1-summary/summary.txt exports/float.onnx exports/model.edgeopt \
         exports/model.qdq.onnx; do
  test -s "$out/$f" || { echo "missing $out/$f"; exit 1; }
done
grep -q '"completed_stages": 8' "$out/state.json"
python3 - "$out/stages/0-surgery/surgery.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
counts = {r["rule"]: r["count"] for r in j["replacements"]}
assert counts == {"se_to_identity": 8, "hardswish_to_relu": 21}, counts
assert j["before"]["params"] == 4214554 and j["after"]["params"] == 2702274, (j["before"], j["after"])
for op in ("hardswish", "hardsigmoid", "mul"):
    assert op not in j["after"]["ops"], op
PY
grep -q 'Total MACs: 5,292,872' "$out/stages/1-summary/summary.txt"
grep -q 'QuantizeLinear' "$out/exports/model.qdq.onnx"
echo "mobilenetv3_lite (short): OK"
