"""Fixtures for the import-coverage tests (issue 13: test_input_shape.cpp,
test_import_coverage.cpp).

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision):
    make_coverage_fixtures.py OUT_DIR
It writes
    ocr_head.dynamic.onnx  a small OCR-style net (conv, then a reshape sized from
                           x.shape) exported with symbolic batch and width
                           (batch x 3 x 48 x W, as Paddle2ONNX writes them)
    ocr_head.batch.onnx    the same with only the batch symbolic ("batch")
    ocr_head.ref.pt        x (2x3x48x192) and eval_out
"""
import os
import sys

import torch
import torch.nn as nn

SEED = 0


class OcrHead(nn.Module):
    """conv -> [N, C, H*W] via x.shape -> transpose -> linear: the reshape's
    sizes come from Shape/Gather at run time in the ONNX file."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d((24, 1))
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = self.pool(torch.relu(self.bn(self.conv(x))))
        y = y.reshape(y.shape[0], y.shape[1], -1).transpose(1, 2)
        return self.fc(y)


def randomise_batch_norms(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)


def ocr_head(out_dir):
    torch.manual_seed(SEED)
    model = OcrHead()
    randomise_batch_norms(model)
    model.eval()
    x = torch.randn(2, 3, 48, 192)
    with torch.no_grad():
        eval_out = model(x)
        for name, axes in [("dynamic", {0: "batch", 3: "W"}), ("batch", {0: "batch"})]:
            torch.onnx.export(model, x[:1], os.path.join(out_dir, "ocr_head." + name + ".onnx"), opset_version=13,
                              input_names=["x"], output_names=["y"], dynamic_axes={"x": axes, "y": {0: "batch"}})
    torch.save({"x": x, "eval_out": eval_out}, os.path.join(out_dir, "ocr_head.ref.pt"))


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    ocr_head(out_dir)


if __name__ == "__main__":
    main()
