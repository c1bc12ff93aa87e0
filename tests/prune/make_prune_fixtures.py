"""Fixtures for test_channel_prune_models.cpp: torchvision models as TorchScript.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision):
    make_prune_fixtures.py OUT_DIR
writes OUT_DIR/<model>.script.pt (torch.jit.script, 10 classes, seed 0,
eval mode) for the torchvision families the zoo does not build, with random
BatchNorm statistics and affine parameters so pruned channels carry real
values:
    shufflenet_v2_x0_5   channel split + shuffle (barriers) around prunable branches
    densenet121          concat of every earlier layer (offsets into one BN)
    regnet_y_400mf       grouped convs and SE blocks
"""
import os
import sys

import torch
import torchvision

MODELS = ["shufflenet_v2_x0_5", "densenet121", "regnet_y_400mf"]


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for name in MODELS:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(num_classes=10).eval()
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.weight.uniform_(0.75, 1.25)
                    m.bias.normal_(0, 0.1)
                    m.running_mean.normal_(0, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
        torch.jit.script(model).save(os.path.join(out_dir, name + ".script.pt"))


if __name__ == "__main__":
    main()
