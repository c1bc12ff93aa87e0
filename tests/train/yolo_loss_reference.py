"""PyTorch reference of the YOLOv5 training loss for test_yolo_loss.cpp.

A re-implementation of ultralytics' ComputeLoss (utils/loss.py, v7.0) and
bbox_iou(CIoU=True) (utils/metrics.py) with the hyper-parameters the C++ side
uses (cls_pw = obj_pw = 1, no label smoothing, no focal loss, gr = 1, no
autobalance). Run with Debian's python3 (torch 1.13):

    yolo_loss_reference.py IN.json OUT.json

IN.json: {"cases": [{"heads": [{"shape": [...], "data": [...]}, ...],
                     "anchors": {"shape": [nl, na, 2], "data": [...]},
                     "targets": {"shape": [nt, 6], "data": [...]},
                     "gains": {"box": .., "obj": .., "cls": .., "anchor_t": ..}}]}
OUT.json: {"cases": [{"loss": x, "box": x, "obj": x, "cls": x, "grads": [[...], ...]}]}
"""
import json
import math
import sys

import torch
import torch.nn as nn


def ciou(box1, box2, eps=1e-7):
    (x1, y1, w1, h1), (x2, y2, w2, h2) = box1.chunk(4, -1), box2.chunk(4, -1)
    b1_x1, b1_x2, b1_y1, b1_y2 = x1 - w1 / 2, x1 + w1 / 2, y1 - h1 / 2, y1 + h1 / 2
    b2_x1, b2_x2, b2_y1, b2_y2 = x2 - w2 / 2, x2 + w2 / 2, y2 - h2 / 2, y2 + h2 / 2
    inter = (torch.minimum(b1_x2, b2_x2) - torch.maximum(b1_x1, b2_x1)).clamp(0) * \
            (torch.minimum(b1_y2, b2_y2) - torch.maximum(b1_y1, b2_y1)).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = torch.maximum(b1_x2, b2_x2) - torch.minimum(b1_x1, b2_x1)
    ch = torch.maximum(b1_y2, b2_y2) - torch.minimum(b1_y1, b2_y1)
    c2 = cw ** 2 + ch ** 2 + eps
    rho2 = ((b2_x1 + b2_x2 - b1_x1 - b1_x2) ** 2 + (b2_y1 + b2_y2 - b1_y1 - b1_y2) ** 2) / 4
    v = (4 / math.pi ** 2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def build_targets(p, targets, anchors, anchor_t):
    na, nt = anchors.shape[1], targets.shape[0]
    out = []
    gain = torch.ones(7)
    ai = torch.arange(na).float().view(na, 1).repeat(1, nt)
    targets = torch.cat((targets.repeat(na, 1, 1), ai[..., None]), 2)
    g = 0.5
    off = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]]).float() * g
    for i in range(len(p)):
        shape = p[i].shape  # bs, na, ny, nx, no
        gain[2:6] = torch.tensor(shape)[[3, 2, 3, 2]]
        t = targets * gain
        if nt:
            r = t[..., 4:6] / anchors[i][:, None]
            j = torch.max(r, 1 / r).max(2)[0] < anchor_t
            t = t[j]
            gxy = t[:, 2:4]
            gxi = gain[[2, 3]] - gxy
            j, k = ((gxy % 1 < g) & (gxy > 1)).T
            l, m = ((gxi % 1 < g) & (gxi > 1)).T
            j = torch.stack((torch.ones_like(j), j, k, l, m))
            t = t.repeat((5, 1, 1))[j]
            offsets = (torch.zeros_like(gxy)[None] + off[:, None])[j]
        else:
            t = targets[0]
            offsets = 0
        bc, gxy, gwh, a = t.chunk(4, 1)
        a, (b, c) = a.long().view(-1), bc.long().T
        gij = (gxy - offsets).long()
        gi, gj = gij.T
        gj.clamp_(0, shape[2] - 1)  # in place: gij is clamped too, as in ultralytics
        gi.clamp_(0, shape[3] - 1)
        out.append((b, a, gj, gi, torch.cat((gxy - gij, gwh), 1), c, anchors[i][a]))
    return out


def compute_loss(heads, anchors, targets, gains):
    nl, na = anchors.shape[0], anchors.shape[1]
    no = heads[0].shape[1] // na
    nc = no - 5
    p = [h.view(h.shape[0], na, no, h.shape[2], h.shape[3]).permute(0, 1, 3, 4, 2).contiguous() for h in heads]
    bce_cls = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([1.0]))
    bce_obj = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([1.0]))
    balance = [4.0, 1.0, 0.4] if nl == 3 else [4.0, 1.0, 0.25, 0.06, 0.02]
    lbox, lobj, lcls = torch.zeros(1), torch.zeros(1), torch.zeros(1)
    for i, (b, a, gj, gi, tbox, tcls, anch) in enumerate(build_targets(p, targets, anchors, gains["anchor_t"])):
        pi = p[i]
        tobj = torch.zeros(pi.shape[:4], dtype=pi.dtype)
        n = b.shape[0]
        if n:
            pxy, pwh, _, pcls = pi[b, a, gj, gi].split((2, 2, 1, nc), 1)
            pxy = pxy.sigmoid() * 2 - 0.5
            pwh = (pwh.sigmoid() * 2) ** 2 * anch
            iou = ciou(torch.cat((pxy, pwh), 1), tbox).squeeze()
            lbox += (1.0 - iou).mean()
            tobj[b, a, gj, gi] = iou.detach().clamp(0).type(tobj.dtype)
            if nc > 1:
                t = torch.full_like(pcls, 0.0)
                t[range(n), tcls] = 1.0
                lcls += bce_cls(pcls, t)
        lobj += bce_obj(pi[..., 4], tobj) * balance[i]
    lbox *= gains["box"]
    lobj *= gains["obj"]
    lcls *= gains["cls"]
    bs = p[0].shape[0]
    return (lbox + lobj + lcls) * bs, lbox, lobj, lcls


def tensor(d):
    return torch.tensor(d["data"], dtype=torch.float32).view(d["shape"])


def main():
    cases = json.load(open(sys.argv[1]))["cases"]
    results = []
    for case in cases:
        heads = [tensor(h).requires_grad_() for h in case["heads"]]
        loss, lbox, lobj, lcls = compute_loss(heads, tensor(case["anchors"]), tensor(case["targets"]), case["gains"])
        loss.sum().backward()
        results.append({"loss": loss.item(), "box": lbox.item(), "obj": lobj.item(), "cls": lcls.item(),
                        "grads": [h.grad.flatten().tolist() for h in heads]})
    json.dump({"cases": results}, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
