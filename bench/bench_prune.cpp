// Physically channel-pruned vs dense, side by side: resnet18 at 224x224
// (torchvision's), 30 % of every prunable channel group removed (FPGM), the
// classifier kept. Prints the MAC and parameter cut and, at batch 1 and 32,
// the speedup in EdgeOpt's executor (runs interleaved dense/pruned) and in
// ONNX Runtime on the ONNX exports (bench/ort_latency.js, when Node.js and
// tests/tools/ort are there). Target (issue 10): MACs cut >= 45 %, speedup
// >= 1.6x.
//
//   bench_prune [--ratio 0.3] [--runs 20] [--runs-b32 N] [--work DIR] [--profile] [--round-to N]
// Batch 1 runs 3 x --runs times, batch 32 --runs-b32 times (default --runs).
// Each speedup is given three ways, so the noise shows: ratio of the medians,
// ratio of the minimums (the least disturbed runs), and the median with the
// quartiles of the per-round ratios (dense and pruned timed back to back in
// one round share the machine's load at that moment).
// --profile: per-node median times at batch 1, dense vs pruned, the nodes
// that lost most (or gained least) listed first; in ONNX Runtime, kernel
// time per op type (EDGEOPT_ORT_PROFILE of ort_latency.js, traces in WORK).
// --round-to N: a third model, pruned with the kept channels of every group
// rounded to the nearest multiple of N (the prune stage's round_to), measured in the
// same interleaved runs: ONNX Runtime's NCHWc convs block channels by 16 on
// AVX-512 (8 on AVX2), and 45, 90, 179, 358 are no multiples of either.
#include <edgeopt/config.h>
#include <edgeopt/exporter.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/shape_prop.h>
#include <edgeopt/ir/summary.h>
#include <edgeopt/plugin_host.h>
#include <edgeopt/prune/channel_groups.h>
#include <edgeopt/prune/masks.h>
#include <edgeopt/registry.h>
#include <edgeopt/runtime.h>

#include "zoo_models.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * (v.size() - 1) + 0.5)];
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Forward times (ms) of each model at `batch`, one vector per model; run r of
// every model is taken in the same round (interleaved).
std::vector<std::vector<double>> interleaved(const std::vector<edgeopt::GraphModule*>& models, int64_t batch,
                                             int runs) {
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({batch, 3, 224, 224});
  for (auto* m : models) m->forward({x});  // warm-up: plans, allocator
  std::vector<std::vector<double>> times(models.size());
  for (int r = 0; r < runs; ++r)
    for (size_t i = 0; i < models.size(); ++i) {
      auto t0 = Clock::now();
      models[i]->forward({x});
      times[i].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
  return times;
}

// One line per pruned model: its times against the dense one's (model 0).
void printSpeedups(const std::vector<std::vector<double>>& t, const std::vector<std::string>& names, int64_t batch) {
  const auto& d = t[0];
  std::printf("  executor batch %2lld, %zu interleaved runs: dense median %.2f ms, min %.2f ms\n",
              static_cast<long long>(batch), d.size(), median(d), *std::min_element(d.begin(), d.end()));
  for (size_t i = 1; i < t.size(); ++i) {
    std::vector<double> paired;
    for (size_t r = 0; r < d.size(); ++r) paired.push_back(d[r] / t[i][r]);
    const double min_i = *std::min_element(t[i].begin(), t[i].end());
    std::printf(
        "    %-16s median %8.2f ms, min %8.2f ms; speedup %.2fx (medians), %.2fx (mins), per round %.2fx "
        "[quartiles %.2f-%.2f]\n",
        names[i].c_str(), median(t[i]), min_i, median(d) / median(t[i]), *std::min_element(d.begin(), d.end()) / min_i,
        median(paired), quantile(paired, 0.25), quantile(paired, 0.75));
  }
}

// Median microseconds of every node (by name) over `runs` batch-1 forwards.
std::map<std::string, double> nodeTimes(edgeopt::GraphModule& m, int runs) {
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({1, 3, 224, 224});
  std::map<std::string, std::vector<double>> times;
  for (int r = 0; r < runs; ++r) {
    auto last = Clock::now();
    m.forward({x}, [&](const edgeopt::ir::Node& n, const std::vector<at::Tensor>&) {
      const auto now = Clock::now();
      times[n.name()].push_back(std::chrono::duration<double, std::micro>(now - last).count());
      last = now;
    });
  }
  std::map<std::string, double> out;
  for (auto& [name, t] : times) out[name] = median(t);
  return out;
}

void printProfile(edgeopt::GraphModule& dense, edgeopt::GraphModule& pruned, int runs) {
  auto d = nodeTimes(dense, runs), p = nodeTimes(pruned, runs);
  std::vector<std::pair<double, std::string>> order;
  for (auto& [name, us] : d)
    if (p.count(name)) order.emplace_back(us - p[name], name);
  std::sort(order.begin(), order.end());
  std::printf("  per node at batch 1 (median us): dense, pruned, input shape of the pruned one\n");
  for (size_t i = 0; i < order.size() && i < 15; ++i) {
    const std::string& name = order[i].second;
    const edgeopt::ir::Node* n = pruned.graph().findNode(name);
    std::string shape = n && n->numInputs() && n->input(0)->shape() ? edgeopt::ir::formatShape(*n->input(0)->shape()) : "";
    std::printf("    %-28s %-12s %9.1f %9.1f  %s\n", name.c_str(), n ? n->target().c_str() : "", d[name], p[name],
                shape.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  edgeopt::usePassiveOpenMPWait(argv);  // re-executes once with OMP_WAIT_POLICY=passive
  double ratio = 0.3;
  int runs = 20;
  int runs_b32 = -1;  // not given: --runs
  bool profile = false;
  std::string work = "bench-work/prune";
  int64_t round_to = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--ratio" && i + 1 < argc) ratio = std::atof(argv[++i]);
    else if (a == "--runs" && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (a == "--runs-b32" && i + 1 < argc)
      runs_b32 = std::atoi(argv[++i]);
    else if (a == "--work" && i + 1 < argc) work = argv[++i];
    else if (a == "--profile") profile = true;
    else if (a == "--round-to" && i + 1 < argc)
      round_to = std::atoll(argv[++i]);
    else {
      std::fprintf(
          stderr, "usage: bench_prune [--ratio R] [--runs N] [--runs-b32 N] [--work DIR] [--profile] [--round-to N]\n");
      return 2;
    }
  }
  if (runs_b32 == -1) runs_b32 = runs;
  if (runs < 1 || runs_b32 < 1) {
    std::fprintf(stderr, "error: --runs and --runs-b32 must be >= 1\n");
    return 2;
  }
  edgeopt::tuneMalloc();
  const int threads = edgeopt::effectiveThreads(0);
  at::set_num_threads(threads);
  at::manual_seed(0);

  edgeopt::ZooOptions o;  // torchvision's resnet18: 1000 classes, 224 px
  auto dense = edgeopt::buildZooModel("resnet18", o);
  dense->eval();
  const edgeopt::ir::Shape input{1, 3, 224, 224};
  edgeopt::ir::propagateShapes(*dense, {input});
  const auto deps = edgeopt::prune::analyzeChannels(*dense);
  // The dense model pruned by FPGM, kept counts rounded to multiples of `round`.
  auto prune = [&](int64_t round) {
    std::vector<at::Tensor> keeps;
    for (const auto& g : deps.groups)
      keeps.push_back(g.prunable ? edgeopt::prune::channelMask(edgeopt::prune::groupImportance(
                                                                   *dense, g, edgeopt::prune::ChannelCriterion::Fpgm),
                                                               ratio, 1, round)
                                 : at::Tensor());
    auto m = dense->clone();
    edgeopt::prune::removeChannels(*m, deps, keeps);
    m->eval();
    return m;
  };
  std::vector<std::shared_ptr<edgeopt::GraphModule>> pruned;
  std::vector<std::string> names{"dense", "pruned"};
  pruned.push_back(prune(1));
  if (round_to > 1) {
    pruned.push_back(prune(round_to));
    names.push_back("pruned_round" + std::to_string(round_to));
  }

  std::printf("resnet18 224x224, %.0f %% of each prunable channel group removed (FPGM), %d threads\n", 100 * ratio,
              threads);
  const auto before = edgeopt::ir::summarize(*dense, input);
  for (size_t i = 0; i < pruned.size(); ++i) {
    const auto after = edgeopt::ir::summarize(*pruned[i], input);
    const double mac_cut = 1.0 - double(after.totalMacs) / double(before.totalMacs);
    const double param_cut = 1.0 - double(after.totalParams) / double(before.totalParams);
    std::string widths;  // the residual stages' widths: conv1 and layerN.0.conv2 outputs
    for (const char* w : {"conv1.weight", "layer1.0.conv2.weight", "layer2.0.conv2.weight", "layer3.0.conv2.weight",
                          "layer4.0.conv2.weight"})
      widths += (widths.empty() ? "" : ", ") + std::to_string(pruned[i]->tensor(w).size(0));
    std::printf("  %-16s MACs %.2f G -> %.2f G (cut %.1f %%), params %.2f M -> %.2f M (cut %.1f %%), widths %s\n",
                names[i + 1].c_str(), before.totalMacs / 1e9, after.totalMacs / 1e9, 100 * mac_cut,
                before.totalParams / 1e6, after.totalParams / 1e6, 100 * param_cut, widths.c_str());
  }
  std::vector<edgeopt::GraphModule*> models{dense.get()};
  for (auto& p : pruned) models.push_back(p.get());
  for (int64_t batch : {1, 32})
    printSpeedups(interleaved(models, batch, batch == 1 ? runs * 3 : runs_b32), names, batch);
  std::fflush(stdout);

  if (profile) printProfile(*dense, *pruned.back(), runs);

  // ONNX Runtime on the exports, through the same script as the surgery numbers.
  const std::string node_modules = std::string(EDGEOPT_SOURCE_DIR) + "/tests/tools/ort/node_modules";
  if (!std::filesystem::exists(node_modules) || std::system("node --version > /dev/null 2>&1") != 0) {
    std::printf("  ONNX Runtime: skipped (no node or %s)\n", node_modules.c_str());
    return 0;
  }
  std::filesystem::create_directories(work);
  edgeopt::PluginHost host;
  host.load(edgeopt::builtinPluginDir() + "/libedgeopt_onnx_export.so");
  const auto* entry = edgeopt::registries().of<edgeopt::Exporter>().find("onnx");
  auto exporter = entry->factory.create(entry->factory.options.validate(edgeopt::ConfigNode(), "exporter"));
  std::string files;
  for (size_t i = 0; i < models.size(); ++i) {
    models[i]->setExampleInputShapes({input});
    exporter->write(*models[i], work + "/" + names[i] + ".onnx");
    files += " '" + work + "/" + names[i] + ".onnx'";
  }
  for (const char* shape : {"1,3,224,224", "32,3,224,224"}) {
    const bool one = std::string(shape)[0] == '1' && std::string(shape)[1] == ',';
    const std::string cmd = (profile ? "EDGEOPT_ORT_PROFILE='" + work + "/ort-profile' " : std::string()) +
                            "node '" EDGEOPT_SOURCE_DIR "/bench/ort_latency.js' '" + node_modules + "' " + shape + " " +
                            std::to_string(one ? runs * 3 : runs_b32) + " " + std::to_string(threads) + files;
    std::printf("  ONNX Runtime, input %s:\n", shape);
    std::fflush(stdout);
    if (std::system(cmd.c_str()) != 0) std::printf("  (ort_latency.js failed)\n");
  }
  return 0;
}
