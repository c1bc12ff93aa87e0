#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <edgeopt/distributed.h>
#include <edgeopt/plugin.h>
#include <edgeopt/runtime.h>
#include <edgeopt/version.h>
#include <edgeopt_git_commit.h>
#include <malloc.h>
#include <sys/resource.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace edgeopt {

void usePassiveOpenMPWait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::execv("/proc/self/exe", argv);  // returns only on failure: then run as is
}

void tuneMalloc() {
  // glibc serves a block above M_MMAP_THRESHOLD with its own mmap and unmaps it
  // when freed, so each use page-faults it in afresh (and the kernel zeroes every
  // page). mallopt caps that threshold at 32 MiB, below the activations of a
  // large batch (mobilenet_v2 w0.5 at 28x28, batch 256: 38-154 MB tensors;
  // resnet18 at 224x224, batch 512: 1.6 GB), so it cannot be raised far
  // enough: turn mmap off instead (M_MMAP_MAX 0; a thread arena still falls
  // back to it when its heap cannot grow). Every block then comes from the heap
  // and is reused, and trimming is off (-1) so that the heap's free top, which
  // after a big batch can exceed any threshold, is not returned and faulted in
  // again on the next step. Measured with bench_eval (issue 12, 2 cores):
  // page faults per run 12.9 M -> 0.36 M (mobilenet_v2), 29.5 M -> 1.7 M
  // (resnet18); batch 512 from 0.31 to 0.93 (mobilenet_v2) and from 0.62 to
  // 0.85 (resnet18) of the best batch size's images/s. The cost: the heap keeps
  // its peak size for the life of the process (a freed block serves later ones).
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, -1);
}

void releaseFreeHeap() { malloc_trim(0); }

int64_t peakRssMiB() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) / 1024;  // ru_maxrss is in KiB on Linux
}

double processCpuSeconds() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void ignoreFileSizeSignal() { std::signal(SIGXFSZ, SIG_IGN); }

int effectiveThreads(int requested) {
  if (requested > 0) return requested;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Ranks of a data parallel run on one machine share its cores.
  const auto launch = dist::LaunchInfo::fromEnvironment();
  return std::max(1, cores / (launch ? launch->local_world_size : 1));
}

void configureRuntime(int threads, uint64_t seed, bool deterministic) {
  at::set_num_threads(effectiveThreads(threads));
  at::manual_seed(seed);
  at::globalContext().setDeterministicAlgorithms(deterministic, /*warn_only=*/false);
}

std::string versionText() {
  return std::string("edgeopt-run ") + EDGEOPT_VERSION + " (git " + EDGEOPT_GIT_COMMIT + "), LibTorch " +
         TORCH_VERSION + ", plugin API " + std::to_string(EDGEOPT_PLUGIN_API_VERSION);
}

}  // namespace edgeopt
