# Writes TorchScript files whose code LibTorch 1.13 runs while loading them
# (torch::jit::load), to fuzz/regressions/torchscript/, and a torch.ao
# quantized model whose __setstate__ must still run, to tests/fuzz/data/:
# - setstate-endless-loop.pt: a module whose scripted __setstate__ (run for
#   its object in data.pkl) counts up to 2^63: edgeopt-inspect never ended;
# - setstate-allocates-4-tib.pt: one whose __setstate__ calls
#   torch.ones([2^20, 2^20]): LibTorch tried to allocate 4 TiB;
# - default-argument-endless-loop.pt: forward's `k: int=2` made
#   `k: int=__torch__.spin(2)`, a function counting up to 2^63: LibTorch's
#   compiler runs a default argument while loading (evaluateDefaults), and
#   edgeopt-inspect never ended;
# - forward-nested-loops-1e10.pt: not run by LibTorch but by EdgeOpt's
#   importer, which unrolls loops while importing (100,000 iterations of one
#   at most): two nested ones of 100,000 each ran 10^10 iterations;
# - forward-allocates-8-gib.pt: forward calls torch.ones([65536, 32768]),
#   which the importer folds (runs) while importing: 8 GiB, whatever
#   EDGEOPT_MEMORY_LIMIT_MB said;
# - quantized-conv.script.pt: torch.ao's eager-mode static quantization of
#   Conv2d + ConvTranspose2d (qnnpack): their __setstate__ assigns the state
#   and prepacks the weights.
# Run once from the repository root with Debian's python3 (torch 1.13):
#   python3 -B tests/fuzz/data/make_load_time_code_cases.py tests/fuzz/data fuzz/regressions/torchscript
import sys
import zipfile
from typing import Tuple

import torch

data, regressions = sys.argv[1], sys.argv[2]


class Loop(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.n = 1

    @torch.jit.export
    def __getstate__(self) -> Tuple[int, bool]:
        return (self.n, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[int, bool]) -> None:
        self.n = state[0]
        self.training = state[1]
        i = 0
        while i >= 0:
            i = i + 1

    def forward(self, x):
        return torch.relu(self.conv(x))


class Alloc(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.big = torch.zeros(1)

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.big, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
        self.big = torch.ones([1 << 20, 1 << 20])
        self.training = state[1]

    def forward(self, x):
        return torch.relu(self.conv(x))


class Default(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)

    def forward(self, x, k: int = 2):
        return torch.relu(self.conv(x)) * k


class NestedLoops(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)

    def forward(self, x):
        n = 0
        for i in range(100000):
            for j in range(100000):
                n = n + 1
        return self.conv(x) * n


torch.manual_seed(0)
torch.jit.script(NestedLoops()).save(regressions + "/forward-nested-loops-1e10.pt")
torch.jit.script(Loop()).save(regressions + "/setstate-endless-loop.pt")
torch.jit.script(Alloc()).save(regressions + "/setstate-allocates-4-tib.pt")

torch.jit.script(Default()).save("/tmp/default-argument-endless-loop.pt")
src = zipfile.ZipFile("/tmp/default-argument-endless-loop.pt")
code = "default-argument-endless-loop/code/__torch__.py"
spin = """def spin(n: int) -> int:
  i = n
  _0 = True
  while _0:
    i0 = torch.add(i, 1)
    _0, i = torch.ge(i0, 0), i0
  return i
"""
with zipfile.ZipFile(regressions + "/default-argument-endless-loop.pt", "w") as dst:
    for info in src.infolist():
        body = src.read(info.filename)
        if info.filename == code:
            text = body.decode()
            assert "k: int=2" in text
            body = (text.replace("k: int=2", "k: int=__torch__.spin(2)") + spin).encode()
        dst.writestr(zipfile.ZipInfo(info.filename), body, compress_type=info.compress_type)


class Quantized(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.up = torch.nn.ConvTranspose2d(4, 2, 2)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.up(self.conv(self.quant(x))))


torch.backends.quantized.engine = "qnnpack"
q = Quantized().eval()
q.qconfig = torch.ao.quantization.get_default_qconfig("qnnpack")
torch.ao.quantization.prepare(q, inplace=True)
q(torch.randn(4, 1, 8, 8))
torch.ao.quantization.convert(q, inplace=True)
torch.jit.script(q).save(data + "/quantized-conv.script.pt")


class Ones(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)

    def forward(self, x):
        z = torch.ones([1 << 16, 1 << 15])
        return self.conv(x) + z.sum()


torch.jit.script(Ones()).save(regressions + "/forward-allocates-8-gib.pt")
