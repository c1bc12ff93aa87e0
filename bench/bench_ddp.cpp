// Data parallel overhead: the gradient all-reduce that every DDP step adds
// (2 ranks, Gloo over loopback, as `edgeopt-run --nproc 2` runs them),
// measured beside one training step of the same model in the same run.
// Ranks are 2 threads of this process, each with its own TCPStore client and
// Gloo pair, exactly the code path of separate processes.
#include <edgeopt/distributed.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/runtime.h>

#include "zoo_models.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

using namespace edgeopt;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median ms of one bucketed all-reduce of tensors shaped like `params`, 2 ranks.
double allreduceMs(const std::vector<at::Tensor>& params, int repeats) {
  const int port = edgeopt::dist::freeLocalPort();
  std::vector<double> times;
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.emplace_back([&, r] {
      dist::LaunchInfo info;
      info.rank = r;
      info.world_size = 2;
      info.master_addr = "127.0.0.1";
      info.master_port = port;
      auto group = dist::ProcessGroup::connect(info, std::chrono::seconds(60));
      std::vector<at::Tensor> grads;
      for (const auto& p : params) grads.push_back(at::randn(p.sizes()));
      for (int i = 0; i < repeats + 2; ++i) {
        group->barrier();
        const auto t0 = Clock::now();
        group->allreduceBucketed(grads, 0.5);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (r == 0 && i >= 2) times.push_back(ms);  // 2 warm-up rounds
      }
    });
  for (auto& t : ranks) t.join();
  return median(times);
}

// Median ms of forward + backward + SGD-like update at `threads` threads.
double stepMs(GraphModule& model, int64_t batch, int64_t channels, int64_t size, int threads, int repeats) {
  at::set_num_threads(threads);
  model.train();
  const at::Tensor x = at::randn({batch, channels, size, size});
  const at::Tensor y = at::randint(0, 10, {batch}, at::kLong);
  std::vector<double> times;
  for (int i = 0; i < repeats + 1; ++i) {
    const auto t0 = Clock::now();
    const at::Tensor loss = at::cross_entropy_loss(model.forward({x})[0], y);
    loss.backward();
    {
      at::NoGradGuard no_grad;
      for (auto& p : model.parameters())
        if (p.grad().defined()) {
          p.sub_(p.grad(), 1e-3);
          p.mutable_grad().zero_();
        }
    }
    if (i > 0) times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return median(times);
}

}  // namespace

int main(int, char** argv) {
  usePassiveOpenMPWait(argv);  // as edgeopt-run: spinning OpenMP threads collapse on busy cores
  tuneMalloc();
  struct Case {
    const char* name;
    ZooOptions options;
    int64_t batch;
  };
  ZooOptions small;  // the main recipe's model: 1x28x28 Fashion-MNIST, width 0.5
  small.num_classes = 10;
  small.width_mult = 0.5;
  small.in_channels = 1;
  small.input_size = 28;
  ZooOptions resnet;
  resnet.num_classes = 10;
  resnet.input_size = 32;
  for (const Case& c : {Case{"mobilenet_v2", small, 64}, Case{"resnet18", resnet, 32}}) {
    auto model = buildZooModel(c.name, c.options);
    int64_t numel = 0;
    for (const auto& p : model->parameters()) numel += p.numel();
    const double sync = allreduceMs(model->parameters(), 20);
    const double step2 = stepMs(*model, c.batch, c.options.in_channels, c.options.input_size, 2, 5);
    const double half1 = stepMs(*model, c.batch / 2, c.options.in_channels, c.options.input_size, 1, 5);
    std::printf("%-13s %6.2f M params (%5.1f MB of gradients, %d bucket(s) of <= 25 MB)\n", c.name, numel / 1e6,
                numel * 4 / 1e6, static_cast<int>((numel * 4 + (25 << 20) - 1) / (25 << 20)));
    std::printf("  gradient all-reduce, 2 ranks:          %8.2f ms (median of 20)\n", sync);
    std::printf("  train step, batch %3ld at 2 threads:     %8.2f ms  (1 rank)\n", static_cast<long>(c.batch), step2);
    std::printf("  train step, batch %3ld at 1 thread:      %8.2f ms  (each of 2 ranks)\n",
                static_cast<long>(c.batch / 2), half1);
    std::printf("  all-reduce / 2-rank step:               %8.1f %%\n", 100.0 * sync / (half1 + sync));
  }
  return 0;
}
