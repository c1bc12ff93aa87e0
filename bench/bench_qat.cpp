// Float training step vs QAT training step (WC8_AT8: per-channel int8
// weights on BN-folded convs, uint8 activations with moving-average observers
// and range shrink, int32-grid biases), mobilenet_v2 (small-input variant) at
// 64x64, batch 32, 2 threads, SGD with momentum. A step is forward + cross
// entropy + backward + optimizer step. Timings are interleaved float/QAT so
// machine noise hits both alike; ratios are of medians.
// Memory: a counting CPU allocator records the peak tensor bytes held during
// a step (activations kept for backward, gradients, temporaries) on top of
// the model state (parameters, buffers, optimizer momentum).
// Targets (issue 5): QAT step <= 1.10x float, peak memory <= 1.5x.
// Rows: float; "qat" = EdgeOpt's default (its fake-quant kernels, ReLU/ReLU6
// folded into the following quantizer); "qat-unfused" = its kernels without
// that fusion; "qat-libtorch" = unfused with LibTorch's fake-quant kernels
// (what EdgeOpt ran before its own kernels). All four produce the same numbers
// bit for bit (tests/quant/test_fake_quant_kernels.cpp). "qat-frozen" is "qat"
// with observers frozen after the warm-up steps (QAT's later epochs).
// "float-nhwc" and "qat-nhwc" train in the channels-last layout, as the
// trainer does by default (edgeopt/memory_format.h). --main-job: the main
// recipe's model and batch instead (w0.5, 1 x 28 x 28, batch 64).
#include <edgeopt/graph_module.h>
#include <edgeopt/memory_format.h>
#include <edgeopt/quant/fake_quant.h>
#include <edgeopt/quant/quantize.h>
#include <edgeopt/runtime.h>

#include "zoo_models.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <memory>
#include <vector>

namespace {

// LibTorch's CPU allocation (c10::alloc_cpu), counting live bytes. The
// data pointer is its own context (raw_allocate requires that), so sizes are
// kept in a map.
class CountingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    void* data = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto cached = free_.find(n);
      if (cached != free_.end() && !cached->second.empty()) {
        data = cached->second.back();
        cached->second.pop_back();
      }
    }
    if (!data) data = c10::alloc_cpu(n);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      sizes_[data] = n;
      current_ += static_cast<int64_t>(n);
      peak_ = std::max(peak_, current_);
    }
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  int64_t current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
  }
  int64_t peak() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return peak_;
  }
  void setCaching(bool on) { caching_ = on; }
  void resetPeak() {
    std::lock_guard<std::mutex> lock(mutex_);
    peak_ = current_;
  }

 private:
  static void release(void* data);
  bool caching_ = false;  // keep freed blocks >= 1 MiB for reuse (no page faults on big tensors)
  mutable std::map<size_t, std::vector<void*>> free_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<void*, size_t> sizes_;
  mutable int64_t current_ = 0, peak_ = 0;
};

CountingAllocator* counter = nullptr;

void CountingAllocator::release(void* data) {
  if (!data) return;
  {
    std::lock_guard<std::mutex> lock(counter->mutex_);
    auto it = counter->sizes_.find(data);
    if (it != counter->sizes_.end()) {
      counter->current_ -= static_cast<int64_t>(it->second);
      if (counter->caching_ && it->second >= (size_t{1} << 20)) {
        counter->free_[it->second].push_back(data);
        counter->sizes_.erase(it);
        return;
      }
      counter->sizes_.erase(it);
    }
  }
  c10::free_cpu(data);
}

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Trainee {
  std::string label;
  std::shared_ptr<edgeopt::GraphModule> model;
  bool libtorch_kernels = false;
  std::unique_ptr<torch::optim::SGD> optimizer;
  std::unique_ptr<edgeopt::ChannelsLastParameters> channels_last;  // the "-nhwc" rows, as the trainer does
  std::vector<double> millis;
  int64_t peak_step_bytes = 0;

  Trainee(std::string name, std::shared_ptr<edgeopt::GraphModule> m, bool libtorch = false, bool nhwc = false)
      : label(std::move(name)), model(std::move(m)), libtorch_kernels(libtorch) {
    model->train();
    if (nhwc) channels_last = std::make_unique<edgeopt::ChannelsLastParameters>(*model);
    optimizer = std::make_unique<torch::optim::SGD>(model->parameters(),
                                                    torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(1e-4));
  }

  void step(const at::Tensor& x, const at::Tensor& y, bool record) {
    edgeopt::quant::setUseLibTorchKernels(libtorch_kernels);
    for (auto& p : model->parameters()) p.mutable_grad() = at::Tensor();  // gradients count as step memory
    const int64_t before = counter->current();
    counter->resetPeak();
    const auto t0 = Clock::now();
    at::Tensor loss =
        at::cross_entropy_loss(model->forward({edgeopt::toTrainingLayout(x, channels_last != nullptr)})[0], y);
    loss.backward();
    optimizer->step();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!record) return;
    millis.push_back(ms);
    peak_step_bytes = std::max(peak_step_bytes, counter->peak() - before);
  }

  int64_t stateBytes() const {
    int64_t bytes = 0;
    for (const auto& [name, t] : model->stateDict()) bytes += t.numel() * t.element_size();
    return 2 * bytes;  // + SGD momentum buffers (about one per parameter byte; buffers are small)
  }
};

}  // namespace

// --profile: one step of each under LibTorch's profiler; prints the
// top-level ATen ops and autograd nodes by total time.
void profileStep(Trainee& t, const at::Tensor& x, const at::Tensor& y, const std::string& label) {
  t.step(x, y, false);
  const std::string trace = "/tmp/bench_qat-" + label + ".json";
  {
    torch::autograd::profiler::RecordProfile guard(trace);
    t.step(x, y, false);
  }
  std::ifstream in(trace);
  const nlohmann::json events = nlohmann::json::parse(in);
  std::map<std::string, double> total;
  for (const auto& e : events.is_array() ? events : events.value("traceEvents", nlohmann::json::array()))
    if (e.value("ph", "") == "X") total[e.value("name", "")] += e.value("dur", 0.0) / 1000.0;
  std::vector<std::pair<double, std::string>> top;
  for (const auto& [name, ms] : total)
    if (name.rfind("aten::", 0) == 0 || name.rfind("edgeopt::", 0) == 0 ||
        name.rfind("autograd::engine::evaluate_function", 0) == 0)
      top.emplace_back(ms, name);
  std::sort(top.rbegin(), top.rend());
  std::printf("%s step, top ops (nested ops count in their callers too):\n", label.c_str());
  for (size_t i = 0; i < top.size() && i < 24; ++i) std::printf("  %8.1f ms  %s\n", top[i].first, top[i].second.c_str());
}

// --kernels: one activation-sized tensor (32 x 96 x 32 x 32, the expanded
// width of mobilenet_v2's early blocks at 64x64), forward + backward of the
// fake-quant kernels alone, interleaved medians: LibTorch's, EdgeOpt's, and
// ReLU6 then EdgeOpt's vs EdgeOpt's with the ReLU6 folded in.
void benchKernels() {
  using edgeopt::quant::fakeQuantizePerTensor;
  const at::Tensor x = at::randn({32, 96, 32, 32}) * 3;
  const at::Tensor dy = at::randn_like(x);
  using Fn = std::function<at::Tensor(const at::Tensor&)>;
  const std::vector<std::pair<std::string, Fn>> cases = {
      {"libtorch fake_quantize_per_tensor_affine", [](const at::Tensor& t) {
         return at::fake_quantize_per_tensor_affine(t, 0.05, 10, 0, 255);
       }},
      {"edgeopt fakeQuantizePerTensor", [](const at::Tensor& t) { return fakeQuantizePerTensor(t, 0.05f, 10, 0, 255); }},
      {"relu6 (hardtanh) + edgeopt", [](const at::Tensor& t) {
         return fakeQuantizePerTensor(at::hardtanh(t, 0.0, 6.0), 0.05f, 10, 0, 255);
       }},
      {"edgeopt with relu6 folded", [](const at::Tensor& t) {
         return fakeQuantizePerTensor(t, 0.05f, 0, 0, 255, edgeopt::quant::FusedClamp{0.0f, 6.0f});
       }}};
  std::vector<std::vector<double>> fwd(cases.size()), bwd(cases.size());
  for (int rep = 0; rep < 23; ++rep)
    for (size_t k = 0; k < cases.size(); ++k) {
      at::Tensor leaf = x.detach().requires_grad_(true);
      const auto t0 = Clock::now();
      at::Tensor y = cases[k].second(leaf);
      const auto t1 = Clock::now();
      y.backward(dy);
      const auto t2 = Clock::now();
      if (rep < 3) continue;  // warm-up
      fwd[k].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      bwd[k].push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
  std::printf("fake-quant kernels on %lld floats, 2 threads, medians of 20 interleaved runs\n",
              static_cast<long long>(x.numel()));
  std::printf("%-44s %10s %10s\n", "", "fwd ms", "bwd ms");
  for (size_t k = 0; k < cases.size(); ++k)
    std::printf("%-44s %10.2f %10.2f\n", cases[k].first.c_str(), median(fwd[k]), median(bwd[k]));
}

int main(int argc, char** argv) {
  edgeopt::usePassiveOpenMPWait(argv);
  edgeopt::tuneMalloc();
  counter = new CountingAllocator();
  bool cached = false;
  for (int i = 1; i < argc; ++i) cached = cached || std::string(argv[i]) == "--cached";
  counter->setCaching(cached);
  c10::SetCPUAllocator(counter, /*priority=*/100);
  at::set_num_threads(2);
  at::manual_seed(0);
  if (argc > 1 && std::string(argv[1]) == "--kernels") {
    benchKernels();
    return 0;
  }

  // --main-job: the main recipe's model and batch (mobilenet_v2 w0.5, 1 x 28 x 28, batch 64).
  bool main_job = false;
  for (int i = 1; i < argc; ++i) main_job = main_job || std::string(argv[i]) == "--main-job";
  edgeopt::ZooOptions o;
  o.num_classes = 10;
  o.input_size = main_job ? 28 : 64;
  o.width_mult = main_job ? 0.5 : 1.0;
  o.in_channels = main_job ? 1 : 3;
  const int64_t batch = main_job ? 64 : 32;
  auto float_model = edgeopt::buildZooModel("mobilenet_v2", o);
  auto quantized = [&](bool fuse_activations, edgeopt::quant::QuantizerCounts* counts) {
    auto m = float_model->clone();
    edgeopt::quant::QuantizeOptions q;
    q.scheme = edgeopt::quant::presetScheme("WC8_AT8");
    q.fuse_activations = fuse_activations;
    const auto c = edgeopt::quant::insertQuantizers(*m, q);
    if (counts) *counts = c;
    return m;
  };
  edgeopt::quant::QuantizerCounts counts;
  std::vector<Trainee> runs;
  runs.emplace_back("float", float_model);
  runs.emplace_back("float-nhwc", float_model->clone(), false, true);
  runs.emplace_back("qat", quantized(true, &counts));
  runs.emplace_back("qat-nhwc", quantized(true, nullptr), false, true);
  runs.emplace_back("qat-unfused", quantized(false, nullptr));
  runs.emplace_back("qat-libtorch", quantized(false, nullptr), true);
  // As after QAT's observer-freeze epoch: shows what the observers cost.
  runs.emplace_back("qat-frozen", quantized(true, nullptr));
  if (argc > 1 && std::string(argv[1]) == "--profile") {
    const at::Tensor px = at::randn({batch, o.in_channels, o.input_size, o.input_size});
    const at::Tensor py = at::randint(0, 10, {batch}, at::kLong);
    for (Trainee& t : runs) profileStep(t, px, py, t.label);
    return 0;
  }

  const at::Tensor x = at::randn({batch, o.in_channels, o.input_size, o.input_size});
  const at::Tensor y = at::randint(0, 10, {batch}, at::kLong);
  for (int i = 0; i < 2; ++i)
    for (Trainee& t : runs) t.step(x, y, false);
  edgeopt::quant::setObserverMode(*runs.back().model, edgeopt::quant::ObserverMode::Off);
  const int reps = 11;
  for (int i = 0; i < reps; ++i)  // interleaved, rotating who goes first
    for (size_t k = 0; k < runs.size(); ++k) runs[(k + static_cast<size_t>(i)) % runs.size()].step(x, y, true);
  const double mb = 1024.0 * 1024.0;
  const Trainee& fp = runs[0];
  const double t_fp = median(fp.millis);
  const double mem_fp = static_cast<double>(fp.peak_step_bytes + fp.stateBytes()) / mb;
  std::printf(
      "QAT vs float training step: mobilenet_v2 w%.2g %lldx%lldx%lld, batch %lld, 2 threads, SGD; WC8_AT8 (%d "
      "weight, %d activation quantizers, %d conv+BN folded); -nhwc: channels-last; medians of %d interleaved "
      "steps\n",
      o.width_mult, static_cast<long long>(o.in_channels), static_cast<long long>(o.input_size),
      static_cast<long long>(o.input_size), static_cast<long long>(batch), counts.weight, counts.activation,
      counts.fused_conv_bn, reps);
  // Fastest steps too: on a shared machine the minimum is the least disturbed.
  const double best_fp = *std::min_element(fp.millis.begin(), fp.millis.end());
  std::printf("%-13s %9s %9s %14s %12s %11s %11s %10s\n", "", "step ms", "best ms", "step peak MiB", "+ state MiB",
              "time ratio", "best ratio", "mem ratio");
  for (const Trainee& t : runs) {
    const double mem = static_cast<double>(t.peak_step_bytes + t.stateBytes()) / mb;
    const double best = *std::min_element(t.millis.begin(), t.millis.end());
    std::printf("%-13s %9.1f %9.1f %14.1f %12.1f %10.3fx %10.3fx %9.3fx\n", t.label.c_str(), median(t.millis), best,
                t.peak_step_bytes / mb, mem, median(t.millis) / t_fp, best / best_fp, mem / mem_fp);
  }
  std::printf("targets: qat time ratio <= 1.10, memory ratio <= 1.50\n");
  return 0;
}
