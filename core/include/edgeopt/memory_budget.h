#pragma once
// How much memory a reader may allocate for what a file declares. Readers of
// untrusted model files (ONNX constants, TorchScript archives) check declared
// sizes against it before allocating, so a hostile header fails with one error
// line instead of an out-of-memory kill.
#include <cstdint>

namespace edgeopt {

// Bytes this process may still allocate: the least of the machine's physical
// memory, its cgroup's limit, the address space RLIMIT_AS (ulimit -v) leaves,
// and EDGEOPT_MEMORY_LIMIT_MB (a lower budget on a shared machine; the fuzz
// harnesses set it under libFuzzer's -rss_limit_mb).
uint64_t availableMemoryBytes();

}  // namespace edgeopt
