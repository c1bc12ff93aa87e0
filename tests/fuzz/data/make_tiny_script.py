# Writes tiny.script.pt, the valid TorchScript file test_fuzz_regressions
# mutates (one declared size at a time) to check the archive check that runs
# before LibTorch reads a file. Run once with Debian's python3 (torch 1.13):
#   python3 -B tests/fuzz/data/make_tiny_script.py tests/fuzz/data [fuzz/regressions/torchscript]
import sys

import torch


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(2)
        self.fc = torch.nn.Linear(2, 3)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


torch.manual_seed(0)
m = Tiny().eval()
with torch.no_grad():  # non-trivial running statistics
    m.bn.running_mean.uniform_(-0.5, 0.5)
    m.bn.running_var.uniform_(0.5, 1.5)
torch.jit.script(m).save(sys.argv[1] + "/tiny.script.pt")

# With a second argument (fuzz/regressions/torchscript), inputs made from it:
# - code-nests-100000-brackets.pt: forward's code with 100,000 nested
#   parentheses (11.7 KB deflated): LibTorch's recursive parser overflowed the
#   stack (SIGSEGV) compiling it;
# - code-chains-100000-operators.pt: `x0 = - - ... - torch.relu(...)`, 100,000
#   unary minuses (chains of `+ x` or `.a` alike): SIGSEGV, the recursion again;
# - class-constant-without-type.pt: `foo = 3` in Linear's class body (what
#   fuzz_torchscript found): LibTorch's importer crashed (SIGSEGV) reading the
#   type annotation a class constant has;
# - class-constant-not-final.pt: `foo : int = 3` there instead: LibTorch's
#   error starts with a newline, and the message said only "()".
if len(sys.argv) > 2:
    import zipfile

    src = zipfile.ZipFile(sys.argv[1] + "/tiny.script.pt")

    def rewrite(out, change):
        with zipfile.ZipFile(sys.argv[2] + "/" + out, "w") as dst:
            for info in src.infolist():
                data = change(info.filename, src.read(info.filename))
                dst.writestr(zipfile.ZipInfo(info.filename), data, compress_type=info.compress_type)

    line = "x0 = torch.relu((bn).forward((conv).forward(x, ), ))"
    n = 100000
    nested = "x0 = " + "(" * n + line[5:] + ")" * n

    def nest(name, data):
        if name != "tiny.script/code/__torch__.py":
            return data
        assert line in data.decode()
        return data.decode().replace(line, nested).encode()

    rewrite("code-nests-100000-brackets.pt", nest)

    def chain(name, data):
        if name != "tiny.script/code/__torch__.py":
            return data
        return data.decode().replace(line, "x0 = " + "- " * n + line[5:]).encode()

    rewrite("code-chains-100000-operators.pt", chain)

    def constant(line):
        def change(name, data):
            if name != "tiny.script/code/__torch__/torch/nn/modules/linear.py":
                return data
            return data.decode().replace("  __buffers__ = []\n", "  __buffers__ = []\n" + line, 1).encode()

        return change

    rewrite("class-constant-without-type.pt", constant("  foo = 3\n"))
    rewrite("class-constant-not-final.pt", constant("  foo : int = 3\n"))
