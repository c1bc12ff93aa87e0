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
For the torchvision classifiers in CLASSIFIERS (num_classes 10, at a reduced
input size), as make_importer_fixtures.py writes them:
    <model>.script.pt      torch.jit.script(model).save(...)
    <model>.ref.pt         x, target, eval_out, loss, train_out, after (see
                           tests/importers/script_parity.h)
with non-trivial normalization state (BatchNorm statistics, LayerNorm affine,
ConvNeXt's layer scale) so that outputs are not tiny, and
    adaptive_pool.script.pt  adaptive average pools whose sizes do not divide
                             the input's (6x6 -> 4x4, 6x6 -> 3x5), live in eval;
    adaptive_pool.ref.pt     x (2x3x6x6), eval_out (the two pools, flattened
                             and concatenated)
and a transformer encoder block (pre-LayerNorm, 4-head attention by MatMul and
Softmax, exact-GELU MLP) on 2x16x32 tokens, exported by torch.onnx with a
symbolic batch:
    encoder_block.opset13.onnx  LayerNorm spelled ReduceMean/Sub/Pow/Sqrt/Div,
                                GELU as Erf
    encoder_block.opset17.onnx  LayerNormalization
    encoder_block.ref.pt        x, eval_out
and ViT's class token, scripted:
    cls_token.script.pt  patches (conv), cls_token.expand(x.shape[0], -1, -1),
                         cat, x[:, 0] (aten::select), linear
    cls_token.ref.pt     x (2x3x8x8), eval_out
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.ops import StochasticDepth

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


# name -> input size (ConvNeXt reduces 32x, GoogLeNet's aux classifiers see
# size/16: 96 px gives 6x6, which does not divide into their 4x4 pool).
# vit_small: vit_b_16's patches (16 px) and structure at a reduced size (32 px
# images, 2 layers, width 64, 4 heads).
CLASSIFIERS = {"convnext_tiny": 32, "googlenet": 96, "vit_small": 32}


def build(name):
    if name == "googlenet":
        return torchvision.models.googlenet(num_classes=10, aux_logits=True, init_weights=False)
    if name == "vit_small":
        return torchvision.models.vision_transformer.VisionTransformer(
            image_size=32, patch_size=16, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=10)
    return getattr(torchvision.models, name)(num_classes=10)


def randomise_norms(model):
    randomise_batch_norms(model)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
            if hasattr(m, "layer_scale"):  # torchvision CNBlock: 1e-6 at init
                m.layer_scale.uniform_(0.1, 0.5)
            if isinstance(m, nn.Linear) and not m.weight.any():  # ViT's head: zeros at init
                m.reset_parameters()


def watched(state):
    """A few tensors to compare after the training step: first, middle and
    last weights, and the first and last BN buffers when there are any."""
    keys = list(state.keys())
    weights = [k for k in keys if k.endswith(".weight")]
    out = [weights[0], weights[len(weights) // 2], keys[-2], keys[-1]]
    for suffix in ["running_mean", "running_var", "num_batches_tracked"]:
        out += [k for k in keys if k.endswith(suffix)][:1]
    out += [k for k in keys if k.endswith("running_var")][-1:]
    return list(dict.fromkeys(out))


def classifier(name, size, out_dir):
    torch.manual_seed(SEED)
    model = build(name)
    randomise_norms(model)
    model.eval()
    torch.jit.script(model).save(os.path.join(out_dir, name + ".script.pt"))
    x = torch.randn(2, 3, size, size)
    target = torch.tensor([1, 7])
    with torch.no_grad():
        eval_out = model(x)
    if not isinstance(eval_out, torch.Tensor):  # GoogLeNetOutputs(logits, None, None) when scripted
        eval_out = eval_out[0]
    for m in model.modules():
        if isinstance(m, (nn.Dropout, StochasticDepth)):
            m.p = 0.0
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    train_out = model(x)
    if not isinstance(train_out, torch.Tensor):  # GoogLeNet in training: main + aux logits
        train_out = train_out[0]
    loss = F.cross_entropy(train_out, target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    state = model.state_dict()
    after = {k: state[k].detach().clone() for k in watched(state)}
    torch.save({"x": x, "target": target, "eval_out": eval_out, "loss": loss.detach(),
                "train_out": train_out.detach(), "after": after},
               os.path.join(out_dir, name + ".ref.pt"))


class AdaptivePool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.pool2 = nn.AdaptiveAvgPool2d((3, 5))

    def forward(self, x):
        y = self.conv(x)
        return torch.cat([torch.flatten(self.pool(y), 1), torch.flatten(self.pool2(y), 1)], 1)


def adaptive_pool(out_dir):
    torch.manual_seed(SEED)
    model = AdaptivePool().eval()
    x = torch.randn(2, 3, 6, 6)
    torch.jit.script(model).save(os.path.join(out_dir, "adaptive_pool.script.pt"))
    with torch.no_grad():
        torch.save({"x": x, "eval_out": model(x)}, os.path.join(out_dir, "adaptive_pool.ref.pt"))


class EncoderBlock(nn.Module):
    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * (c // self.heads) ** -0.5, dim=-1)
        y = torch.matmul(attn, v).transpose(1, 2).reshape(b, n, c)
        x = x + self.proj(y)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


def encoder_block(out_dir):
    torch.manual_seed(SEED)
    model = EncoderBlock().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    x = torch.randn(2, 16, 32)
    with torch.no_grad():
        eval_out = model(x)
        for opset in [13, 17]:
            torch.onnx.export(model, x, os.path.join(out_dir, "encoder_block.opset%d.onnx" % opset),
                              opset_version=opset, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    torch.save({"x": x, "eval_out": eval_out}, os.path.join(out_dir, "encoder_block.ref.pt"))


class ClsToken(nn.Module):
    def __init__(self, dim=6):
        super().__init__()
        self.conv = nn.Conv2d(3, dim, 4, stride=4)
        self.class_token = nn.Parameter(torch.randn(1, 1, dim))
        self.head = nn.Linear(dim, 5)

    def forward(self, x):
        y = self.conv(x).flatten(2).transpose(1, 2)
        n = y.shape[0]
        y = torch.cat([self.class_token.expand(n, -1, -1), y], dim=1)
        return self.head(torch.relu(y)[:, 0] + y[:, 1])


def cls_token(out_dir):
    torch.manual_seed(SEED)
    model = ClsToken().eval()
    x = torch.randn(2, 3, 8, 8)
    torch.jit.script(model).save(os.path.join(out_dir, "cls_token.script.pt"))
    with torch.no_grad():
        torch.save({"x": x, "eval_out": model(x)}, os.path.join(out_dir, "cls_token.ref.pt"))


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    ocr_head(out_dir)
    for name, size in CLASSIFIERS.items():
        classifier(name, size, out_dir)
    adaptive_pool(out_dir)
    encoder_block(out_dir)
    cls_token(out_dir)


if __name__ == "__main__":
    main()
