# Writes cumsum.script.pt (a real torch.jit.script file whose forward uses
# aten::cumsum, which EdgeOpt does not import, so the error names a source
# line) and, from it, fuzz/regressions/torchscript/
# debug-info-text-index-past-table.pt: the same file whose
# code/__torch__.py.debug_pkl points every record's text at string-table
# index 100,000,000 of a 4-entry table. It is still a pickle LibTorch reads
# (written with the opcodes LibTorch's pickler writes); LibTorch 1.13's
# SourceRangeDeserializer indexes the table unchecked: SIGSEGV when a
# message looked the line up. Run once from the repository root with
# Debian's python3 (torch 1.13):
#   python3 -B tests/fuzz/data/make_debug_info_case.py tests/fuzz/data fuzz/regressions/torchscript
import pickle
import struct
import sys
import zipfile

import torch


class CumSum(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)

    def forward(self, x):
        return torch.cumsum(self.conv(x), 1)


def dumps(value):
    """Protocol 2 as LibTorch writes it: int lists through build_intlist."""
    out = bytearray(b"\x80\x02")

    def put(v):
        if isinstance(v, int):
            out.extend(b"J" + struct.pack("<i", v))
        elif isinstance(v, str):
            b = v.encode()
            out.extend(b"X" + struct.pack("<I", len(b)) + b)
        elif isinstance(v, tuple):
            out.extend(b"(")
            for e in v:
                put(e)
            out.extend(b"t")
        elif isinstance(v, list):
            out.extend(b"ctorch.jit._pickle\nbuild_intlist\n(](")
            for e in v:
                put(e)
            out.extend(b"etR")
        else:
            raise TypeError(v)

    put(value)
    out.extend(b".")
    return bytes(out)


torch.manual_seed(0)
valid = sys.argv[1] + "/cumsum.script.pt"
torch.jit.script(CumSum().eval()).save(valid)

src = zipfile.ZipFile(valid)
debug = "cumsum.script/code/__torch__.py.debug_pkl"
fmt, table, records = pickle.loads(src.read(debug))
assert fmt == "FORMAT_WITH_STRING_TABLE" and len(table) == 4
# (offset, ((text indices, file index, first line), start, end), handle)
bad = tuple((r[0], ((r[1][0][0] + [100000000], r[1][0][1], r[1][0][2]), r[1][1], r[1][2]), r[2]) for r in records)
with zipfile.ZipFile(sys.argv[2] + "/debug-info-text-index-past-table.pt", "w") as dst:
    for info in src.infolist():
        data = dumps((fmt, table, bad)) if info.filename == debug else src.read(info.filename)
        dst.writestr(zipfile.ZipInfo(info.filename), data, compress_type=info.compress_type)
