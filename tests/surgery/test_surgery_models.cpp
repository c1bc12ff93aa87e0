// The surgery stage's default table on whole models, end to end through
// edgeopt-run: torchvision mobilenet_v3_large, efficientnet_b0, regnet_y_400mf
// and shufflenet_v2_x0_5 (scripted at test time by make_surgery_fixtures.py,
// imported from TorchScript) and the zoo's yolov5n each run
//   surgery -> train (5 epochs) -> export [onnx] -> qat (2 steps)
//   -> export [edgeopt, onnx, qdq_onnx]
// on a tiny generated data set. Checked: what surgery.json reports (rules,
// counts, op counts after), that the graph after surgery and the ONNX files
// hold no Hardswish/SiLU/Hardsigmoid/SE gate, no pool with kernel >= 5 and no
// 6x6 conv, that QAT quantized every layer, and that ONNX Runtime runs the
// exports like EdgeOpt's eval output. Also, maxpool_k5plus_to_3x3 alone on
// yolov5n's SPPF leaves the model's outputs bit-identical.
#include "export_test_util.h"  // first: ATen's glog CHECK must come before Catch's

#include "brightness_classes.h"
#include "cli_runner.h"
#include "coco_squares.h"
#include "ort_runner.h"
#include "python_fixtures.h"
#include "run_metrics.h"

#include <edgeopt/quant/qparams.h>
#include <edgeopt/quant/quantize.h>

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <utility>

namespace fs = std::filesystem;
using namespace edgeopt;
using namespace edgeopt::test;
using nlohmann::json;

namespace {

using Counts = std::map<std::string, int64_t>;
using Replacements = std::vector<std::pair<std::string, int64_t>>;  // rule, count, in the order they ran

std::string fixture(const std::string& model) {
  static const std::string dir =
      pythonFixtureDir(std::string(EDGEOPT_SOURCE_DIR) + "/tests/surgery/make_surgery_fixtures.py",
                       std::string(EDGEOPT_TEST_WORK_DIR) + "/fixtures");
  return dir + "/" + model + ".script.pt";
}

std::string builtinPlugins() { return std::string(EDGEOPT_BINARY_DIR) + "/lib/edgeopt/plugins"; }

// The brightness classes (3 classes, 12 px gray PNGs) upscaled to 32 px.
const char* kClassificationData = R"(data:
  dataset: imagenet
  root: images
  batch_size: 8
  workers: 0
  train_transforms: [{resize: 32}, {normalize: {mean: [0.3, 0.3, 0.3], std: [0.3, 0.3, 0.3]}}]
  val_transforms: [{resize: 32}, {normalize: {mean: [0.3, 0.3, 0.3], std: [0.3, 0.3, 0.3]}}]
)";

// The COCO squares (2 classes, 64 px canvases).
const char* kDetectionData = R"(data:
  dataset: coco
  train_json: squares/train.json
  train_images: squares/train
  val_json: squares/val.json
  val_images: squares/val
  batch_size: 8
  workers: 0
  train_transforms: [{letterbox: 64}]
  val_transforms: [{letterbox: 64}]
)";

// Five short epochs of float training at a small learning rate, the float
// model exported to ONNX, then two QAT steps: enough to show the changed graph trains and quantizes, short
// enough for the default suite. The epochs are for BatchNorm: an untrained
// efficientnet_b0 evaluated with its initial running statistics (and two
// steps leave them nearly so) gives logits around 1e6, with or without
// surgery, and QAT's observers then see infinities; at lr 0.01 it diverges.
std::string pipelineRecipe(const std::string& model, bool detection) {
  const std::string task = detection ? "    task: detection\n" : "";
  return "version: 1\nname: surgery-models\nseed: 0\nthreads: 2\nmodel: " + model + "\n" +
         (detection ? kDetectionData : kClassificationData) +
         "stages:\n"
         "  - kind: surgery\n"
         "  - kind: train\n" + task +
         "    epochs: 5\n    lr: 0.0001\n"
         "  - kind: export\n    formats: [onnx]\n    name: float\n"
         "  - kind: qat\n" + task +
         "    epochs: 1\n    max_batches: 2\n    lr: 0.0001\n"
         "  - kind: export\n    formats: [edgeopt, onnx, qdq_onnx]\n";
}

// Writes the recipe and runs it in `dir`; the run folder.
std::string runRecipe(const std::string& dir, const std::string& recipe) {
  writeText(dir + "/r.yaml", recipe);
  CliResult r = runCli("r.yaml --output run", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  return dir + "/run";
}

json surgeryReport(const std::string& run) { return readJson(run + "/stages/0-surgery/surgery.json"); }

Replacements replacements(const json& report) {
  Replacements out;
  for (const auto& e : report["replacements"]) {
    CHECK(e["nodes"].size() == e["count"].get<size_t>());
    out.emplace_back(e["rule"].get<std::string>(), e["count"].get<int64_t>());
  }
  return out;
}

int64_t count(const Counts& ops, const std::string& op) { return ops.count(op) ? ops.at(op) : 0; }

// What the default table must leave nowhere in the graph: the activations it
// turns into ReLU, SE gates (sigmoid/hardsigmoid; their mul goes with them),
// pools with kernel >= 5, 6x6 convs.
void checkNothingLeft(const GraphModule& m) {
  for (ir::Node* n : m.graph().nodes()) {
    if (n->opcode() != ir::Opcode::Call) continue;
    INFO(n->name() << " (" << n->target() << ")");
    for (const char* op : {"hardswish", "silu", "hardsigmoid", "sigmoid"}) CHECK(n->target() != op);
    if (n->target() == "max_pool2d" || n->target() == "avg_pool2d")
      for (int64_t k : n->get<ir::Ints>("kernel_size")) CHECK(k < 5);
    if (n->target() == "conv2d") {
      const at::Tensor w = m.tensor(n->input(1)->producer()->target());
      CHECK(w.size(2) != 6);
      CHECK(w.size(3) != 6);
    }
  }
}

std::vector<int64_t> intsAttr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return {a.ints().begin(), a.ints().end()};
  return {};
}

// The same for an exported ONNX file; returns its op counts.
Counts checkNothingLeft(const std::string& onnx_file) {
  onnx::ModelProto p;
  REQUIRE(p.ParseFromString(readText(onnx_file)));
  Counts ops;
  for (const auto& n : p.graph().node()) {
    ++ops[n.op_type()];
    INFO(onnx_file << ": " << n.name() << " (" << n.op_type() << ")");
    for (const char* op : {"HardSwish", "HardSigmoid", "Sigmoid"}) CHECK(n.op_type() != op);
    if (n.op_type() == "MaxPool" || n.op_type() == "AveragePool")
      for (int64_t k : intsAttr(n, "kernel_shape")) CHECK(k < 5);
    if (n.op_type() == "Conv") CHECK(intsAttr(n, "kernel_shape") != std::vector<int64_t>{6, 6});
  }
  return ops;
}

// Each graph output's quantization step (the fake_quant producing it).
std::vector<double> outputLsbs(const GraphModule& m) {
  std::vector<double> lsbs;
  for (ir::Value* out : m.graph().outputs()) {
    const ir::Node* fq = out->producer();
    REQUIRE(fq->target() == "fake_quant");
    const at::Tensor scale = m.tensor(fq->input(quant::kScale)->producer()->target());
    REQUIRE(scale.numel() == 1);
    lsbs.push_back(scale.item<double>());
  }
  return lsbs;
}

struct ModelCase {
  std::string label;
  std::string model;  // the recipe's model: value
  bool detection = false;
  int64_t input_size = 32;
  Replacements replaced;
  Counts ops_after;
};

// The whole pipeline on one model, with every check in the file's header.
void runPipeline(const ModelCase& c) {
  const std::string dir = scratchDir(c.label);
  if (c.detection) makeCocoSquares(dir + "/squares");
  else makeBrightnessClasses(dir + "/images", 7, 3);
  const std::string run = runRecipe(dir, pipelineRecipe(c.model, c.detection));

  const json report = surgeryReport(run);
  CHECK(replacements(report) == c.replaced);
  const Counts after = report["after"]["ops"].get<Counts>();
  CHECK(after == c.ops_after);
  CHECK(report["after"]["params"].get<int64_t>() <= report["before"]["params"].get<int64_t>());

  checkNothingLeft(*GraphModule::load(run + "/checkpoints/stage-0-surgery.edgeopt"));

  // It trained and quantized: one metrics row per epoch, finite losses,
  // a weight quantizer on every conv and linear layer.
  int rows = 0;
  for (const auto& row : metricsRows(run)) {
    const std::string kind = row.value("kind", "");
    if (kind != "train" && kind != "qat") continue;
    ++rows;
    CHECK(std::isfinite(row["train_loss"].get<double>()));
  }
  CHECK(rows == 5 + 1);
  auto model = GraphModule::load(run + "/exports/model.edgeopt");
  CHECK(quant::countQuantizers(*model).weight == count(after, "conv2d") + count(after, "linear"));

  const std::string onnx = run + "/exports/model.onnx", qdq = run + "/exports/model.qdq.onnx";
  const Counts float_ops = checkNothingLeft(run + "/exports/float.onnx");
  const Counts onnx_ops = checkNothingLeft(onnx), qdq_ops = checkNothingLeft(qdq);
  CHECK(count(float_ops, "Conv") == count(after, "conv2d"));
  CHECK(count(qdq_ops, "Conv") == count(after, "conv2d"));
  CHECK(count(qdq_ops, "Relu") == count(after, "relu"));
  CHECK(count(onnx_ops, "Relu") == count(after, "relu"));

  // ONNX Runtime against EdgeOpt's eval output: the float model after
  // training, and the QAT model in both formats (output LSB units).
  at::manual_seed(3);
  const at::Tensor x = at::randn({64, 3, c.input_size, c.input_size});
  writeFloats(dir + "/x.bin", x);
  auto trained = GraphModule::load(run + "/checkpoints/stage-1-train.edgeopt");
  trained->eval();
  model->eval();
  std::vector<at::Tensor> float_expected, expected;
  {
    at::NoGradGuard no_grad;
    float_expected = trained->forward({x});
    expected = model->forward({x});
  }
  const std::vector<double> diffs = runInOrt(
      dir, {{run + "/exports/float.onnx", "float onnx", float_expected}, {onnx, "onnx", expected},
            {qdq, "qdq_onnx", expected}},
      dir + "/x.bin", x.sizes());
  CHECK(diffs[0] <= 1e-4 * std::max(1.0, maxAbs(float_expected)));
  const std::vector<double> lsbs = outputLsbs(*model);
  for (int i = 1; i <= 2; ++i) {
    double max_lsb = 0, sum = 0, within = 0, total = 0;
    for (size_t k = 0; k < expected.size(); ++k) {
      const at::Tensor ort = readFloats(dir + "/ort-" + std::to_string(i) + "." + std::to_string(k) + ".bin",
                                        expected[k].sizes());
      const at::Tensor d = (ort.to(at::kDouble) - expected[k].to(at::kDouble)).abs() / lsbs[k];
      max_lsb = std::max(max_lsb, d.max().item<double>());
      sum += d.sum().item<double>();
      within += (d <= 1.001).sum().item<double>();
      total += static_cast<double>(d.numel());
    }
    const char* format = i == 2 ? "qdq_onnx" : "onnx";
    const double mean_lsb = sum / total;
    std::printf("surgery %-20s %-8s |ORT - EdgeOpt|: max %.2f, mean %.3f output LSB, %.2f %% within 1 LSB\n",
                c.label.c_str(), format, max_lsb, mean_lsb, 100 * within / total);
    INFO(format << ": max " << max_lsb << " LSB, mean " << mean_lsb << " LSB, " << 100 * within / total
                << " % within 1 LSB");
    if (i == 2) {
      // QDQ: the integer weights and biases EdgeOpt simulates; what differs
      // are activation rounding flips where ORT's float convolutions sum in
      // another order, which an untrained deep network carries on to a few
      // outputs.
      // Measured: max 13 LSB, mean <= 0.45 LSB (shufflenet, regnet) when
      // trained NCHW; trained channels-last (the default since 9db7f24) the
      // weights differ by float rounding, so do the flips: shufflenet max 19,
      // mean 0.33, 93.75 % within 1 LSB. The max is the tail of a chaotic
      // process; the mean and the share within 1 LSB are the firm checks.
      CHECK(max_lsb <= 24.001);
      CHECK(mean_lsb <= 1.0);
    } else {
      // Plain ONNX recomputes each folded weight w * gamma / sqrt(var + eps)
      // in ORT's float arithmetic before QuantizeLinear. The symmetric
      // per-channel weight scale max|w| / 127.5 puts each channel's extreme
      // negative weight exactly on the -127.5 rounding tie, so ORT rounds
      // some of those the other way (shufflenet_v2_x0_5: 390 of 333,840
      // weights, in every layer) and the outputs drift by tens of LSBs.
      // Measured: max 48, mean 10.5 LSB (shufflenet). Bounded loosely here,
      // against gross breakage: the float export above and the QDQ export
      // are the exact checks.
      CHECK(max_lsb <= 96.001);
      CHECK(mean_lsb <= 24.0);
    }
  }
}

std::string torchscriptModel(const std::string& name) {
  return "{source: torchscript, path: '" + fixture(name) + "', input_shape: [1, 3, 32, 32]}";
}

}  // namespace

TEST_CASE("default table on torchvision mobilenet_v3_large: 8 SE blocks and 21 Hardswish gone, then it trains, quantizes, "
          "ONNX and QDQ ONNX run in ONNX Runtime",
          "[surgery][models]") {
  ModelCase c;
  c.label = "mobilenet_v3_large";
  c.model = torchscriptModel(c.label);
  c.replaced = {{"se_to_identity", 8}, {"hardswish_to_relu", 21}};
  c.ops_after = {{"adaptive_avg_pool2d", 1}, {"add", 10}, {"batch_norm", 46}, {"conv2d", 46}, {"dropout", 1},
                 {"flatten", 1},             {"linear", 2}, {"relu", 32}};
  runPipeline(c);
}

TEST_CASE("default table on torchvision efficientnet_b0: 16 SE blocks and 33 SiLU gone, then it trains, quantizes, "
          "ONNX and QDQ ONNX run in ONNX Runtime",
          "[surgery][models]") {
  ModelCase c;
  c.label = "efficientnet_b0";
  c.model = torchscriptModel(c.label);
  c.replaced = {{"se_to_identity", 16}, {"silu_to_relu", 33}};
  c.ops_after = {{"adaptive_avg_pool2d", 1}, {"add", 9},    {"batch_norm", 49}, {"conv2d", 49},          {"dropout", 1},
                 {"flatten", 1},             {"linear", 1}, {"relu", 33},       {"stochastic_depth", 9}};
  runPipeline(c);
}

TEST_CASE("default table on torchvision regnet_y_400mf: its 16 SE blocks gone, then it trains, quantizes, ONNX and QDQ ONNX "
          "run in ONNX Runtime",
          "[surgery][models]") {
  ModelCase c;
  c.label = "regnet_y_400mf";
  c.model = torchscriptModel(c.label);
  c.replaced = {{"se_to_identity", 16}};
  c.ops_after = {{"adaptive_avg_pool2d", 1}, {"add", 16}, {"batch_norm", 53}, {"conv2d", 53},
                 {"flatten", 1},             {"linear", 1}, {"relu", 49}};
  runPipeline(c);
}

TEST_CASE("default table on torchvision shufflenet_v2_x0_5: nothing to replace, the model passes through unchanged "
          "and still trains, quantizes and exports",
          "[surgery][models]") {
  ModelCase c;
  c.label = "shufflenet_v2_x0_5";
  c.model = torchscriptModel(c.label);
  c.replaced = {};
  c.ops_after = {{"batch_norm", 56}, {"cat", 16},  {"chunk", 13}, {"conv2d", 56},  {"linear", 1},
                 {"max_pool2d", 1},  {"mean", 1}, {"relu", 37},  {"reshape", 32}, {"transpose", 16}};
  runPipeline(c);
}

TEST_CASE("default table on the zoo's yolov5n: 6x6 stem -> 5x5, 57 SiLU -> ReLU, SPPF 5x5 pools -> 3x3 chains, then it "
          "trains (detection), quantizes, ONNX and QDQ ONNX run in ONNX Runtime",
          "[surgery][models]") {
  ModelCase c;
  c.label = "yolov5n";
  c.model = "{source: zoo, name: yolov5n, num_classes: 2, input_size: 64}";
  c.detection = true;
  c.input_size = 64;
  c.replaced = {{"silu_to_relu", 57}, {"maxpool_k5plus_to_3x3", 3}, {"conv_k6_to_k5", 1}};
  c.ops_after = {{"add", 7},         {"batch_norm", 57}, {"cat", 13}, {"conv2d", 60},
                 {"interpolate", 2}, {"max_pool2d", 6},  {"relu", 57}};
  runPipeline(c);
}

TEST_CASE("maxpool_k5plus_to_3x3 on yolov5n's SPPF is exact: outputs before and after surgery are bit-identical, in "
          "EdgeOpt and in ONNX Runtime",
          "[surgery][models]") {
  const std::string dir = scratchDir("sppf-exact");
  // The lite table without the two inexact rules that would fire on yolov5n.
  const std::string run = runRecipe(dir, R"(version: 1
name: sppf-exact
seed: 0
threads: 2
model: {source: zoo, name: yolov5n, num_classes: 2, input_size: 64}
stages:
  - kind: export
    formats: [edgeopt, onnx]
    name: before
  - kind: surgery
    preset: lite
    rules: {conv_k6_to_k5: false, silu_to_relu: false}
  - kind: export
    formats: [edgeopt, onnx]
    name: after
)");
  const json report = readJson(run + "/stages/1-surgery/surgery.json");
  CHECK(replacements(report) == Replacements{{"maxpool_k5plus_to_3x3", 3}});
  CHECK(report["replacements"][0]["nodes"] == json({"model.9.m", "model.9.m_1", "model.9.m_2"}));
  CHECK(report["before"]["ops"]["max_pool2d"] == 3);
  CHECK(report["after"]["ops"]["max_pool2d"] == 6);
  CHECK(report["after"]["ops"]["silu"] == 57);
  CHECK(report["after"]["params"] == report["before"]["params"]);

  auto before = GraphModule::load(run + "/exports/before.edgeopt");
  auto after = GraphModule::load(run + "/exports/after.edgeopt");
  // Each k5 s1 p2 pool became two k3 s1 p1 pools, the second under the old name.
  std::set<std::string> pools;
  for (ir::Node* n : after->graph().nodes()) {
    if (n->opcode() != ir::Opcode::Call || n->target() != "max_pool2d") continue;
    pools.insert(n->name());
    CHECK(n->get<ir::Ints>("kernel_size") == ir::Ints{3, 3});
    CHECK(n->get<ir::Ints>("stride") == ir::Ints{1, 1});
    CHECK(n->get<ir::Ints>("padding") == ir::Ints{1, 1});
  }
  CHECK(pools == std::set<std::string>{"model.9.m.0", "model.9.m", "model.9.m_1.0", "model.9.m_1", "model.9.m_2.0",
                                       "model.9.m_2"});

  before->eval();
  after->eval();
  at::manual_seed(5);
  const at::Tensor x = at::randn({2, 3, 64, 64});
  std::vector<at::Tensor> expected;
  {
    at::NoGradGuard no_grad;
    const auto a = before->forward({x}), b = after->forward({x});
    REQUIRE(a.size() == 3);
    REQUIRE(b.size() == 3);
    for (size_t i = 0; i < a.size(); ++i) {
      CHECK(at::equal(a[i], b[i]));
      expected.push_back(a[i]);
    }
  }
  writeFloats(dir + "/x.bin", x);
  const std::vector<double> diffs = runInOrt(
      dir, {{run + "/exports/before.onnx", "before", expected}, {run + "/exports/after.onnx", "after", expected}},
      dir + "/x.bin", x.sizes());
  // ORT's float convolutions round differently from oneDNN's ...
  CHECK(diffs[0] < 1e-4);
  // ... but the same way in both files: the pool chains change nothing.
  for (size_t k = 0; k < expected.size(); ++k) {
    const std::string out = "." + std::to_string(k) + ".bin";
    CHECK(at::equal(readFloats(dir + "/ort-0" + out, expected[k].sizes()),
                    readFloats(dir + "/ort-1" + out, expected[k].sizes())));
  }
}
