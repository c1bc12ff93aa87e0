"""PyTorch side of bench_peer: torchvision's mobilenet_v2 in eager mode and
torch.ao FX QAT, driven one step at a time over stdin/stdout so the C++ side
can interleave its own steps with these (same machine load for both).

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision 0.14):
    peer_torch.py WORK_DIR TRAIN_SIZE INFER_SIZE [MODEL]
MODEL: torchvision (default: mobilenet_v2, 3 channels, training batch 32) or
main-job (the main recipe's network: mobilenet_v2 width 0.5, 1 input channel,
stride-1 stem and first stride-2 stage as EdgeOpt's small-input zoo variant,
training batch 64). On start it writes, from seed 0:
    WORK_DIR/mobilenet_v2.script.pt   torch.jit.script of the model (train mode), for EdgeOpt to import
    WORK_DIR/inputs.pt                x (B,C,S,S), y (B), xi (32,C,I,I), eval_out = model.eval()(xi[:2])
    WORK_DIR/infer_x.f32              xi as raw float32 (ONNX Runtime's input)
and answers "ready". Then one command per line, one answer line each:
    float | qat            one training step (SGD) -> its milliseconds
    float_cl | qat_cl      the same with the model and x in channels_last, as
                           PyTorch's performance guide advises for CNNs on CPU
    infer B                one eval forward of xi[:B] under no_grad -> milliseconds
    profile float|qat      one step under the autograd profiler -> JSON {op: total ms}
    quit
The bench process sets threads (torch.set_num_threads) and malloc settings
(mallopt, as EdgeOpt's tuneMalloc) the same way in both processes.
"""
import copy
import ctypes
import json
import os
import sys
import time
import warnings

import torch
import torch.nn.functional as F
import torchvision
from torch.ao.quantization import get_default_qat_qconfig_mapping
from torch.ao.quantization.quantize_fx import prepare_qat_fx

# As edgeopt::tuneMalloc: no mmap'ed blocks, no trimming (M_MMAP_MAX = -4, M_TRIM_THRESHOLD = -1).
warnings.filterwarnings("ignore")  # torch.ao's reduce_range deprecation notice
libc = ctypes.CDLL("libc.so.6")
libc.mallopt(-4, 0)
libc.mallopt(-1, -1)

work, train_size, infer_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kind = sys.argv[4] if len(sys.argv) > 4 else "torchvision"
threads = int(os.environ.get("PEER_THREADS", "2"))
torch.set_num_threads(threads)
torch.manual_seed(0)
os.makedirs(work, exist_ok=True)

if kind == "main-job":
    model = torchvision.models.mobilenet_v2(num_classes=10, width_mult=0.5)
    stem = model.features[0][0]
    model.features[0][0] = torch.nn.Conv2d(1, stem.out_channels, 3, stride=1, padding=1, bias=False)
    model.features[2].conv[1][0].stride = (1, 1)  # the first stride-2 stage's depthwise conv
    channels, batch = 1, 64
elif kind == "torchvision":
    model = torchvision.models.mobilenet_v2(num_classes=10)
    channels, batch = 3, 32
else:
    sys.exit("peer_torch.py: unknown model " + kind)
model.train()
torch.jit.script(model).save(os.path.join(work, "mobilenet_v2.script.pt"))
x = torch.randn(batch, channels, train_size, train_size)
y = torch.randint(0, 10, (batch,))
xi = torch.randn(32, channels, infer_size, infer_size)
with torch.no_grad():
    eval_out = copy.deepcopy(model).eval()(xi[:2])
torch.save({"x": x, "y": y, "xi": xi, "eval_out": eval_out}, os.path.join(work, "inputs.pt"))
xi.numpy().astype("float32").tofile(os.path.join(work, "infer_x.f32"))


def sgd(m):
    # As the C++ side: one group, lr 0.01, momentum 0.9, weight decay 1e-4.
    return torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)


float_model = copy.deepcopy(model).train()
qat_model = prepare_qat_fx(copy.deepcopy(model).train(), get_default_qat_qconfig_mapping(), (x,))
infer_model = copy.deepcopy(model).eval()
float_cl = copy.deepcopy(float_model).to(memory_format=torch.channels_last)
qat_cl = copy.deepcopy(qat_model).to(memory_format=torch.channels_last)
x_cl = x.contiguous(memory_format=torch.channels_last)
trainees = {
    "float": (float_model, sgd(float_model), x),
    "qat": (qat_model, sgd(qat_model), x),
    "float_cl": (float_cl, sgd(float_cl), x_cl),
    "qat_cl": (qat_cl, sgd(qat_cl), x_cl),
}


def step(kind):
    m, opt, inputs = trainees[kind]
    opt.zero_grad()
    loss = F.cross_entropy(m(inputs), y)
    loss.backward()
    opt.step()


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000.0


def infer(batch):
    with torch.no_grad():
        infer_model(xi[:batch])


def profile(kind):
    step(kind)
    with torch.autograd.profiler.profile() as prof:
        step(kind)
    totals = {}
    for e in prof.key_averages():
        totals[e.key] = e.cpu_time_total / 1000.0
    return totals


print("ready", flush=True)
for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    if words[0] == "quit":
        break
    if words[0] in trainees:
        print("%.4f" % timed(lambda: step(words[0])), flush=True)
    elif words[0] == "infer":
        print("%.4f" % timed(lambda: infer(int(words[1]))), flush=True)
    elif words[0] == "profile":
        print(json.dumps(profile(words[1])), flush=True)
    else:
        print("error: unknown command " + words[0], flush=True)
