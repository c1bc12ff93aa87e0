// Evaluation throughput per batch size (issue 12): images/s of the graph
// executor's forward in eval mode under NoGradGuard, as the evaluate stage
// runs it, at batch 32, 64, 128, 256 and 512, for
//   - the main recipe's model (recipes/mobilenetv2_qat.yaml): mobilenet_v2,
//     width 0.5, small-input variant, 1 x 28 x 28, 10 classes;
//   - resnet18 at 3 x 224 x 224 (fewer images, so the run stays short).
// Batch sizes are interleaved round by round (machine noise hits all alike);
// each cell is the median over rounds of images / seconds for a fixed number
// of images. "vs best" = img/s / best img/s of that model. "cpu ms/img" is
// the process's CPU time per image (user + system, all threads; median over
// rounds): less sensitive than img/s to other processes on the machine.
// In evaluation each batch size runs twice, side by side: as one forward
// ("whole") and as the evaluate stage runs it, in cache-sized pieces
// (edgeopt/chunked_forward.h; "pieces", with the rows per piece).
// Target: batch 512 as the evaluate stage runs it within 10 % of the best
// (vs best >= 0.90; best over every row).
// Usage: bench_eval [--rounds N] [--model mobilenet_v2|resnet18]
//                   [--no-tune-malloc] (glibc's default settings, for comparison)
//                   [--batch N]... (only these batch sizes)
//                   [--train] (a training step instead: forward in training
//                   mode + backward of the outputs' sum, gradients dropped)
//                   [--profile] (also: microseconds per image spent in each op
//                   kind, per batch size, timed between executor node callbacks)
//                   [--nhwc] (weights and inputs channels-last, as training
//                   runs by default: edgeopt/memory_format.h)
#include <edgeopt/chunked_forward.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/memory_format.h>
#include <edgeopt/runtime.h>

#include "zoo_models.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <edgeopt/ir/graph.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double cpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Case {
  std::string label, model;
  edgeopt::ZooOptions options;
  int64_t images;  // per measurement, rounded up to whole batches (at least one)
};

}  // namespace

int main(int argc, char** argv) {
  edgeopt::usePassiveOpenMPWait(argv);
  int rounds = 3;
  bool tune = true, profile = false, train = false, nhwc = false;
  std::string only;
  std::vector<int64_t> batches;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--model" && i + 1 < argc) only = argv[++i];
    else if (a == "--no-tune-malloc") tune = false;
    else if (a == "--profile") profile = true;
    else if (a == "--train") train = true;
    else if (a == "--nhwc")
      nhwc = true;
    else if (a == "--batch" && i + 1 < argc) batches.push_back(std::max(1, std::atoi(argv[++i])));
    else {
      std::fprintf(stderr,
                   "usage: bench_eval [--rounds N] [--model NAME] [--no-tune-malloc] [--batch N]... [--train] [--nhwc] "
                   "[--profile]\n");
      return 2;
    }
  }
  if (tune) edgeopt::tuneMalloc();
  const int threads = edgeopt::effectiveThreads(0);
  at::set_num_threads(threads);
  at::manual_seed(0);

  edgeopt::ZooOptions small;
  small.num_classes = 10;
  small.in_channels = 1;
  small.input_size = 28;
  small.width_mult = 0.5;
  edgeopt::ZooOptions big;  // torchvision's resnet18
  const std::vector<Case> cases = {{"mobilenet_v2 w0.5 1x28x28", "mobilenet_v2", small, 2048},
                                   {"resnet18 3x224x224", "resnet18", big, 256}};
  if (batches.empty()) batches = {32, 64, 128, 256, 512};

  std::printf("%s, %d threads, %s malloc, %s, median of %d interleaved rounds\n",
              train ? "training step throughput (forward + backward, train mode)"
                    : "evaluation throughput (executor forward, eval, NoGradGuard)",
              threads, tune ? "tuned" : "default glibc", nhwc ? "channels-last" : "contiguous", rounds);
  std::printf("%-28s %6s %8s %10s %8s %11s\n", "model", "batch", "images", "img/s", "vs best", "cpu ms/img");
  bool ok = true;
  for (const Case& c : cases) {
    if (!only.empty() && only != c.model) continue;
    auto model = edgeopt::buildZooModel(c.model, c.options);
    model->train(train);
    std::optional<edgeopt::ChannelsLastParameters> channels_last;
    if (nhwc) channels_last.emplace(*model);
    const auto params = model->parameters();
    auto step = [&](const at::Tensor& x, int64_t rows) {
      if (!train) {
        at::NoGradGuard no_grad;
        edgeopt::forwardInPieces(*model, x, rows);
        return;
      }
      model->forward({x})[0].sum().backward();
      for (auto p : params) p.mutable_grad() = at::Tensor();
    };
    const int64_t size = c.options.input_size;
    std::vector<at::Tensor> inputs;
    // Cells: each batch size whole, and (evaluation) in pieces when it splits.
    struct Cell {
      size_t input;
      int64_t rows;
    };
    std::vector<Cell> cells;
    for (size_t k = 0; k < batches.size(); ++k) {
      inputs.push_back(edgeopt::toTrainingLayout(at::randn({batches[k], c.options.in_channels, size, size}), nhwc));
      cells.push_back({k, batches[k]});
      const int64_t rows = train ? batches[k] : edgeopt::evaluationRows(*model, inputs[k]);
      if (rows < batches[k]) cells.push_back({k, rows});
    }
    std::vector<std::vector<double>> cpu(cells.size());
    auto run = [&](size_t i) {  // images/s for c.images images in cell i
      const int64_t batch = batches[cells[i].input];
      const int64_t steps = (c.images + batch - 1) / batch;
      const double c0 = cpuSeconds();
      const auto t0 = Clock::now();
      for (int64_t s = 0; s < steps; ++s) step(inputs[cells[i].input], cells[i].rows);
      const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
      const double n = static_cast<double>(steps * batch);
      cpu[i].push_back(1e3 * (cpuSeconds() - c0) / n);
      return n / sec;
    };
    step(inputs[0], batches[0]);  // warm-up (the medians over rounds absorb the rest)
    std::vector<std::vector<double>> rates(cells.size());
    for (int r = 0; r < rounds; ++r)
      for (size_t i = 0; i < cells.size(); ++i) rates[i].push_back(run(i));
    std::vector<double> med;
    for (auto& v : rates) med.push_back(median(v));
    const double best = *std::max_element(med.begin(), med.end());
    for (size_t i = 0; i < cells.size(); ++i) {
      const int64_t batch = batches[cells[i].input];
      const int64_t steps = (c.images + batch - 1) / batch;
      const std::string how = cells[i].rows == batch ? "whole" : "pieces of " + std::to_string(cells[i].rows);
      std::printf("%-28s %6ld %8ld %10.1f %8.2f %11.2f  %s\n", c.label.c_str(), static_cast<long>(batch),
                  static_cast<long>(steps * batch), med[i], med[i] / best, median(cpu[i]), how.c_str());
    }
    // The largest batch as the evaluate stage runs it: its last cell.
    const double last = med.back() / best;
    if (profile && !train) {  // one more pass per batch size, timing each node from the previous callback
      std::vector<std::map<std::string, double>> per_op(batches.size());
      std::map<std::string, double> total;
      for (size_t k = 0; k < batches.size(); ++k) {
        at::NoGradGuard no_grad;
        const int64_t steps = (c.images + batches[k] - 1) / batches[k];
        for (int64_t s = 0; s < steps; ++s) {
          auto last = Clock::now();
          model->forward({inputs[k]}, [&](const edgeopt::ir::Node& n, const std::vector<at::Tensor>&) {  // whole
            const auto now = Clock::now();
            per_op[k][n.target()] += std::chrono::duration<double, std::micro>(now - last).count();
            last = now;
          });
        }
        for (auto& [op, us] : per_op[k]) {
          us /= static_cast<double>(steps * batches[k]);
          total[op] += us;
        }
      }
      std::vector<std::pair<double, std::string>> order;
      for (auto& [op, us] : total) order.emplace_back(-us, op);
      std::sort(order.begin(), order.end());
      std::printf("%-28s us/img per op:", "");
      for (int64_t b : batches) std::printf(" %8ld", static_cast<long>(b));
      std::printf("\n");
      for (auto& [neg, op] : order) {
        std::printf("  %-26s", op.c_str());
        for (size_t k = 0; k < batches.size(); ++k) std::printf(" %8.1f", per_op[k][op]);
        std::printf("\n");
      }
    }
    std::printf("%-28s batch %ld at %.2f of the best: %s\n", c.label.c_str(), static_cast<long>(batches.back()), last,
                last >= 0.90 ? "ok (target >= 0.90)" : "BELOW target 0.90");
    ok = ok && last >= 0.90;
    std::fflush(stdout);
  }
  return ok ? 0 : 1;
}
