#!/usr/bin/env python3
"""Seed inputs for the fuzz harnesses: small valid files of each format.

   make_seeds.py OUT_DIR [BUILD_DIR]

Writes OUT_DIR/<target>/ for every harness. Fixtures the test suite writes at
test time (BUILD_DIR/test-work: exported ONNX and TorchScript files,
checkpoints, recipes, images) are copied when present, the smallest first;
the rest is generated here (tiny scripted models, IDX files, COCO JSON,
images of every decoded format and depth), so a fresh tree has seeds too.
The committed, minimized corpora (fuzz/corpus/<target>) are the usual start;
these seeds are for the first run and after a format change.
"""
import gzip
import io
import json
import os
import shutil
import struct
import sys
from pathlib import Path

out = Path(sys.argv[1])
build = Path(sys.argv[2]) if len(sys.argv) > 2 else None
root = Path(__file__).resolve().parent.parent


def target(name):
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def copy_smallest(pattern_dirs, suffixes, dest, limit, max_bytes, prefix=b""):
    files = []
    for d in pattern_dirs:
        if d and Path(d).is_dir():
            for p in Path(d).rglob("*"):
                if p.is_file() and p.suffix.lower() in suffixes and 0 < p.stat().st_size <= max_bytes:
                    files.append(p)
    # Distinct contents only, smallest first.
    seen, n = set(), 0
    for p in sorted(files, key=lambda p: (p.stat().st_size, str(p))):
        data = p.read_bytes()
        if data in seen:
            continue
        seen.add(data)
        (dest / f"fixture-{n:03d}{p.suffix}").write_bytes(prefix + data)
        n += 1
        if n >= limit:
            break
    return n


test_work = build / "test-work" if build else None

# Recipes: the shipped ones and those the tests write.
d = target("recipe")
n = copy_smallest([root / "recipes", root / "docs", test_work], {".yaml", ".yml"}, d, 120, 8192)
(d / "sets.yaml").write_text("#set vars.epochs=2\n#set stages.0.kind=train\n"
                             "vars: {epochs: 1}\nmodel: {source: zoo, name: resnet18}\n"
                             "stages:\n  - {kind: train, epochs: ${vars.epochs}}\n")

# ONNX: libonnx-testdata's one-node models, plus EdgeOpt's own exports.
d = target("onnx")
copy_smallest(["/usr/share/libonnx-testdata/data/node", "/usr/share/libonnx-testdata/data/simple"], {".onnx"},
              d, 250, 4096)
copy_smallest([test_work], {".onnx"}, d, 20, 65536)

# TorchScript: tiny scripted and traced models (the importer's main paths),
# plus the test fixtures when present.
d = target("torchscript")
copy_smallest([test_work], {".pt"}, d, 30, 65536)
import torch

class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, stride=1, padding=1)
        self.bn = torch.nn.BatchNorm2d(2)
        self.fc = torch.nn.Linear(2, 3)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)

torch.manual_seed(0)
m = Tiny().eval()
torch.jit.script(m).save(str(d / "scripted.pt"))
torch.jit.trace(m, torch.zeros(1, 1, 4, 4)).save(str(d / "traced.pt"))

# Checkpoints: only EdgeOpt writes them (the test suite's runs do).
d = target("checkpoint")
copy_smallest([test_work], {".edgeopt"}, d, 40, 65536)
(d / "magic-only.edgeopt").write_bytes(b"EDGEOPT\0" + struct.pack("<IQ", 1, 2) + b"{}")

# IDX: images (3 dims) and labels (1 dim), plain and gzipped.
d = target("idx")
images = bytes([0, 0, 8, 3]) + struct.pack(">III", 2, 3, 2) + bytes(range(12))
labels = bytes([0, 0, 8, 1]) + struct.pack(">I", 2) + bytes([3, 7])
for name, data in {"images": images, "labels": labels}.items():
    (d / f"{name}-idx-ubyte").write_bytes(data)
    (d / f"{name}-idx-ubyte.gz").write_bytes(gzip.compress(data, mtime=0))

# COCO: the shapes the coco dataset accepts (sparse category ids, crowd boxes,
# skipped categories, images without annotations).
d = target("coco")
coco = {
    "images": [{"id": 42, "file_name": "b.png", "width": 10, "height": 10},
               {"id": 5, "file_name": "a.png", "width": 30, "height": 20}],
    "categories": [{"id": 7, "name": "zebra"}, {"id": 3, "name": "ant"}, {"id": 0, "name": "_background_"}],
    "annotations": [{"id": 1, "image_id": 5, "category_id": 7, "bbox": [2, 3, 10, 5], "iscrowd": 0},
                    {"id": 2, "image_id": 5, "category_id": 3, "bbox": [0.5, 1, 4, 4], "iscrowd": 1},
                    {"id": 3, "image_id": 42, "category_id": 0, "bbox": [0, 0, 1, 1]}],
}
(d / "instances.json").write_text(json.dumps(coco))
(d / "empty.json").write_text('{"images": [], "categories": []}')

# Images: one leading byte picks the channel count (see fuzz_image.cpp).
d = target("image")
from PIL import Image

n = 0
for mode, size in [("L", (3, 2)), ("RGB", (4, 3)), ("RGBA", (2, 2)), ("I;16", (2, 3)), ("LA", (2, 2)),
                   ("P", (3, 3))]:
    img = Image.new(mode, size)
    for fmt in ["PNG", "JPEG", "BMP", "TIFF", "PPM"]:
        buf = io.BytesIO()
        try:
            img.save(buf, format=fmt)
        except (OSError, KeyError, ValueError):
            continue  # this format cannot hold this mode
        (d / f"{mode.replace(';', '')}-{fmt.lower()}.bin").write_bytes(bytes([n % 3]) + buf.getvalue())
        n += 1
buf = io.BytesIO()
Image.new("RGB", (16, 16)).save(buf, format="JPEG", progressive=True)
(d / "progressive-jpeg.bin").write_bytes(b"\0" + buf.getvalue())
copy_smallest([test_work], {".jpg", ".jpeg"}, d, 5, 8192, prefix=b"\0")
print(f"seeds written to {out}")
