#pragma once
// Process-wide runtime settings, applied once at start-up by a host program.
#include <cstdint>
#include <string>

namespace edgeopt {

// Keeps glibc from returning large tensor buffers to the OS after every step
// (they would page-fault back in on the next one; see STACK-NOTES.md).
void tuneMalloc();
// `requested` threads, or all cores when 0.
int effectiveThreads(int requested);
// LibTorch starts with one intra-op thread: set it, plus seed and determinism.
void configureRuntime(int threads, uint64_t seed, bool deterministic);
// "edgeopt-run 0.1.0 (git abc123), LibTorch 1.13.0, plugin API 1"
std::string versionText();

}  // namespace edgeopt
