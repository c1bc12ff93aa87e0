// EdgeOpt against what users would run otherwise, side by side (issue 12):
// torchvision's mobilenet_v2 (10 classes), scripted by Python and imported
// here, so weights and shapes are identical (checked), on the same input
// tensors, with the same threads and malloc settings in every process:
//   - float training step (SGD): EdgeOpt vs PyTorch eager (Debian's python3-torch);
//   - QAT training step: EdgeOpt WC8_AT8 vs torch.ao FX QAT (prepare_qat_fx,
//     default QAT qconfig mapping);
//   - inference at batch 1 and 32: EdgeOpt executor vs PyTorch eager vs ONNX
//     Runtime on EdgeOpt's ONNX export (when node and tests/tools/ort are there).
// The peers run in child processes driven one step at a time over pipes
// (bench/peer_torch.py, bench/ort_serve.js); each process times its own step,
// and the runs are interleaved (rotating who goes first) so machine load hits
// all alike. Printed: medians, fastest runs, and EdgeOpt / peer ratios.
// Targets: float step <= 1.0x eager, QAT step <= 0.6x torch.ao.
//
//   bench_peer [--work DIR] [--steps N] [--runs N] [--train-size S] [--infer-size S] [--threads T] [--main-job]
//              [--profile]
// Training steps run in both layouts on both sides: EdgeOpt's trainer default
// (channels-last, edgeopt/memory_format.h) and contiguous; PyTorch eager and
// torch.ao as they come and after .to(memory_format=torch.channels_last).
// --main-job: the main recipe's network instead (mobilenet_v2 width 0.5,
// 1x28x28, small-input strides, batch 64; inference at 28x28).
// --profile: 5 steps of each under the autograd profiler in both processes,
// interleaved; per-op median totals side by side (nested ops count in their callers).
#include <edgeopt/config.h>
#include <edgeopt/exporter.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/line_process.h>
#include <edgeopt/memory_format.h>
#include <edgeopt/model_source.h>
#include <edgeopt/plugin_host.h>
#include <edgeopt/quant/quantize.h>
#include <edgeopt/registry.h>
#include <edgeopt/runtime.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string loadText() {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) < 0) return "?";
  char text[64];
  std::snprintf(text, sizeof text, "%.2f %.2f %.2f", load[0], load[1], load[2]);
  return text;
}

// A child process answering one line per command line (stdin -> stdout).
class Peer {
 public:
  Peer(const std::string& name, const std::vector<std::string>& argv) : name_(name), process_(argv) {
    if (process_.firstLine() != "ready") throw std::runtime_error(name_ + " did not start: " + process_.firstLine());
  }
  std::string ask(const std::string& command) {
    const std::string answer = process_.exchange(command);
    if (answer.rfind("error", 0) == 0 || answer.empty())
      throw std::runtime_error(name_ + ": '" + command + "' -> " + (answer.empty() ? "(no answer)" : answer));
    return answer;
  }
  double millis(const std::string& command) { return std::stod(ask(command)); }

 private:
  std::string name_;
  edgeopt::LineProcess process_;
};

c10::Dict<c10::IValue, c10::IValue> loadPickle(const std::string& path) {
  const std::string bytes = edgeopt::readFile(path);
  return torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
}

struct Trainee {
  std::shared_ptr<edgeopt::GraphModule> model;
  std::unique_ptr<torch::optim::SGD> optimizer;
  // The trainer's default layout (memory_format: channels_last): 4-D weights
  // and the batch restrided to NHWC for the trainee's lifetime.
  std::unique_ptr<edgeopt::ChannelsLastParameters> channels_last;
  Trainee(std::shared_ptr<edgeopt::GraphModule> m, bool nhwc) : model(std::move(m)) {
    model->train();
    if (nhwc) channels_last = std::make_unique<edgeopt::ChannelsLastParameters>(*model);
    // As peer_torch.py: one group, lr 0.01, momentum 0.9, weight decay 1e-4.
    optimizer = std::make_unique<torch::optim::SGD>(model->parameters(),
                                                    torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(1e-4));
  }
  void step(const at::Tensor& x, const at::Tensor& y) {
    optimizer->zero_grad();
    at::Tensor loss =
        at::cross_entropy_loss(model->forward({edgeopt::toTrainingLayout(x, channels_last != nullptr)})[0], y);
    loss.backward();
    optimizer->step();
  }
};

double timed(const std::function<void()>& fn) {
  const auto t0 = Clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Contender {
  std::string name;
  std::function<double()> run;  // one run, its milliseconds
  std::vector<double> times;
};

// `warmup` rounds, then `runs` rounds of every contender, the order rotating.
void interleave(std::vector<Contender>& cs, int warmup, int runs) {
  for (int i = 0; i < warmup; ++i)
    for (auto& c : cs) c.run();
  for (int i = 0; i < runs; ++i)
    for (size_t k = 0; k < cs.size(); ++k) {
      Contender& c = cs[(k + static_cast<size_t>(i)) % cs.size()];
      c.times.push_back(c.run());
    }
}

void printGroup(const std::string& title, const std::vector<Contender>& cs, const std::string& target = "") {
  std::printf("%s\n", title.c_str());
  const double ours = median(cs[0].times), ours_best = *std::min_element(cs[0].times.begin(), cs[0].times.end());
  for (const Contender& c : cs) {
    const double med = median(c.times), best = *std::min_element(c.times.begin(), c.times.end());
    if (&c == &cs[0])
      std::printf("  %-22s %9.2f ms  best %9.2f ms\n", c.name.c_str(), med, best);
    else
      std::printf("  %-22s %9.2f ms  best %9.2f ms   EdgeOpt / this: %.3fx (best %.3fx)\n", c.name.c_str(), med, best,
                  ours / med, ours_best / best);
  }
  if (!target.empty()) std::printf("  target: %s\n", target.c_str());
  std::fflush(stdout);
}

std::map<std::string, double> profileOurs(Trainee& t, const at::Tensor& x, const at::Tensor& y,
                                          const std::string& trace) {
  t.step(x, y);
  {
    torch::autograd::profiler::RecordProfile guard(trace);
    t.step(x, y);
  }
  std::ifstream in(trace);
  const nlohmann::json events = nlohmann::json::parse(in);
  std::map<std::string, double> total;
  for (const auto& e : events.is_array() ? events : events.value("traceEvents", nlohmann::json::array()))
    if (e.value("ph", "") == "X" && e.contains("dur") && e["dur"].is_number())
      total[e.value("name", "")] += e["dur"].get<double>() / 1000.0;
  return total;
}

void printProfiles(const std::string& label, const std::map<std::string, double>& ours,
                   const std::map<std::string, double>& theirs) {
  std::set<std::string> names;
  for (const auto* m : {&ours, &theirs})
    for (const auto& [name, ms] : *m)
      if (name.rfind("aten::", 0) == 0 || name.rfind("edgeopt::", 0) == 0 ||
          name.rfind("autograd::engine::evaluate_function", 0) == 0 || name.rfind("Optimizer", 0) == 0)
        names.insert(name);
  std::vector<std::pair<double, std::string>> order;
  auto get = [](const std::map<std::string, double>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? 0.0 : it->second;
  };
  for (const auto& n : names) order.emplace_back(std::max(get(ours, n), get(theirs, n)), n);
  std::sort(order.rbegin(), order.rend());
  std::printf("%s, median of 5 interleaved profiled steps, total ms per op (nested ops count in their callers too)\n",
              label.c_str());
  std::printf("  %9s %9s %9s  %s\n", "edgeopt", "peer", "diff", "op");
  for (size_t i = 0; i < order.size() && i < 40; ++i) {
    const std::string& n = order[i].second;
    std::printf("  %9.1f %9.1f %+9.1f  %s\n", get(ours, n), get(theirs, n), get(ours, n) - get(theirs, n), n.c_str());
  }
  std::fflush(stdout);
}

}  // namespace

int runBench(int argc, char** argv) {
  edgeopt::usePassiveOpenMPWait(argv);  // re-executes once; the children inherit OMP_WAIT_POLICY
  std::string work = "bench-work/peer";
  int steps = 15, runs = 40, threads = 2;
  int64_t train_size = 64, infer_size = 224;
  bool profile = false, main_job = false;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--main-job") main_job = true, train_size = 28, infer_size = 28;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool more = i + 1 < argc;
    if (a == "--work" && more) work = argv[++i];
    else if (a == "--steps" && more) steps = std::atoi(argv[++i]);
    else if (a == "--runs" && more) runs = std::atoi(argv[++i]);
    else if (a == "--train-size" && more) train_size = std::atoi(argv[++i]);
    else if (a == "--infer-size" && more) infer_size = std::atoi(argv[++i]);
    else if (a == "--threads" && more) threads = std::atoi(argv[++i]);
    else if (a == "--profile") profile = true;
    else if (a == "--main-job")
      continue;
    else {
      std::fprintf(stderr,
                   "usage: bench_peer [--work DIR] [--steps N] [--runs N] [--train-size S] [--infer-size S] "
                   "[--threads T] [--main-job] [--profile]\n");
      return 2;
    }
  }
  edgeopt::tuneMalloc();
  at::set_num_threads(threads);
  at::manual_seed(0);
  std::filesystem::create_directories(work);
  work = std::filesystem::absolute(work).lexically_normal().string();
  const std::string load_before = loadText();

  ::setenv("PEER_THREADS", std::to_string(threads).c_str(), 1);
  std::unique_ptr<Peer> torch_peer;
  try {
    torch_peer = std::make_unique<Peer>(
        "peer_torch.py", std::vector<std::string>{EDGEOPT_SYSTEM_PYTHON, EDGEOPT_SOURCE_DIR "/bench/peer_torch.py",
                                                  work, std::to_string(train_size), std::to_string(infer_size),
                                                  main_job ? "main-job" : "torchvision"});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s (needs Debian's python3-torch and python3-torchvision)\n", e.what());
    return 1;
  }
  auto inputs = loadPickle(work + "/inputs.pt");
  const at::Tensor x = inputs.at("x").toTensor(), y = inputs.at("y").toTensor(), xi = inputs.at("xi").toTensor();

  edgeopt::PluginHost host;
  host.load(edgeopt::builtinPluginDir() + "/libedgeopt_torchscript.so");
  host.load(edgeopt::builtinPluginDir() + "/libedgeopt_onnx_export.so");
  const auto* source = edgeopt::registries().of<edgeopt::ModelSource>().find("torchscript");
  const std::string script = work + "/mobilenet_v2.script.pt";
  auto imported = source->factory
                      .create(source->factory.options.validate(
                          edgeopt::ConfigNode::parse("{path: '" + script + "', mode: train}", "model.yaml"), "model",
                          {}, "/"))
                      ->load();

  // Same function, same weights: the eval output matches PyTorch's.
  auto infer = imported->clone();
  infer->eval();
  {
    at::NoGradGuard no_grad;
    const double diff =
        (infer->forward({xi.narrow(0, 0, 2)})[0] - inputs.at("eval_out").toTensor()).abs().max().item<double>();
    if (diff > 1e-4) {
      std::fprintf(stderr, "error: EdgeOpt's import and PyTorch differ by %g in eval mode\n", diff);
      return 1;
    }
    std::printf(
        "mobilenet_v2 (torchvision, 10 classes%s) imported from TorchScript; eval output vs PyTorch: max "
        "|diff| %.2g\n",
        main_job ? "; the main job's width 0.5, 1-channel, small-input variant" : "", diff);
  }
  Trainee fp(imported->clone(), false), fp_cl(imported->clone(), true);
  auto qat_model = imported->clone();
  edgeopt::quant::QuantizeOptions q;
  q.scheme = edgeopt::quant::presetScheme("WC8_AT8");
  const auto counts = edgeopt::quant::insertQuantizers(*qat_model, q);
  Trainee qat(qat_model->clone(), false), qat_cl(qat_model, true);

  std::printf("threads %d, malloc: no mmap, no trim (both processes), OMP_WAIT_POLICY=%s; load average before: %s\n",
              threads, std::getenv("OMP_WAIT_POLICY"), load_before.c_str());

  if (profile) {
    for (const char* kind : {"float", "qat"}) {
      Trainee& t = std::string(kind) == "float" ? fp_cl : qat_cl;
      // Medians over interleaved profiled steps: one step alone is at the mercy of the machine's load.
      std::map<std::string, std::vector<double>> ours_runs, theirs_runs;
      const int rounds = 5;
      for (int r = 0; r < rounds; ++r) {
        for (const auto& [k, v] : profileOurs(t, x, y, work + "/profile-" + kind + ".json")) ours_runs[k].push_back(v);
        const nlohmann::json peer_totals = nlohmann::json::parse(torch_peer->ask(std::string("profile ") + kind));
        for (const auto& [k, v] : peer_totals.items())
          if (v.is_number()) theirs_runs[k].push_back(v.get<double>());
      }
      std::map<std::string, double> ours, theirs;
      for (auto& [k, v] : ours_runs) ours[k] = v.size() == rounds ? median(v) : 0.0;
      for (auto& [k, v] : theirs_runs) theirs[k] = v.size() == rounds ? median(v) : 0.0;
      printProfiles(std::string(kind) + " step: EdgeOpt (channels-last) vs " +
                        (std::string(kind) == "float" ? "eager" : "torch.ao"),
                    ours, theirs);
    }
    return 0;
  }

  auto ours = [](Trainee& t, const at::Tensor& x, const at::Tensor& y) {
    return [&t, &x, &y] { return timed([&] { t.step(x, y); }); };
  };
  auto theirs = [&torch_peer](const std::string& command) {
    return [&torch_peer, command] { return torch_peer->millis(command); };
  };
  {
    std::vector<Contender> cs = {{"EdgeOpt channels-last", ours(fp_cl, x, y), {}},
                                 {"EdgeOpt contiguous", ours(fp, x, y), {}},
                                 {"PyTorch eager", theirs("float"), {}},
                                 {"eager channels_last", theirs("float_cl"), {}}};
    interleave(cs, 3, steps);
    printGroup("float training step, batch " + std::to_string(x.size(0)) + " at " + std::to_string(train_size) + "x" +
                   std::to_string(train_size) + ", SGD, median of " + std::to_string(steps),
               cs, "EdgeOpt / eager <= 1.0");
  }
  {
    std::vector<Contender> cs = {{"EdgeOpt WC8_AT8 ch-last", ours(qat_cl, x, y), {}},
                                 {"EdgeOpt WC8_AT8 contig.", ours(qat, x, y), {}},
                                 {"torch.ao FX QAT", theirs("qat"), {}},
                                 {"torch.ao channels_last", theirs("qat_cl"), {}}};
    interleave(cs, 3, steps);
    printGroup("QAT training step (EdgeOpt: " + std::to_string(counts.weight) + " weight, " +
                   std::to_string(counts.activation) + " activation quantizers, " +
                   std::to_string(counts.fused_conv_bn) + " conv+BN folded), median of " + std::to_string(steps),
               cs, "EdgeOpt / torch.ao <= 0.6");
  }

  // ONNX Runtime on EdgeOpt's float export of the same model.
  std::unique_ptr<Peer> ort;
  const std::string node_modules = std::string(EDGEOPT_SOURCE_DIR) + "/tests/tools/ort/node_modules";
  if (std::filesystem::exists(node_modules) && std::system("node --version > /dev/null 2>&1") == 0) {
    const auto* entry = edgeopt::registries().of<edgeopt::Exporter>().find("onnx");
    auto exporter = entry->factory.create(entry->factory.options.validate(edgeopt::ConfigNode(), "exporter"));
    const int64_t channels = xi.size(1);
    infer->setExampleInputShapes({{1, channels, infer_size, infer_size}});
    exporter->write(*infer, work + "/mobilenet_v2.onnx");
    const std::string chw =
        std::to_string(channels) + "," + std::to_string(infer_size) + "," + std::to_string(infer_size);
    ort = std::make_unique<Peer>("ort_serve.js",
                                 std::vector<std::string>{"node", EDGEOPT_SOURCE_DIR "/bench/ort_serve.js", node_modules,
                                                          work + "/mobilenet_v2.onnx", std::to_string(threads),
                                                          work + "/infer_x.f32", chw});
  } else {
    std::printf("ONNX Runtime: skipped (no node or %s)\n", node_modules.c_str());
  }
  for (int64_t batch : {1, 32}) {
    const at::Tensor xb = xi.narrow(0, 0, batch).contiguous();
    const std::string b = std::to_string(batch);
    std::vector<Contender> cs = {{"EdgeOpt executor",
                                  [&] {
                                    at::NoGradGuard no_grad;
                                    return timed([&] { infer->forward({xb}); });
                                  },
                                  {}},
                                 {"PyTorch eager", [&, b] { return torch_peer->millis("infer " + b); }, {}}};
    if (ort) cs.push_back({"ONNX Runtime", [&, b] { return ort->millis(b); }, {}});
    const int n = batch == 1 ? runs : std::max(5, runs / 4);
    interleave(cs, 3, n);
    printGroup("inference batch " + b + " at " + std::to_string(infer_size) + "x" + std::to_string(infer_size) +
                   ", median of " + std::to_string(n),
               cs);
  }
  std::printf("load average after: %s\n", loadText().c_str());
  return 0;
}

int main(int argc, char** argv) {
  try {
    return runBench(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
