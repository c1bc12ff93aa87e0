"""Fixtures for test_surgery_models.cpp: torchvision models as TorchScript.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision):
    make_surgery_fixtures.py OUT_DIR
writes OUT_DIR/<model>.script.pt (torch.jit.script, 3 classes, PyTorch's own
initialisation with seed 0) for the models the surgery table must clean up:
    mobilenet_v3_large   SE (hardsigmoid gate), Hardswish
    efficientnet_b0      SE (sigmoid gate, SiLU inside), SiLU
    regnet_y_400mf       SE (sigmoid gate, ReLU inside)
    shufflenet_v2_x0_5   nothing to replace (the table must leave it alone)
The weights need no reference outputs: the test compares ONNX Runtime with
EdgeOpt on the model EdgeOpt imported and changed.
"""
import os
import sys

import torch
import torchvision

MODELS = ["mobilenet_v3_large", "efficientnet_b0", "regnet_y_400mf", "shufflenet_v2_x0_5"]


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for name in MODELS:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(num_classes=3).eval()
        torch.jit.script(model).save(os.path.join(out_dir, name + ".script.pt"))


if __name__ == "__main__":
    main()
