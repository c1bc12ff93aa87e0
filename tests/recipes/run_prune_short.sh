#!/usr/bin/env bash
# recipes/resnet18_channel_prune.yaml and recipes/mobilenetv2_n2m.yaml with a
# few batches per training stage: every stage runs, the channel-pruned
# ResNet-18 (round_to: 16) is smaller (prune.json and the two summaries), the 41:64 model
# has the pattern's sparsity, and both export to ONNX.
# usage: run_prune_short.sh EDGEOPT_RUN SOURCE_DIR OUT_DIR
set -euo pipefail
run=$1 src=$2 out=$3
"$src/scripts/fetch-data.sh" fashion-mnist
rm -rf "$out-channel" "$out-n2m"
unset EDGEOPT_PLUGIN_PATH EDGEOPT_NO_BUILTIN_PLUGINS
short="--set vars.epochs=1 --set vars.prune_epochs=2 --set stages.1.max_batches=4 --set stages.2.max_batches=2
       --set stages.4.max_batches=4 --set stages.5.max_batches=2"
"$run" "$src/recipes/resnet18_channel_prune.yaml" --output "$out-channel" --log-level warn $short
"$run" "$src/recipes/mobilenetv2_n2m.yaml" --output "$out-n2m" --log-level warn $short
for f in "$out-channel"/{stages/4-prune/prune.json,stages/0-summary/summary.txt,stages/6-summary/summary.txt,exports/dense.onnx,exports/model.onnx,exports/model.edgeopt} \
         "$out-n2m"/{stages/4-prune/prune.json,exports/dense.onnx,exports/model.onnx}; do
  test -s "$f" || { echo "missing $f"; exit 1; }
done
grep -q '"completed_stages": 8' "$out-channel/state.json"
grep -q '"completed_stages": 7' "$out-n2m/state.json"
python3 - "$out-channel/stages/4-prune/prune.json" "$out-n2m/stages/4-prune/prune.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
assert c["type"] == "channel" and c["physical"], c["type"]
assert c["params"]["after"] < 0.6 * c["params"]["before"], c["params"]
assert c["channels"]["after"] < c["channels"]["before"], c["channels"]
assert len(c["groups"]) == 12, len(c["groups"])
# round_to: 16: the kept count at 30 % goes to the nearest multiple of 16
# (ties up), at least 16, at most the group (64/128/256/512 -> 48/96/176/352).
def rounded(kept, channels, block=16):
    return min(channels, max(block, int(kept / block + 0.5) * block))
assert c.get("round_to") == 16, c.get("round_to")
for g in c["groups"]:
    assert g["kept"] == rounded(g["channels"] - round(0.3 * g["channels"] + 1e-9), g["channels"]), g
assert sorted({g["kept"] for g in c["groups"]}) == [48, 96, 176, 352], c["groups"]
assert [s["reason"] for s in c["skipped"]] == ["graph output"], c["skipped"]
n = json.load(open(sys.argv[2]))
assert n["type"] == "n2m" and n["m"] == 64, n
for layer in n["layers"]:
    assert 0.6 < layer["sparsity"] < 0.68, layer
# min_group_inputs: 64 leaves the 15 layers with fewer inputs dense, besides the 18 depthwise.
reasons = [s["reason"] for s in n["skipped"]]
assert sum("depthwise" in r for r in reasons) == 18, reasons
assert sum(r.endswith("input channels < min_group_inputs 64") for r in reasons) == 15, reasons
assert len(reasons) == 33 and len(n["layers"]) == 20, (reasons, len(n["layers"]))
PY
echo "resnet18_channel_prune and mobilenetv2_n2m (short): OK"
