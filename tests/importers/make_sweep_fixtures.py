"""Fixtures of the torchvision import sweep (issue 13, test_import_sweep.cpp).

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision 0.14):
    make_sweep_fixtures.py --list
prints every classifier of torchvision.models.list_models(module=models), one
line each: "<name> <input size> <how it is built>";
    make_sweep_fixtures.py OUT_DIR NAME...
writes, for each NAME, built with num_classes=10 in eval mode:
    <name>.script.pt   torch.jit.script(model) saved, or absent when scripting fails
    <name>.ref.pt      x (2x3xSxS) and eval_out
    <name>.json        {"input": S, "build": ..., "params": N, "error": "..." when scripting failed}
BatchNorm statistics and affine parameters are randomised so that outputs are
not tiny. The input is the smallest size the model takes without changing it
(64 px for most, 96 for the Inception family, 224 for MaxViT, whose partitions
are sized for it); ViTs are built for 32 px (their image_size). Models over
200 M parameters are built with fewer layers of the same shape (the ops are
the same; the protobuf of an ONNX export holds at most 2 GB).
"""
import json
import os
import sys

import torch
import torch.nn as nn
from torchvision import models
from torchvision.models import regnet, vision_transformer

SEED = 0

SIZES = {"inception_v3": 96, "googlenet": 96, "maxvit_t": 224}

# ViTs: (patch, layers, heads, hidden, mlp) as torchvision builds them.
VITS = {
    "vit_b_16": (16, 12, 12, 768, 3072),
    "vit_b_32": (32, 12, 12, 768, 3072),
    "vit_l_16": (16, 24, 16, 1024, 4096),
    "vit_l_32": (32, 24, 16, 1024, 4096),
    "vit_h_14": (14, 32, 16, 1280, 5120),
}


def classifier_names():
    return sorted(models.list_models(module=models))


def input_size(name):
    if name in VITS:
        return 2 * VITS[name][0]  # 2x2 patches
    return SIZES.get(name, 64)


def build(name):
    """The model and a description of how it was built."""
    if name in VITS:
        patch, layers, heads, hidden, mlp = VITS[name]
        reduced = layers > 12
        model = vision_transformer.VisionTransformer(
            image_size=input_size(name), patch_size=patch, num_layers=2 if reduced else layers,
            num_heads=heads, hidden_dim=hidden, mlp_dim=mlp, num_classes=10)
        return model, ("2 of %d layers, image_size %d" % (layers, input_size(name)) if reduced
                       else "image_size %d" % input_size(name))
    if name == "regnet_y_128gf":
        # regnet_y_128gf's block parameters at depth 4 (of 27): 4 stages as built.
        params = regnet.BlockParams.from_init_params(depth=4, w_0=456, w_a=160.83, w_m=2.52,
                                                     group_width=264, se_ratio=0.25)
        return regnet.RegNet(params, num_classes=10), "depth 4 of 27"
    kwargs = {"num_classes": 10}
    if name in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = True
    if name == "maxvit_t":
        kwargs["input_size"] = (224, 224)
    return models.get_model(name, **kwargs), "as built"


def randomise_norms(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)


def write(out_dir, name):
    torch.manual_seed(SEED)
    model, how = build(name)
    randomise_norms(model)
    model.eval()
    size = input_size(name)
    info = {"input": size, "build": how, "params": sum(p.numel() for p in model.parameters())}
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        out = model(x)
    if not isinstance(out, torch.Tensor):
        out = out[0]
    torch.save({"x": x, "eval_out": out}, os.path.join(out_dir, name + ".ref.pt"))
    try:
        torch.jit.script(model).save(os.path.join(out_dir, name + ".script.pt"))
    except Exception as e:  # noqa: BLE001 - reported in the sweep table
        info["error"] = "torch.jit.script: " + str(e).strip().splitlines()[0]
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(info, f)


def main():
    torch.set_num_threads(1)
    if sys.argv[1:] == ["--list"]:
        for name in classifier_names():
            print(name, input_size(name))
        return
    out_dir, names = sys.argv[1], sys.argv[2:]
    os.makedirs(out_dir, exist_ok=True)
    for name in names:
        write(out_dir, name)


if __name__ == "__main__":
    main()
