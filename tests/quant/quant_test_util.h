#pragma once
// Helpers for the quantization tests. ATen (with glog's CHECK) before Catch.
#include <ATen/ATen.h>

#include "export_test_util.h"
#include "zoo_models.h"

#include <edgeopt/graph_module.h>
#include <edgeopt/ir/builder.h>
#include <edgeopt/ir/executor.h>
#include <edgeopt/quant/qparams.h>
#include <edgeopt/quant/quantize.h>

#include <limits>
#include <string>
#include <vector>

namespace edgeopt::test {

// The state of one fake_quant node, passed as graph inputs so a test can
// read what the kernel wrote.
struct FakeQuantState {
  at::Tensor scale, zero_point, min_val, max_val, observer_mode, enabled, histogram, histogram_range;

  static FakeQuantState make(int64_t channels, double scale = 1.0, int64_t zero_point = 0, int64_t mode = 0) {
    const double inf = std::numeric_limits<double>::infinity();
    return {at::full({channels}, scale, at::kFloat),
            at::full({channels}, zero_point, at::kInt),
            at::full({channels}, inf, at::kFloat),
            at::full({channels}, -inf, at::kFloat),
            at::full({1}, mode, at::kLong),
            at::ones({1}, at::kLong),
            at::zeros({quant::kHistogramBins}, at::kFloat),
            at::zeros({2}, at::kFloat)};
  }
};

// Runs fake_quant(x, state...) once; `attrs` needs quant_min/quant_max.
inline at::Tensor runFakeQuant(const at::Tensor& x, FakeQuantState& s, ir::Attrs attrs, bool training = false) {
  ir::Graph g;
  const bool histogram = attrs.count("observer") && attrs.at("observer") == ir::AttrValue("histogram");
  std::vector<at::Tensor> inputs = {x, s.scale, s.zero_point, s.min_val, s.max_val, s.observer_mode, s.enabled};
  if (histogram) {
    inputs.push_back(s.histogram);
    inputs.push_back(s.histogram_range);
  }
  std::vector<ir::Value*> values;
  for (size_t i = 0; i < inputs.size(); ++i) values.push_back(g.input("in" + std::to_string(i)));
  ir::Node* n = g.call("fake_quant", values, std::move(attrs), "fq");
  g.output({n->output()});
  g.lint();
  ir::Executor ex(g);
  ir::ExecContext ctx;
  ctx.training = training;
  return ex.run(inputs, [](const std::string& name) -> const at::Tensor& {
    throw std::runtime_error("no params: " + name);
  }, ctx)[0];
}

inline at::Tensor floats(std::vector<float> v) { return at::tensor(v, at::kFloat); }

// conv(3->8, 3x3) -> BN -> ReLU -> conv(8->8, 3x3 depthwise) -> BN -> ReLU6 -> add(skip)
// -> conv(8->4, 1x1, bias) -> BN -> avg pool -> flatten -> linear(4->5):
// every placement rule on a model that runs in milliseconds.
inline std::shared_ptr<GraphModule> tinyNet(int64_t in_channels = 3) {
  ir::ModelBuilder b;
  ir::Value* x = b.input("x");
  x = b.conv2d("conv1", x, ir::Conv2dOptions(in_channels, 8, 3).padding(1).bias(false));
  x = b.batchNorm2d("bn1", x, 8);
  x = b.relu("relu1", x);
  ir::Value* y = b.conv2d("conv2", x, ir::Conv2dOptions(8, 8, 3).padding(1).groups(8).bias(false));
  y = b.batchNorm2d("bn2", y, 8);
  y = b.relu6("relu2", y);
  x = b.add(x, y);
  x = b.conv2d("conv3", x, ir::Conv2dOptions(8, 4, 1));
  x = b.batchNorm2d("bn3", x, 4);
  x = b.functional("adaptive_avg_pool2d", {x}, {{"output_size", ir::Ints{1, 1}}});
  x = b.flatten("flatten", x);
  x = b.linear("fc", x, 4, 5);
  b.output({x});
  auto m = b.finish();
  m->setExampleInputShapes({{1, in_channels, 8, 8}});
  // Non-trivial BN: random affine parameters and statistics.
  at::NoGradGuard no_grad;
  for (const auto& [name, t] : m->stateDict()) {
    if (name.rfind("bn", 0) != 0) continue;
    if (name.find("running_var") != std::string::npos) t.copy_(at::rand_like(t) + 0.5);
    else if (name.find("running_mean") != std::string::npos) t.copy_(at::randn_like(t) * 0.2);
    else if (name.find(".weight") != std::string::npos) t.copy_(at::rand_like(t) * 0.5 + 0.75);
    else if (name.find(".bias") != std::string::npos) t.copy_(at::randn_like(t) * 0.1);
  }
  return m;
}

// Runs each model in ONNX Runtime (graph optimizations off, 2 threads) on `x`,
// in one Node.js process (tests/exporters/ort_run.js); returns output 0 of each.
inline std::vector<at::Tensor> runInOrt(const std::string& dir, const std::vector<std::string>& models, const at::Tensor& x) {
  writeFloats(dir + "/x.bin", x);
  nlohmann::json manifest = {{"threads", 2}, {"optimization", "disabled"}, {"runs", nlohmann::json::array()}};
  for (size_t i = 0; i < models.size(); ++i)
    manifest["runs"].push_back({{"model", models[i]},
                                {"inputs", {{{"name", "x"}, {"file", dir + "/x.bin"}, {"dims", x.sizes().vec()}}}},
                                {"output_prefix", dir + "/ort-" + std::to_string(i)}});
  writeText(dir + "/manifest.json", manifest.dump());
  const std::string cmd = std::string(EDGEOPT_NODE) + " '" EDGEOPT_EXPORTER_TEST_DIR "/ort_run.js' '" +
                          EDGEOPT_ORT_NODE_MODULES + "' '" + dir + "/manifest.json'";
  const int rc = runLogged(cmd, dir + "/node.log");
  INFO(readText(dir + "/node.log"));
  REQUIRE(rc == 0);
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < models.size(); ++i) {
    const std::string prefix = dir + "/ort-" + std::to_string(i);
    auto report = readJson(prefix + ".json");
    INFO(models[i] << ": " << report.dump());
    REQUIRE(!report.contains("error"));
    out.push_back(readFloats(prefix + ".0.bin", report["outputs"][0]["dims"].get<std::vector<int64_t>>()));
  }
  return out;
}

inline std::shared_ptr<GraphModule> zooNet(const std::string& name, int64_t size = 64) {
  ZooOptions o;
  o.num_classes = 10;
  o.input_size = size;
  return buildZooModel(name, o);
}

inline quant::QuantizeOptions presetOptions(const std::string& preset) {
  quant::QuantizeOptions o;
  o.scheme = quant::presetScheme(preset);
  return o;
}

// Observes `batches` random batches in eval mode (calibration), then freezes.
inline void calibrateRandom(GraphModule& m, at::IntArrayRef shape, int batches = 3) {
  at::NoGradGuard no_grad;
  m.eval();
  quant::setObserverMode(m, quant::ObserverMode::Always);
  for (int i = 0; i < batches; ++i) m.forward({at::randn(shape)});
  quant::setObserverMode(m, quant::ObserverMode::Off);
}

inline std::vector<ir::Node*> nodesOf(const GraphModule& m, const std::string& op) {
  std::vector<ir::Node*> out;
  for (ir::Node* n : m.graph().nodes())
    if (n->opcode() == ir::Opcode::Call && n->target() == op) out.push_back(n);
  return out;
}

inline at::Tensor paramOf(const GraphModule& m, const ir::Node* n, size_t input) {
  return m.tensor(n->input(input)->producer()->target());
}

}  // namespace edgeopt::test
