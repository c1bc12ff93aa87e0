#pragma once
// Checks a TorchScript file (the zip archive torch.jit.save writes) before
// LibTorch reads it.
//
// Why: LibTorch 1.13's reader trusts the sizes the file declares.
// PyTorchStreamReader allocates each record's declared uncompressed size before
// extracting it, and its unpickler allocates the lengths, memo indices and
// storage sizes the pickles declare (torchscript_pickle_check.h). A mutated
// 2 KB file made it allocate 0.7 GB; another asked for 30 GB. Here the zip's
// central directory is walked as miniz (LibTorch's zip reader) walks it, every
// entry's sizes and offsets are checked against the file, the total against
// the memory available, and every pickle is checked as the unpickler would run
// it, without allocating anything a declared size asks for.
#include <cstdint>
#include <string>

namespace edgeopt::torchscript {

// Throws InputError "<path>: not a readable TorchScript file: <what>" for a
// malformed archive, and "<path>: ... more than the N bytes of memory
// available" when what it declares would not fit in `memory_available` bytes.
void checkTorchScriptArchive(const std::string& path, uint64_t memory_available);

// The most a deflate stream expands (about 1032:1, the format's limit): a
// compressed record declaring more is malformed, whatever memory there is.
constexpr uint64_t kMaxDeflateRatio = 1032;

}  // namespace edgeopt::torchscript
