"""Loads TorchScript files written by EdgeOpt's `torchscript` exporter in
Python (Debian's /usr/bin/python3 with python3-torch), for test_exporters.

usage: ts_check.py <manifest.json>

manifest: {"threads": 2, "runs": [{"model": "m.pt", "output_prefix": "out/m",
  "inputs": [{"file": "x.bin", "dims": [2, 3, 64, 64]}],
  "train_reference": "ref.bin" (optional: expected train-mode output 0)}]}

Per run writes <output_prefix>.<i>.bin (eval-mode outputs, raw float32) and
<output_prefix>.json: {"keys": state_dict keys in order, "not_requiring_grad":
parameters without requires_grad, "no_grad_after_backward": parameters whose
.grad is None after a train-mode backward, "num_batches_tracked": values after
that step, "train_max_abs_diff": vs train_reference} or {"error": "..."}.
"""
import json
import sys

import numpy as np
import torch


def load_input(spec):
    data = np.fromfile(spec["file"], dtype="<f4")
    return torch.from_numpy(data.reshape(spec["dims"]).copy())


def check(run):
    m = torch.jit.load(run["model"])
    inputs = [load_input(s) for s in run["inputs"]]
    report = {"keys": list(m.state_dict().keys())}
    report["not_requiring_grad"] = [n for n, p in m.named_parameters() if not p.requires_grad]
    m.eval()
    with torch.no_grad():
        out = m(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    for i, t in enumerate(outs):
        t.detach().contiguous().numpy().astype("<f4").tofile("%s.%d.bin" % (run["output_prefix"], i))
    report["num_outputs"] = len(outs)
    # Trainable: a train-mode step gives every parameter a gradient and
    # updates BatchNorm's statistics like nn.BatchNorm2d.
    m.train()
    out = m(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    if "train_reference" in run:
        ref = np.fromfile(run["train_reference"], dtype="<f4").reshape(outs[0].shape)
        report["train_max_abs_diff"] = float((outs[0].detach() - torch.from_numpy(ref)).abs().max())
    sum(o.float().sum() for o in outs).backward()
    report["no_grad_after_backward"] = [n for n, p in m.named_parameters() if p.grad is None]
    report["num_batches_tracked"] = sorted(
        {int(b) for n, b in m.named_buffers() if n.endswith("num_batches_tracked")})
    return report


def main():
    manifest = json.load(open(sys.argv[1]))
    torch.set_num_threads(manifest.get("threads", 1))
    for run in manifest["runs"]:
        try:
            report = check(run)
        except Exception as e:  # reported to the C++ test, which fails with it
            report = {"error": "%s: %s" % (type(e).__name__, e)}
        with open(run["output_prefix"] + ".json", "w") as f:
            json.dump(report, f)


if __name__ == "__main__":
    main()
