"""TorchScript references for bench_executor: torchvision models scripted, plus
their state_dicts so the EdgeOpt zoo model runs the very same weights.

Run with Debian's /usr/bin/python3:  make_torchscript_models.py OUT_DIR
Writes OUT_DIR/<model>.script.pt and OUT_DIR/<model>.state.pt.
"""
import os
import sys

import torch
import torchvision

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
for name in ["mobilenet_v2", "resnet18"]:
    model = getattr(torchvision.models, name)(num_classes=1000)
    torch.jit.script(model).save(os.path.join(out, name + ".script.pt"))
    torch.save(dict(model.state_dict()), os.path.join(out, name + ".state.pt"))
