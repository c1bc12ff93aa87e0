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
"""
import os
import sys

import torch
import torch.nn.functional as F
import torchvision

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
}


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
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    train_out = model(x)
    loss = F.cross_entropy(train_out, target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = {k: v.detach().clone() for k, v in model.state_dict().items() if k in WATCHED[name]}

    torch.save({"state": state, "x": x, "target": target, "eval_out": eval_out,
                "loss": loss.detach(), "train_out": train_out.detach(), "after": after},
               os.path.join(out_dir, name + ".pt"))


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    for name in WATCHED:
        make(name, out_dir)


if __name__ == "__main__":
    main()
