"""Fixtures of the torchvision import sweep (issue 13, test_import_sweep.cpp).

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision 0.14):
    make_sweep_fixtures.py --list
prints every classifier of torchvision.models.list_models(module=models), one
line each: "<name> <input size> <how it is built>";
    make_sweep_fixtures.py OUT_DIR NAME... [--onnx NAME...]
writes, for each NAME, built with num_classes=10 in eval mode:
    <name>.script.pt   torch.jit.script(model) saved, or absent when scripting fails
    <name>.opset13.onnx, <name>.opset17.onnx (the names after --onnx)
                       torch.onnx.export of the eval-mode model, input "x" with
                       symbolic dims batch x 3 x height x width (dynamic_axes),
                       or batch x 3 x S x S where torch.onnx can't export
                       symbolic sizes (adaptive pooling to sizes other than 1)
    <name>.ref.pt      x (2x3xSxS), eval_out; target, loss, train_out and
                       after (every parameter and buffer) of one SGD step in
                       train mode (lr 0.1, momentum 0.9, weight decay 1e-4) with
                       every Dropout and StochasticDepth at p = 0, so no
                       model's step is random (the functional dropouts of
                       attention are already p = 0 as built)
    <name>.json        {"input": S, "build": ..., "params": N, "error": "..." when scripting failed,
                        "train_error": "..." when PyTorch's own training step failed,
                        "onnx13_dynamic"/"onnx17_dynamic": the symbolic dims,
                        "onnx13_error"/"onnx17_error": "..." when torch.onnx.export failed}
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
import torch.nn.functional as F
from torchvision import models
from torchvision.models import regnet, vision_transformer
from torchvision.ops import StochasticDepth

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


def first_line(e):
    lines = str(e).strip().splitlines()
    return type(e).__name__ + (": " + lines[0] if lines else "")


def export_onnx(model, x, path, opset, sizes):
    dims = {0: "batch", 2: "height", 3: "width"} if sizes else {0: "batch"}
    torch.onnx.export(model, x, path, opset_version=opset, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": dims, "y": {0: "batch"}})


def sgd_step(model, x, target):
    """One training step as the C++ side takes it; the reference values."""
    for m in model.modules():
        if isinstance(m, (nn.Dropout, StochasticDepth)):
            m.p = 0.0
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    train_out = model(x)
    if not isinstance(train_out, torch.Tensor):  # GoogLeNet/Inception in training: main + aux logits
        train_out = train_out[0]
    loss = F.cross_entropy(train_out, target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return {"target": target, "loss": loss.detach(), "train_out": train_out.detach(), "after": after}


def write(out_dir, name, onnx):
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
    try:
        torch.jit.script(model).save(os.path.join(out_dir, name + ".script.pt"))
    except Exception as e:  # noqa: BLE001 - reported in the sweep table
        info["error"] = "torch.jit.script: " + first_line(e)
    for opset in [13, 17] if onnx else []:
        path = os.path.join(out_dir, "%s.opset%d.onnx" % (name, opset))
        # Symbolic height and width where torch.onnx can (not through
        # adaptive pooling to a size other than 1), else the batch alone.
        for sizes in [True, False]:
            try:
                export_onnx(model, x, path, opset, sizes)
                info["onnx%d_dynamic" % opset] = "batch, height, width" if sizes else "batch"
                info.pop("onnx%d_error" % opset, None)
                break
            except Exception as e:  # noqa: BLE001 - reported in the sweep table
                info["onnx%d_error" % opset] = "torch.onnx.export: " + first_line(e)
    ref = {"x": x, "eval_out": out}
    try:
        ref.update(sgd_step(model, x, torch.tensor([1, 7])))
    except Exception as e:  # noqa: BLE001 - inception_v3's aux classifier needs larger inputs in training
        info["train_error"] = "PyTorch training step: " + first_line(e)
    torch.save(ref, os.path.join(out_dir, name + ".ref.pt"))
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(info, f)


def main():
    torch.set_num_threads(1)
    if sys.argv[1:] == ["--list"]:
        for name in classifier_names():
            print(name, input_size(name))
        return
    out_dir, onnx = sys.argv[1], False
    os.makedirs(out_dir, exist_ok=True)
    for name in sys.argv[2:]:
        if name == "--onnx":  # the names after it get torch.onnx exports too
            onnx = True
        else:
            write(out_dir, name, onnx)


if __name__ == "__main__":
    main()
