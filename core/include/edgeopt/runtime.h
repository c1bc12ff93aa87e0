#pragma once
// Process-wide runtime settings, applied once at start-up by a host program.
#include <cstdint>
#include <string>

namespace edgeopt {

// OpenMP threads that spin while waiting collapse throughput when anything
// else runs on the cores (2 cores, one other busy process: mobilenet_v2
// training at 2 threads fell from 145 to 14 images/s). libgomp reads its
// settings when it is loaded, before main, so this sets OMP_WAIT_POLICY=PASSIVE
// and re-executes the program once (a user's own setting is kept). Call it
// first thing in main.
void usePassiveOpenMPWait(char** argv);
// Keeps glibc from returning large tensor buffers to the OS after every step
// (they would page-fault back in on the next one; see STACK-NOTES.md): no
// mmap'ed blocks, no trimming, so the heap stays at its peak size.
void tuneMalloc();
// Returns the heap's free memory to the OS (malloc_trim): with tuneMalloc the
// heap otherwise stays at its peak; call it between phases, not per step.
void releaseFreeHeap();
// The process's peak resident set size so far, MiB.
int64_t peakRssMiB();
// User + system CPU time of the process so far (all threads), seconds.
double processCpuSeconds();
// A write past `ulimit -f` raises SIGXFSZ, whose default action kills the
// process without a word. Ignored, the write fails with EFBIG instead and the
// writer reports it as one line (atomicWrite keeps the previous file).
void ignoreFileSizeSignal();
// `requested` threads, or when 0 all cores (divided by LOCAL_WORLD_SIZE when
// several ranks of a data parallel run share the machine).
int effectiveThreads(int requested);
// LibTorch starts with one intra-op thread: set it, plus seed and determinism.
void configureRuntime(int threads, uint64_t seed, bool deterministic);
// "edgeopt-run 0.1.0 (git abc123), LibTorch 1.13.0, plugin API 1"
std::string versionText();

}  // namespace edgeopt
