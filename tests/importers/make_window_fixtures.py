"""Fixtures of the windowed-attention op tests (test_import_window_ops.cpp).

Run with Debian's /usr/bin/python3 (python3-torch):
    make_window_fixtures.py OUT_DIR
It writes window_ops.script.pt (torch.jit.script of WindowOps below) and
window_ops.ref.pt (x: 2x4x8x8, eval_out): every op Swin and MaxViT need
beyond the CNN families, each on a path that reaches the output:
    roll                          cyclic shift of the feature map
    new_zeros + slice assignment  a constant mask built in forward (Swin's attention mask)
    ne / masked_fill              mask != 0 -> -100
    table[index]                  a relative-position table read at a buffer of indices
    unsqueeze                     mask broadcast over heads
    einsum                        q k^T and attn v as MaxViT spells them
    view with the batch times a constant (B * windows)
and cosine_ops.script.pt / cosine_ops.ref.pt (x: 2x16x4, eval_out, and
loss = mean(out^2) and every parameter after one SGD step, lr 0.5), Swin V2's
cosine attention and in-place writes into slices (CosineOps below):
    clone + numel + slice + zero_  a bias whose middle third is zeroed in forward
    F.normalize                     norm (p 2), clamp_min, expand_as, div
    clamp(max=) + exp               the logit scale
    vector_norm p 1, clamp_min      the other norm and a one-sided clamp
    fill_ / copy_ on x[:, a:b]      writes into a slice of a run-time tensor
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class WindowOps(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(4, 12)
        self.table = nn.Parameter(torch.randn(7, 2))
        i = torch.arange(16)
        self.register_buffer("index", ((i.view(16, 1) - i.view(1, 16)) % 7).flatten())

    def forward(self, x):
        B, C, H, W = x.shape
        x = torch.roll(x, shifts=(-1, -2), dims=(2, 3))
        # 2x2 windows of 4x4 pixels: [B * 4, 16, C]
        x = x.view(B, C, 2, 4, 2, 4).permute(0, 2, 4, 3, 5, 1).reshape(B * 4, 16, C)
        qkv = self.qkv(x).reshape(B * 4, 16, 3, 2, 2).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = torch.einsum("b h i d, b h j d -> b h i j", q, k)
        attn = attn + self.table[self.index].view(16, 16, 2).permute(2, 0, 1).unsqueeze(0)
        mask = x.new_zeros((4, 4))
        mask[0:2, 0:2] = 1.0
        mask[2:4, :] = 2.0
        mask = mask.view(1, 16) - mask.view(16, 1)
        mask = mask.masked_fill(mask != 0, float(-100.0))
        attn = attn.view(B, 4, 2, 16, 16) + mask.unsqueeze(0).unsqueeze(0).unsqueeze(0)
        attn = torch.softmax(attn.view(-1, 2, 16, 16), dim=-1)
        out = torch.einsum("b h i j, b h j d -> b h i d", attn, v)
        out = out.transpose(1, 2).reshape(B, 2, 2, 4, 4, 4).permute(0, 5, 1, 3, 2, 4).reshape(B, C, H, W)
        out = out.masked_fill(out.ne(torch.clamp(out, -0.5, 0.5)), 0.0)
        return torch.roll(out, shifts=(1, 2), dims=(2, 3))


class CosineOps(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(4, 12)
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((2, 1, 1))))

    def forward(self, x):
        B = x.size(0)
        bias = self.qkv.bias.clone()
        length = bias.numel() // 3
        bias[length: 2 * length].zero_()
        qkv = F.linear(x, self.qkv.weight, bias).reshape(B, 16, 3, 2, 2).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        attn = attn * torch.clamp(self.logit_scale, max=math.log(100.0)).exp()
        y = torch.softmax(attn, dim=-1).matmul(v).transpose(1, 2).reshape(B, 16, 4)
        y = y + torch.linalg.vector_norm(y, 1, dim=[-1], keepdim=True)
        t = y.clone()
        t[:, 0:4].fill_(0.5)
        t[:, 8:12] = y[:, 0:4] * 2
        return t.clamp_min(1.5) + t.clamp(max=2.0)


def cosine(out_dir):
    torch.manual_seed(0)
    model = CosineOps().eval()
    x = torch.randn(2, 16, 4)
    with torch.no_grad():
        out = model(x)
    torch.jit.script(model).save(os.path.join(out_dir, "cosine_ops.script.pt"))
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = model(x).square().mean()
    opt.zero_grad()
    loss.backward()
    grad = model.qkv.bias.grad.clone()
    opt.step()
    after = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save({"x": x, "eval_out": out, "loss": loss.detach(), "bias_grad": grad, "after": after},
               os.path.join(out_dir, "cosine_ops.ref.pt"))


def main(out_dir):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = WindowOps().eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        out = model(x)
    torch.jit.script(model).save(os.path.join(out_dir, "window_ops.script.pt"))
    torch.save({"x": x, "eval_out": out}, os.path.join(out_dir, "window_ops.ref.pt"))
    cosine(out_dir)


if __name__ == "__main__":
    main(sys.argv[1])
