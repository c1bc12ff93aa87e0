#!/usr/bin/env bash
# usage: test_sdk.sh SOURCE_DIR BUILD_DIR WORK_DIR TOY_PLUGIN_DIR
set -euo pipefail
src=$1 build=$2 work=$3 toy=$4
rm -rf "$work" && mkdir -p "$work"
prefix="$work/prefix"

cmake --install "$build" --prefix "$prefix" > "$work/install.log"
test -x "$prefix/bin/edgeopt-run"
test -f "$prefix/lib/cmake/EdgeOpt/EdgeOptConfig.cmake"
test -f "$prefix/include/edgeopt/plugin.h"
test -d "$prefix/share/edgeopt/plugin-template"

# The template, copied as a user would, built against the installed SDK only.
cp -r "$prefix/share/edgeopt/plugin-template" "$work/my-plugin"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$work/my-plugin" -B "$work/my-plugin/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" > "$work/configure.log"
cmake --build "$work/my-plugin/build" > "$work/build.log"
test -f "$work/my-plugin/build/libedgeopt_weight_stats.so"

export EDGEOPT_PLUGIN_PATH="$work/my-plugin/build:$toy"
"$prefix/bin/edgeopt-run" --list-plugins > "$work/plugins.txt"
grep -q "^weight_stats 1.0.0 (plugin API 1) $work/my-plugin/build/libedgeopt_weight_stats.so" "$work/plugins.txt"
grep -q "^export 0.1.0 (plugin API 1) $prefix/lib/edgeopt/plugins/libedgeopt_export.so" "$work/plugins.txt"

cat > "$work/recipe.yaml" <<'YAML'
version: 1
name: sdk
model: {source: toy, channels: 4, num_classes: 3}
stages:
  - kind: weight_stats
  - kind: export
YAML
(cd "$work" && "$prefix/bin/edgeopt-run" recipe.yaml --output run > run.out 2> run.err)
csv="$work/run/stages/0-weight_stats/weight_stats.csv"
head -1 "$csv" | grep -qx "layer,tensor,shape,mean,std,max_abs,zero_fraction"
grep -q "^features.0,features.0.weight,\[4, 3, 3, 3\]," "$csv"
grep -q "^fc,fc.weight,\[3, 4\]," "$csv"
grep -q "^fc,fc.bias,\[3\]," "$csv"
test "$(wc -l < "$csv")" -eq 4
test -f "$work/run/exports/model.edgeopt"

# The template's surgery rule, enabled by name from a recipe: the toy model's
# one ReLU becomes hardtanh(0, 4).
test -f "$work/my-plugin/build/libedgeopt_relu_cap.so"
cat > "$work/surgery.yaml" <<'YAML'
version: 1
name: sdk-surgery
model: {source: toy, channels: 4, num_classes: 3}
stages:
  - kind: surgery
    preset: none
    rules: {relu_cap: {max: 4.0}}
YAML
(cd "$work" && "$prefix/bin/edgeopt-run" surgery.yaml --output surgery > surgery.out 2> surgery.err)
json="$work/surgery/stages/0-surgery/surgery.json"
python3 - "$json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["replacements"] == [{"rule": "relu_cap", "count": 1, "nodes": ["features.2"]}], j["replacements"]
assert j["before"]["ops"].get("relu") == 1 and "hardtanh" not in j["before"]["ops"], j["before"]
assert j["after"]["ops"].get("hardtanh") == 1 and "relu" not in j["after"]["ops"], j["after"]
PY
# The template's pruning parametrization, picked by name from a recipe: 3 BMP
# images per class (8x8, dark vs light), unstructured 50 % with `cubic`.
test -f "$work/my-plugin/build/libedgeopt_cubic_prune.so"
python3 - "$work/data" <<'PY'
import os, random, struct, sys
random.seed(0)
def bmp(pixels):  # 8x8 24-bit, rows of 24 bytes (no padding)
    return b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54) + struct.pack(
        "<IiiHHIIiiII", 40, 8, 8, 1, 24, 0, len(pixels), 2835, 2835, 0, 0) + pixels
for split in ("train", "val"):
    for c, (lo, hi) in enumerate(((0, 100), (150, 255))):
        d = os.path.join(sys.argv[1], split, "class%d" % c)
        os.makedirs(d, exist_ok=True)
        for i in range(3):
            pixels = bytes(random.randint(lo, hi) for _ in range(8 * 8 * 3))
            open(os.path.join(d, "%d.bmp" % i), "wb").write(bmp(pixels))
PY
cat > "$work/prune.yaml" <<'YAML'
version: 1
name: sdk-prune
model: {source: toy, channels: 4, num_classes: 2}
data: {dataset: imagenet, root: data, batch_size: 2, workers: 0}
stages:
  - kind: prune
    type: unstructured
    ratio: 0.5
    parametrization: cubic
    parametrization_options: {power: 3}
    init_train_epochs: 0
    epochs: 3
    lr: 0.01
YAML
(cd "$work" && "$prefix/bin/edgeopt-run" prune.yaml --output prune > prune.out 2> prune.err)
python3 - "$work/prune/stages/0-prune/prune.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["parametrization"] == "cubic", j
zeros = {l["tensor"]: (l["zeros"], l["elements"]) for l in j["layers"]}
assert zeros["features.0.weight"] == (54, 108), zeros
assert zeros["fc.weight"] == (4, 8), zeros
PY
echo "sdk: out-of-tree plugin built against $prefix and ran: OK"
