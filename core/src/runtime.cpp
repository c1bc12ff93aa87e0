#include <edgeopt/distributed.h>
#include <edgeopt/plugin.h>
#include <edgeopt/runtime.h>
#include <edgeopt/version.h>
#include <edgeopt_git_commit.h>

#include <torch/version.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>

#include <cstdio>
#include <thread>

namespace edgeopt {

void usePassiveOpenMPWait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::execv("/proc/self/exe", argv);  // returns only on failure: then run as is
}

void tuneMalloc() {
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
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
