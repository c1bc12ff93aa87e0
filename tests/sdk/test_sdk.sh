#!/usr/bin/env bash
# usage: test_sdk.sh SOURCE_DIR BUILD_DIR WORK_DIR
# Executes docs/plugins.md's walk-through: its commands, CSV and recipe come
# from the guide's fenced blocks (doc_blocks.py), and its C++/CMake blocks
# must be verbatim from the installed headers and template; then checks what
# the four template plugins did, exactly.
set -euo pipefail
src=$1 build=$2 work=$3
doc="$src/docs/plugins.md"
started=$SECONDS
rm -rf "$work" && mkdir -p "$work/home" "$work/checkout"
fail() { echo "sdk: $*" >&2; exit 1; }

# Every block of the guide, written out; the test uses each one.
blocks=$(python3 "$src/tests/sdk/doc_blocks.py" "$doc" - "$work")
expected=$'install.sh\nbuild.sh\ndata/train.csv\nwalkthrough.yaml\nrun.sh\nbad-label.err'
[ "$blocks" = "$expected" ] || fail "docs/plugins.md's blocks are now [$blocks]: update test_sdk.sh to run each"

# 1. Install, as the guide says, from a checkout whose build/ is ours.
ln -s "$build" "$work/checkout/build"
(cd "$work/checkout" && HOME="$work/home" bash -euo pipefail "$work/install.sh") > "$work/install.log"
export EDGEOPT="$work/home/edgeopt"
test -x "$EDGEOPT/bin/edgeopt-run"
test -f "$EDGEOPT/lib/cmake/EdgeOpt/EdgeOptConfig.cmake"
# The guide's code blocks are the installed files.
python3 "$src/tests/sdk/doc_blocks.py" "$doc" "$EDGEOPT" "$work/doc-check" > /dev/null

# 2. Build the template out of tree against the SDK only (ccache, optimised: by environment).
command -v ccache > /dev/null && export CMAKE_CXX_COMPILER_LAUNCHER=ccache
export CMAKE_BUILD_TYPE=Release
(cd "$work" && bash -euo pipefail build.sh) > "$work/build.out" 2> "$work/build.err" || {
  tail -20 "$work/build.err" >&2; fail "the guide's build step failed"; }
for p in csv_list relu_cap cubic_prune weight_stats; do
  grep -q "^$p 1.0.0 (plugin API 1) $work/my-plugin/build/libedgeopt_$p.so$" "$work/build.out" ||
    fail "--list-plugins does not list $p"
done
grep -q "^export 0.1.0 (plugin API 1) $EDGEOPT/lib/edgeopt/plugins/libedgeopt_export.so$" "$work/build.out"

# Data for the guide's train.csv and a val.csv of the same form, 8x8 BMPs:
# "dark" pixels in [0, 100], "light" in [150, 255]. The same files also as
# image folders (folder/<split>/<class>/NNN.bmp, in the CSV's order) for the
# built-in `imagenet` dataset.
python3 - "$work" <<'PY'
import os, random, struct, sys
work = sys.argv[1]
random.seed(0)
train = open(os.path.join(work, "data/train.csv")).read()
open(os.path.join(work, "data/val.csv"), "w").write(train.replace("images/train-", "images/val-"))
def bmp(pixels):  # 8x8 24-bit, rows of 24 bytes (no padding)
    return b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54) + struct.pack(
        "<IiiHHIIiiII", 40, 8, 8, 1, 24, 0, len(pixels), 2835, 2835, 0, 0) + pixels
for split in ("train", "val"):
    rows = [l.rsplit(",", 1) for l in open(os.path.join(work, "data", split + ".csv")).read().split("\n")[1:] if l]
    assert [c for _, c in rows] == sorted(c for _, c in rows), "the CSV must list classes in sorted order " \
        "for the image-folder comparison"
    for n, (path, cls) in enumerate(rows):
        lo, hi = {"dark": (0, 100), "light": (150, 255)}[cls]
        data = bmp(bytes(random.randint(lo, hi) for _ in range(8 * 8 * 3)))
        os.makedirs(os.path.dirname(os.path.join(work, "data", path)), exist_ok=True)
        open(os.path.join(work, "data", path), "wb").write(data)
        folder = os.path.join(work, "folder", split, cls)
        os.makedirs(folder, exist_ok=True)
        open(os.path.join(folder, "%03d.bmp" % n), "wb").write(data)
PY

# 3. The guide's recipe, run by the guide's command.
(cd "$work" && bash -euo pipefail run.sh) > "$work/run.out" 2> "$work/run.err" || {
  tail -5 "$work/run.err" >&2; fail "the guide's recipe failed"; }
# The same recipe on the same images through the built-in `imagenet` loader.
python3 - "$work" <<'PY'
import os, sys, yaml
work = sys.argv[1]
r = yaml.safe_load(open(os.path.join(work, "walkthrough.yaml")))
assert r["data"].pop("dataset") == "csv_list" and r["data"].pop("classes") == ["dark", "light"], r["data"]
r["data"].update(dataset="imagenet", root="folder")
r["plugins"] = [p for p in r["plugins"] if "csv_list" not in p]
yaml.safe_dump(r, open(os.path.join(work, "folder.yaml"), "w"), sort_keys=False)
PY
(cd "$work" && "$EDGEOPT/bin/edgeopt-run" folder.yaml --output runs/folder > folder.out 2> folder.err) || {
  tail -5 "$work/folder.err" >&2; fail "the image-folder run failed"; }

python3 - "$work" <<'PY'
import csv, hashlib, json, os, sys
work = sys.argv[1]
run = os.path.join(work, "runs/walkthrough")
# Surgery: relu_cap replaced simple_cnn's two ReLUs.
j = json.load(open(os.path.join(run, "stages/0-surgery/surgery.json")))
assert j["replacements"] == [{"rule": "relu_cap", "count": 2, "nodes": ["features.2", "features.6"]}], j["replacements"]
assert j["before"]["ops"].get("relu") == 2 and "hardtanh" not in j["before"]["ops"], j["before"]
assert j["after"]["ops"].get("hardtanh") == 2 and "relu" not in j["after"]["ops"], j["after"]
# Prune with `cubic`: exactly half of each conv/linear weight is zero.
j = json.load(open(os.path.join(run, "stages/1-prune/prune.json")))
assert j["parametrization"] == "cubic", j
zeros = {l["tensor"]: (l["zeros"], l["elements"]) for l in j["layers"]}
assert zeros == {"features.0.weight": (216, 432), "features.4.weight": (2304, 4608),
                 "classifier.weight": (32, 64)}, zeros
# weight_stats after pruning: one row per weight/bias of the default selectors.
rows = list(csv.reader(open(os.path.join(run, "stages/2-weight_stats/weight_stats.csv"))))
assert rows[0] == ["layer", "tensor", "shape", "mean", "std", "max_abs", "zero_fraction"], rows[0]
got = [(r[0], r[1], r[2], float(r[6])) for r in rows[1:]]
assert got == [("features.0", "features.0.weight", "[16, 3, 3, 3]", 0.5),
               ("features.4", "features.4.weight", "[32, 16, 3, 3]", 0.5),
               ("classifier", "classifier.weight", "[2, 32]", 0.5),
               ("classifier", "classifier.bias", "[2]", 0.0)], got
# csv_list: counts, and the labels it read (in the fingerprint: path, size, label per example).
m = json.load(open(os.path.join(run, "manifest.json")))["data"]
listing = ""
for split in ("train", "val"):
    listing += split + "\n"
    for line in open(os.path.join(work, "data", split + ".csv")).read().split("\n")[1:]:
        if line:
            path, cls = line.rsplit(",", 1)
            listing += "%s %d %d\n" % (path, os.path.getsize(os.path.join(work, "data", path)), ["dark", "light"].index(cls))
want = "csv_list train=6 val=6 sha256=" + hashlib.sha256(listing.encode()).hexdigest()
assert (m["dataset"], m["plugin"], m["train_size"], m["val_size"], m["classes"]) == ("csv_list", "csv_list", 6, 6, 2), m
assert m["fingerprint"] == want, (m["fingerprint"], want)
# Known answer: the same images through `imagenet` train and score identically
# (same decode, transforms, labels and order): every metrics row, bit for bit.
def rows_of(name):
    out = []
    for line in open(os.path.join(work, "runs", name, "metrics.jsonl")):
        r = json.loads(line)
        for timing in ("images_per_sec", "seconds"):
            r.pop(timing, None)
        out.append(r)
    return out
ours, folders = rows_of("walkthrough"), rows_of("folder")
assert [r["kind"] for r in ours] == ["surgery"] + ["prune"] * 3 + ["evaluate"], ours
assert ours[-1]["val_images"] == 6, ours[-1]
assert ours == folders, (ours, folders)
assert open(os.path.join(run, "stages/2-weight_stats/weight_stats.csv")).read() == \
    open(os.path.join(work, "runs/folder/stages/2-weight_stats/weight_stats.csv")).read()
PY

# Bad input: one `error:` line naming the CSV file and line, exit code 5.
bad_run() {  # NAME EXPECTED_ERROR_LINE: runs the recipe on the data as it is now
  local rc=0
  (cd "$work" && "$EDGEOPT/bin/edgeopt-run" walkthrough.yaml --output "runs/$1" > "$1.out" 2> "$1.err") || rc=$?
  [ "$rc" -eq 5 ] || fail "$1: exit code $rc, expected 5"
  [ "$(grep -c '^error: ' "$work/$1.err")" -eq 1 ] || fail "$1: not one error line: $(cat "$work/$1.err")"
  [ "$(tail -1 "$work/$1.err")" = "$2" ] || fail "$1: got '$(tail -1 "$work/$1.err")', expected '$2'"
}
cp "$work/data/val.csv" "$work/val.csv.good"
python3 - "$work/data/val.csv" <<'PY'  # the guide's mistake: line 5's class mistyped
import sys
lines = open(sys.argv[1]).read().split("\n")
path, cls = lines[4].rsplit(",", 1)
assert cls == "light", lines[4]
lines[4] = path + ",ligth"
open(sys.argv[1], "w").write("\n".join(lines))
PY
bad_run bad-label "$(cat "$work/bad-label.err")"
cp "$work/val.csv.good" "$work/data/val.csv"
mv "$work/data/images/val-1.bmp" "$work/val-1.bmp"
prefix="walkthrough.yaml:21:5: stages.1: stage 'prune' (plugin prune) failed: walkthrough.yaml:10:3: data: dataset 'csv_list' (plugin csv_list) failed: "
bad_run missing-image "error: ${prefix}data/val.csv:3: data/images/val-1.bmp: no such file"
head -c 100 "$work/val-1.bmp" > "$work/data/images/val-1.bmp"  # truncated: fails in the loader, mid-stage
bad_run truncated-image "error: walkthrough.yaml:21:5: stages.1: stage 'prune' (plugin prune) failed: data/val.csv:3: data/images/val-1.bmp: truncated BMP (100 of 246 bytes) (data.on_bad_data: skip would skip it)"

echo "sdk: the guide's walk-through ran against $EDGEOPT: OK ($((SECONDS - started)) s)"
