"""PyTorch side of bench_peer: torchvision's mobilenet_v2 in eager mode and
torch.ao FX QAT, driven one step at a time over stdin/stdout so the C++ side
can interleave its own steps with these (same machine load for both).

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision 0.14):
    peer_torch.py WORK_DIR TRAIN_SIZE INFER_SIZE
On start it writes, from seed 0:
    WORK_DIR/mobilenet_v2.script.pt   torch.jit.script of the model (train mode), for EdgeOpt to import
    WORK_DIR/inputs.pt                x (32,3,S,S), y (32), xi (32,3,I,I), eval_out = model.eval()(xi[:2])
    WORK_DIR/infer_x.f32              xi as raw float32 (ONNX Runtime's input)
and answers "ready". Then one command per line, one answer line each:
    float | qat            one training step (SGD) -> its milliseconds
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
threads = int(os.environ.get("PEER_THREADS", "2"))
torch.set_num_threads(threads)
torch.manual_seed(0)
os.makedirs(work, exist_ok=True)

model = torchvision.models.mobilenet_v2(num_classes=10)
model.train()
torch.jit.script(model).save(os.path.join(work, "mobilenet_v2.script.pt"))
x = torch.randn(32, 3, train_size, train_size)
y = torch.randint(0, 10, (32,))
xi = torch.randn(32, 3, infer_size, infer_size)
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
trainees = {"float": (float_model, sgd(float_model)), "qat": (qat_model, sgd(qat_model))}


def step(kind):
    m, opt = trainees[kind]
    opt.zero_grad()
    loss = F.cross_entropy(m(x), y)
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
