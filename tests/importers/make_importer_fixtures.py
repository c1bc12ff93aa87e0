"""Fixtures for test_importers.cpp (TorchScript and ONNX model sources).

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision):
    make_importer_fixtures.py OUT_DIR
For each torchvision model below it writes
    OUT_DIR/<model>.script.pt   torch.jit.script(model).save(...)
    OUT_DIR/<model>.ref.pt      torch.save of a dict:
        x, target        input batch (2x3x64x64) and labels
        eval_out         output in eval mode
        loss, train_out  cross-entropy loss and output of one training step
                         (SGD lr 0.1, momentum 0.9, weight decay 1e-4; dropout
                         and stochastic depth p = 0, as the C++ side sets them)
        after            a few weights and BN buffers after that step
and, for mobilenet_v2 and resnet18, the same model (before training) as
    OUT_DIR/<model>.traced.pt   torch.jit.trace in eval mode
    OUT_DIR/<model>.onnx        torch.onnx.export, opset 13
    OUT_DIR/resnet18.train.onnx the same without folding BatchNorm into Conv
Small hand-written modules exercise the error paths:
    unsupported.script.pt       ops the IR lacks (aten::cumsum, aten::flip)
    data_dependent.script.pt    control flow on a tensor value
    view_net.{script,traced}.pt x.view(x.size(0), -1), two outputs (ref: view_net.ref.pt)
    shufflenet_v2_x0_5.script.pt  views sized from x.size() (ref: .ref.pt, eval only)
    unsupported.onnx            ONNX operators the IR lacks (Sin, LogSoftmax, 3-d Conv)
"""
import os
import sys

import onnx
import onnx.helper as oh
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.ops import StochasticDepth

SEED = 0
NUM_CLASSES = 10
MODELS = ["mobilenet_v2", "mobilenet_v3_large", "resnet18", "resnet50", "efficientnet_b0", "regnet_x_800mf"]
TRACED = ["mobilenet_v2", "resnet18"]


def randomise_batch_norms(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)


def watched(state):
    """A few tensors to compare after the training step: first, middle and
    last weights, the first BN's buffers and the last BN's running_var."""
    keys = list(state.keys())
    weights = [k for k in keys if k.endswith(".weight")]
    out = [weights[0], weights[len(weights) // 2], keys[-2], keys[-1]]
    for suffix in ["running_mean", "running_var", "num_batches_tracked"]:
        out.append(next(k for k in keys if k.endswith(suffix)))
    out.append([k for k in keys if k.endswith("running_var")][-1])
    return out


def make(name, out_dir):
    torch.manual_seed(SEED)
    model = getattr(torchvision.models, name)(num_classes=NUM_CLASSES)
    randomise_batch_norms(model)
    model.eval()
    torch.jit.script(model).save(os.path.join(out_dir, name + ".script.pt"))
    x = torch.randn(2, 3, 64, 64)
    target = torch.tensor([1, 7])
    with torch.no_grad():
        eval_out = model(x)
    if name in TRACED:
        with torch.no_grad():
            torch.jit.trace(model, x).save(os.path.join(out_dir, name + ".traced.pt"))
            torch.onnx.export(model, x, os.path.join(out_dir, name + ".onnx"), opset_version=13,
                              input_names=["x"], output_names=["y"])
            if name == "resnet18":  # BatchNormalization kept, state_dict names kept
                torch.onnx.export(model, x, os.path.join(out_dir, name + ".train.onnx"), opset_version=13,
                                  input_names=["x"], output_names=["y"], do_constant_folding=False,
                                  training=torch.onnx.TrainingMode.PRESERVE)

    for m in model.modules():
        if isinstance(m, (nn.Dropout, StochasticDepth)):
            m.p = 0.0
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    train_out = model(x)
    loss = F.cross_entropy(train_out, target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    state = model.state_dict()
    after = {k: state[k].detach().clone() for k in watched(state)}
    torch.save({"x": x, "target": target, "eval_out": eval_out, "loss": loss.detach(),
                "train_out": train_out.detach(), "after": after},
               os.path.join(out_dir, name + ".ref.pt"))


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = torch.cumsum(self.conv(x), 1)
        y = torch.flip(y, [2])
        return torch.cumsum(y, 2)


class DataDependent(nn.Module):
    def forward(self, x):
        if bool(x.sum() > 0):
            return x * 2.0
        return x


class ViewNet(nn.Module):
    """x.view(x.size(0), -1) and friends: sizes known only at run time."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)
        self.fc = nn.Linear(4 * 3 * 3, 5)

    def forward(self, x):
        y = F.relu(self.conv(x))
        y = y.view(y.size(0), -1)
        return torch.softmax(self.fc(y) * 2.0 - 1.0, dim=1), 0.5 * y


def view_net(out_dir):
    torch.manual_seed(SEED)
    model = ViewNet().eval()
    x = torch.randn(2, 3, 7, 7)
    with torch.no_grad():
        out = model(x)
        torch.jit.script(model).save(os.path.join(out_dir, "view_net.script.pt"))
        torch.jit.trace(model, x).save(os.path.join(out_dir, "view_net.traced.pt"))
    torch.save({"x": x, "out0": out[0], "out1": out[1]}, os.path.join(out_dir, "view_net.ref.pt"))


def shufflenet(out_dir):
    """channel_shuffle views with sizes read from x.size(): imports given input_shape."""
    torch.manual_seed(SEED)
    model = torchvision.models.shufflenet_v2_x0_5(num_classes=NUM_CLASSES)
    randomise_batch_norms(model)
    model.eval()
    torch.jit.script(model).save(os.path.join(out_dir, "shufflenet_v2_x0_5.script.pt"))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.save({"x": x, "eval_out": model(x)}, os.path.join(out_dir, "shufflenet_v2_x0_5.ref.pt"))


def unsupported_onnx(path):
    f = onnx.TensorProto.FLOAT
    w = oh.make_tensor("w3d", f, [2, 2, 3, 3, 3], [0.1] * 108)
    nodes = [
        oh.make_node("Relu", ["x"], ["r"], name="relu_1"),
        oh.make_node("Sin", ["r"], ["e"], name="sin_1"),
        oh.make_node("LogSoftmax", ["e"], ["l"], name="logsoftmax_1"),
        oh.make_node("Relu", ["l"], ["y1"], name="relu_2"),
        oh.make_node("Conv", ["v", "w3d"], ["y2"], name="conv_3d"),
    ]
    graph = oh.make_graph(nodes, "unsupported",
                          [oh.make_tensor_value_info("x", f, [1, 3, 8, 8]),
                           oh.make_tensor_value_info("v", f, [1, 2, 4, 4, 4])],
                          [oh.make_tensor_value_info("y1", f, [1, 3, 8, 8]),
                           oh.make_tensor_value_info("y2", f, [1, 2, 2, 2, 2])], [w])
    onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 13)]), path)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    for name in MODELS:
        make(name, out_dir)
    torch.jit.script(Unsupported()).save(os.path.join(out_dir, "unsupported.script.pt"))
    torch.jit.script(DataDependent()).save(os.path.join(out_dir, "data_dependent.script.pt"))
    unsupported_onnx(os.path.join(out_dir, "unsupported.onnx"))
    view_net(out_dir)
    shufflenet(out_dir)


if __name__ == "__main__":
    main()
