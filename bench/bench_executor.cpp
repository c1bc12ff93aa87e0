// EdgeOpt's graph executor vs the same network as TorchScript in LibTorch:
// forward (eval) and forward+backward (train), mobilenet_v2 and resnet18 at
// 224x224, a few batch sizes, 2 threads. Both run the same weights (checked);
// timings are interleaved A/B so machine noise hits both alike; the printed
// ratio is median(executor) / median(TorchScript). Target: within 5 %.
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/runtime.h>

#include "zoo_models.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/script.h>
#include <torch/serialize.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double millis(const std::function<void()>& fn) {
  auto t0 = Clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

edgeopt::GraphModule::NamedTensors loadState(const std::string& path) {
  const std::string bytes = edgeopt::readFile(path);
  edgeopt::GraphModule::NamedTensors out;
  for (auto& item : torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict())
    out.emplace_back(item.key().toStringRef(), item.value().toTensor());
  return out;
}

struct Pair {
  double ours, script;
};

// Warm-up (TorchScript's profiling executor specializes over the first runs),
// then `reps` interleaved measurements of each.
Pair measure(const std::function<void()>& ours, const std::function<void()>& script, int reps) {
  for (int i = 0; i < 4; ++i) {
    ours();
    script();
  }
  std::vector<double> a, b;
  for (int i = 0; i < reps; ++i) {
    a.push_back(millis(ours));
    b.push_back(millis(script));
  }
  return {median(a), median(b)};
}

}  // namespace

int main(int argc, char** argv) {
  edgeopt::usePassiveOpenMPWait(argv);
  edgeopt::tuneMalloc();
  const std::string work = argc > 1 ? argv[1] : "bench-work";
  std::filesystem::create_directories(work);
  const std::string cmd = std::string(EDGEOPT_SYSTEM_PYTHON) + " " + EDGEOPT_BENCH_SCRIPT + " " + work;
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "error: %s failed (needs Debian's python3-torch and python3-torchvision)\n", cmd.c_str());
    return 1;
  }
  const int threads = edgeopt::effectiveThreads(0);
  at::set_num_threads(threads);
  std::printf("executor vs TorchScript, %d threads, medians of interleaved runs\n", threads);
  std::printf("%-14s %5s %-9s %12s %12s %8s\n", "model", "batch", "mode", "executor ms", "script ms", "ratio");

  struct Case {
    std::string model;
    std::vector<int64_t> batches;
  };
  for (const Case& c : {Case{"mobilenet_v2", {1, 8}}, Case{"resnet18", {1, 4}}}) {
    auto ours = edgeopt::buildZooModel(c.model, {});
    ours->loadStateDict(loadState(work + "/" + c.model + ".state.pt"));
    torch::jit::Module script = torch::jit::load(work + "/" + c.model + ".script.pt");

    // Same weights, same function: check before timing anything.
    ours->eval();
    script.eval();
    const at::Tensor probe = at::randn({2, 3, 224, 224});
    const double diff = (ours->forward({probe})[0] - script.forward({probe}).toTensor()).abs().max().item<double>();
    if (diff > 1e-3) {
      std::fprintf(stderr, "error: %s: executor and TorchScript outputs differ by %g\n", c.model.c_str(), diff);
      return 1;
    }
    for (int64_t batch : c.batches) {
      const at::Tensor x = at::randn({batch, 3, 224, 224});
      ours->eval();
      script.eval();
      Pair fwd = measure(
          [&] { at::NoGradGuard g; ours->forward({x}); },
          [&] { at::NoGradGuard g; script.forward({x}); }, 7);
      ours->train();
      script.train();
      auto params = ours->parameters();
      Pair step = measure(
          [&] {
            ours->forward({x})[0].sum().backward();
            for (auto& p : params) p.mutable_grad() = at::Tensor();
          },
          [&] {
            script.forward({x}).toTensor().sum().backward();
            for (auto p : script.parameters()) p.mutable_grad() = at::Tensor();
          },
          5);
      std::printf("%-14s %5ld %-9s %12.1f %12.1f %8.3f\n", c.model.c_str(), static_cast<long>(batch), "forward",
                  fwd.ours, fwd.script, fwd.ours / fwd.script);
      std::printf("%-14s %5ld %-9s %12.1f %12.1f %8.3f\n", c.model.c_str(), static_cast<long>(batch), "fwd+bwd",
                  step.ours, step.script, step.ours / step.script);
      std::fflush(stdout);
    }
  }
  return 0;
}
