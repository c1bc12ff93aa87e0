#pragma once
// Checks a TorchScript file (the zip archive torch.jit.save writes) before
// LibTorch reads it, and gives what LibTorch is then allowed to read.
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
//
// The code's debug info (the `*.debug_pkl` records: where each piece of the
// serialized code came from in the model's Python source) LibTorch never
// sees: it decodes them lazily, even inside ErrorReport::what(), and trusts
// their layout (a string-table index past the table crashed edgeopt-inspect,
// an exception thrown there terminates the process). The file is presented to
// LibTorch with a central directory that leaves them out (CheckedArchive::
// central_directory); the importer reads them itself for its messages
// (ts_debug_info.h), and a debug record that is malformed is only dropped.
#include <cstdint>
#include <map>
#include <string>

namespace edgeopt::torchscript {

struct CheckedArchive {
  uint64_t file_size = 0;
  // A zip central directory, zip64 end record, locator and end record listing
  // every record of the file except the debug info: appended to the file's
  // bytes (ArchiveWithoutDebugInfo), it is the end miniz finds.
  std::string central_directory;
  // The debug records that passed the pickle check, by record name without
  // the archive's folder and ".debug_pkl" ("code/__torch__.py"), decompressed.
  std::map<std::string, std::string> debug_info;
};

// Throws InputError "<path>: not a readable TorchScript file: <what>" for a
// malformed archive, and "<path>: ... more than the N bytes of memory
// available" when what it declares would not fit in `memory_available` bytes.
CheckedArchive checkTorchScriptArchive(const std::string& path, uint64_t memory_available);

// The most a deflate stream expands (about 1032:1, the format's limit): a
// compressed record declaring more is malformed, whatever memory there is.
constexpr uint64_t kMaxDeflateRatio = 1032;

// Whether LibTorch reads the record `name` as debug info (miniz finds names
// case-insensitively).
bool isDebugRecord(const std::string& name);

}  // namespace edgeopt::torchscript
