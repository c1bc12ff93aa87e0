"""Reference outputs from torchvision for test_torchvision.cpp.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision):
    make_torchvision_fixtures.py OUT_DIR
For each model it writes OUT_DIR/<model>.pt (torch.save of a dict):
    state      state_dict before training (BN stats randomised so eval is
               a real test, not an identity)
    x, target  input batch and labels
    eval_out   output in eval mode
    loss, train_out  cross-entropy loss and output of one training step
    after      selected tensors after one SGD step (lr 0.1, momentum 0.9,
               weight decay 1e-4): weights and BN running stats
    sd_out     (efficientnet_b0) training-mode output with stochastic depth on
               (dropout off) right after torch.manual_seed(SD_SEED)
Dropout and stochastic depth are off (p = 0) in the training step.
For the YOLO-style detector (yolo_reference.py, with 10 classes) it writes
OUT_DIR/yolov5n.pt with state, x, eval_out and train_out (lists of the three
head maps), loss (sum of the mean squares of the maps), after, and params
(the reference's parameter count).
"""
import copy
import os
import sys

import torch
import torch.nn.functional as F
import torchvision

import yolo_reference

SEED = 0
NUM_CLASSES = 10
WATCHED = {
    "mobilenet_v2": ["features.0.0.weight", "features.3.conv.1.0.weight", "classifier.1.weight",
                     "features.0.1.running_mean", "features.0.1.running_var",
                     "features.0.1.num_batches_tracked", "features.17.conv.3.running_var"],
    "mobilenet_v3_small": ["features.0.0.weight", "features.1.block.0.1.running_mean",
                           "features.4.block.2.fc1.weight", "features.4.block.2.fc2.bias",
                           "classifier.0.weight", "classifier.3.weight"],
    "resnet18": ["conv1.weight", "layer2.0.downsample.0.weight", "fc.weight", "fc.bias",
                 "bn1.running_mean", "bn1.running_var", "layer4.1.bn2.running_mean"],
    "efficientnet_b0": ["features.0.0.weight", "features.1.0.block.1.fc1.bias", "features.2.1.block.1.0.weight",
                        "features.6.3.block.3.1.running_var", "features.8.1.running_mean", "classifier.1.weight",
                        "classifier.1.bias"],
    "regnet_x_800mf": ["stem.0.weight", "stem.1.running_mean", "trunk_output.block1.block1-0.proj.0.weight",
                       "trunk_output.block3.block3-6.f.b.0.weight", "trunk_output.block4.block4-4.f.c.1.running_var",
                       "fc.weight", "fc.bias"],
}
YOLO_WATCHED = ["model.0.conv.weight", "model.0.bn.running_mean", "model.2.m.0.cv2.conv.weight",
                "model.9.cv2.bn.running_var", "model.17.cv3.conv.weight", "model.24.m.0.weight",
                "model.24.m.2.bias"]
SD_SEED = 1234


def randomise_batch_norms(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)


def make(name, out_dir):
    torch.manual_seed(SEED)
    model = getattr(torchvision.models, name)(num_classes=NUM_CLASSES)
    randomise_batch_norms(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 64, 64)
    target = torch.tensor([1, 7])

    model.eval()
    with torch.no_grad():
        eval_out = model(x)

    # Dropout is random; the C++ side sets p = 0 on its dropout nodes too.
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    extra = {}
    if any(isinstance(m, torchvision.ops.StochasticDepth) for m in model.modules()):
        # The same seed must give the same drops in the C++ executor.
        sd_model = copy.deepcopy(model).train()
        torch.manual_seed(SD_SEED)
        with torch.no_grad():
            extra["sd_out"] = sd_model(x)
        for m in model.modules():
            if isinstance(m, torchvision.ops.StochasticDepth):
                m.p = 0.0
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    train_out = model(x)
    loss = F.cross_entropy(train_out, target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = {k: v.detach().clone() for k, v in model.state_dict().items() if k in WATCHED[name]}

    torch.save({"state": state, "x": x, "target": target, "eval_out": eval_out,
                "loss": loss.detach(), "train_out": train_out.detach(), "after": after, **extra},
               os.path.join(out_dir, name + ".pt"))


def make_yolo(name, out_dir):
    torch.manual_seed(SEED)
    model = yolo_reference.YoloV5(name, num_classes=NUM_CLASSES)
    randomise_batch_norms(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 64, 64)

    model.eval()
    with torch.no_grad():
        eval_out = model(x)

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    train_out = model(x)
    loss = sum(o.pow(2).mean() for o in train_out)
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = {k: v.detach().clone() for k, v in model.state_dict().items() if k in YOLO_WATCHED}

    torch.save({"state": state, "x": x, "eval_out": eval_out, "loss": loss.detach(),
                "train_out": [o.detach() for o in train_out], "after": after,
                "params": torch.tensor(sum(p.numel() for p in model.parameters()))},
               os.path.join(out_dir, name + ".pt"))


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    for name in WATCHED:
        make(name, out_dir)
    make_yolo("yolov5n", out_dir)


if __name__ == "__main__":
    main()
