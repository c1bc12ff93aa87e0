"""A PyTorch re-implementation of the zoo's YOLOv5-style detector (yolov5n /
yolov5s: ultralytics' v6+ architecture with C3 blocks, SPPF, a k6 s2 p2 stem,
a PANet neck and raw head maps), the reference for test_torchvision.cpp and
test_zoo.cpp. Module names follow ultralytics (model.N.conv, model.N.cv1,
model.24.m.0, ...), so its state_dict is the zoo model's. Run directly, it
prints parameter counts (ultralytics publishes 1,872,157 and 7,235,389 at 80
classes) and conv MACs.
"""
import math

import torch
from torch import nn

ANCHORS = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]
STRIDES = [8, 16, 32]
SIZES = {"yolov5n": (0.33, 0.25), "yolov5s": (0.33, 0.50)}


def make_divisible(x, divisor=8):
    return math.ceil(x / divisor) * divisor


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1, p=None):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2 if p is None else p, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut=True):
        super().__init__()
        self.cv1 = Conv(c1, c2, 1, 1)
        self.cv2 = Conv(c2, c2, 3, 1)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))


class C3(nn.Module):
    def __init__(self, c1, c2, n=1, shortcut=True):
        super().__init__()
        c_ = int(c2 * 0.5)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class Concat(nn.Module):
    def forward(self, xs):
        return torch.cat(xs, 1)


class Detect(nn.Module):
    def __init__(self, nc, ch):
        super().__init__()
        self.no = nc + 5
        self.na = len(ANCHORS[0]) // 2
        anchors = torch.tensor(ANCHORS).float().view(len(ANCHORS), -1, 2)
        self.register_buffer("anchors", anchors / torch.tensor(STRIDES).float().view(-1, 1, 1))
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in ch)

    def forward(self, xs):
        return [m(x) for m, x in zip(self.m, xs)]


class YoloV5(nn.Module):
    def __init__(self, size="yolov5n", num_classes=80, in_channels=3):
        super().__init__()
        gd, gw = SIZES[size]
        w = lambda c: make_divisible(c * gw)
        d = lambda n: max(round(n * gd), 1)
        # (from, module) rows of ultralytics' yolov5{n,s}.yaml, depth and width applied.
        layers = [
            (-1, Conv(in_channels, w(64), 6, 2, 2)), (-1, Conv(w(64), w(128), 3, 2)), (-1, C3(w(128), w(128), d(3))),
            (-1, Conv(w(128), w(256), 3, 2)), (-1, C3(w(256), w(256), d(6))), (-1, Conv(w(256), w(512), 3, 2)),
            (-1, C3(w(512), w(512), d(9))), (-1, Conv(w(512), w(1024), 3, 2)), (-1, C3(w(1024), w(1024), d(3))),
            (-1, SPPF(w(1024), w(1024), 5)),
            (-1, Conv(w(1024), w(512), 1, 1)), (-1, nn.Upsample(None, 2, "nearest")), ([-1, 6], Concat()),
            (-1, C3(w(1024), w(512), d(3), False)),
            (-1, Conv(w(512), w(256), 1, 1)), (-1, nn.Upsample(None, 2, "nearest")), ([-1, 4], Concat()),
            (-1, C3(w(512), w(256), d(3), False)),
            (-1, Conv(w(256), w(256), 3, 2)), ([-1, 14], Concat()), (-1, C3(w(512), w(512), d(3), False)),
            (-1, Conv(w(512), w(512), 3, 2)), ([-1, 10], Concat()), (-1, C3(w(1024), w(1024), d(3), False)),
            ([17, 20, 23], Detect(num_classes, [w(256), w(512), w(1024)])),
        ]
        self.sources = [f for f, _ in layers]
        self.model = nn.Sequential(*(m for _, m in layers))

    def forward(self, x):
        outs = []
        for f, m in zip(self.sources, self.model):
            if f != -1:
                x = [x if j == -1 else outs[j] for j in f]
            x = m(x)
            outs.append(x)
        return x


def macs(model, x):
    """Conv multiply-accumulates of one forward (EdgeOpt's MAC rule)."""
    total = [0]

    def hook(m, inp, out):
        total[0] += out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total[0]


if __name__ == "__main__":
    for size in SIZES:
        m = YoloV5(size, 80)
        n = sum(p.numel() for p in m.parameters())
        print(size, n, macs(m.eval(), torch.zeros(1, 3, 640, 640)), macs(m, torch.zeros(1, 3, 320, 320)),
              [tuple(o.shape) for o in m(torch.zeros(1, 3, 64, 64))])
    print(list(YoloV5().state_dict().keys())[:12])
