// edgeopt-run --onnxruntime RUN_DIR: a run's ONNX exports scored in ONNX
// Runtime (Node.js onnxruntime-node) with EdgeOpt's own metric code agree
// with the run's evaluate stages (a float export: the same top-1 and mAP; a
// QDQ export on ORT's int8 kernels vs EdgeOpt's fake-quant: within the bounds
// below), the rows reach onnxruntime.json and report.html, and a missing
// Node.js, onnxruntime-node or export is one error line.
#include <edgeopt/fileutil.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "brightness_classes.h"
#include "cli_runner.h"
#include "coco_squares.h"
#include "run_metrics.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;
using namespace edgeopt::test;
using nlohmann::json;

namespace {

const char* kClassify = R"(version: 1
name: ortcls
seed: 4
deterministic: true
threads: 2
model: {source: zoo, name: simple_cnn, num_classes: 3, in_channels: 1, input_size: 12, width_mult: 0.5}
data:
  dataset: imagenet
  root: images
  channels: 1
  batch_size: 8
  workers: 2
  train_transforms: [{random_resized_crop: {size: 12, scale: [0.7, 1.0]}}, {normalize: {mean: [0.3], std: [0.3]}}]
  val_transforms: [{normalize: {mean: [0.3], std: [0.3]}}]
stages:
  - kind: train
    epochs: 1
    max_batches: 1
    lr: 0.1
  - kind: evaluate
  - kind: export
    name: float
    formats: [onnx]
  - kind: qat
    preset: WC8_AT8
    epochs: 1
    max_batches: 1
    lr: 0.01
  - kind: evaluate
  - kind: export
    formats: [qdq_onnx]
)";

const char* kDetect = R"(version: 1
name: ortdet
seed: 1
deterministic: true
threads: 2
model: {source: zoo, name: yolov5n, num_classes: 2, input_size: 64, width_mult: 0.5}
data:
  dataset: coco
  train_json: squares/train.json
  train_images: squares/train
  val_json: squares/val.json
  val_images: squares/val
  batch_size: 16
  workers: 2
  train_transforms: [{letterbox: 64}]
  val_transforms: [{letterbox: 64}]
stages:
  - kind: train
    task: detection
    epochs: 12
    eval_every: 12
    lr: 0.05
    momentum: 0.937
    weight_decay: 0.0005
    warmup_epochs: 1
  - kind: evaluate
    task: detection
  - kind: export
    name: float
    formats: [onnx]
  - kind: qat
    task: detection
    preset: WC8_AT8
    epochs: 1
    lr: 0.001
  - kind: evaluate
    task: detection
  - kind: export
    formats: [qdq_onnx]
)";

std::string fixed2(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", v);
  return text;
}

std::string plugins() {
  static const std::string path =
      builtinSubset("orteval", {"zoo", "train", "quant", "export", "onnx_export", "imagenet", "coco"});
  return path;
}

// The run's rows, evaluate rows by stage, and the ONNX Runtime row of `file`.
const json& evaluateRow(const std::vector<json>& rows, int stage) {
  for (const auto& r : rows)
    if (r["stage"] == stage) return r;
  FAIL("no metrics row of stage " << stage);
  static const json none;
  return none;
}

json ortRow(const std::string& run, const std::string& file) {
  const json doc = json::parse(readText(run + "/onnxruntime.json"));
  for (const auto& r : doc["rows"])
    if (r["export"] == file) return r;
  FAIL("no onnxruntime.json row of " << file);
  return {};
}

// A finished run of `recipe` in <scratch>/<name>/run, made once per process.
std::string finishedRun(const std::string& name, const char* recipe, void (*make_data)(const std::string&)) {
  const std::string d = scratchDir(name + "-" + std::to_string(::getpid()));
  make_data(d);
  writeText(d + "/r.yaml", recipe);
  CliResult r = runCli("r.yaml --output run", d, plugins());
  INFO(r.err);
  REQUIRE(r.code == 0);
  return d;
}

const std::string& classifyDir() {
  static const std::string d =
      finishedRun("ortcls", kClassify, [](const std::string& dir) { makeBrightnessClasses(dir + "/images", 5, 1); });
  return d;
}

const std::string& detectDir() {
  static const std::string d =
      finishedRun("ortdet", kDetect, [](const std::string& dir) { makeCocoSquares(dir + "/squares"); });
  return d;
}

}  // namespace

TEST_CASE("onnxruntime: classification exports scored in ONNX Runtime agree with the evaluate stages",
          "[onnxruntime]") {
  const std::string dir = classifyDir();
  CliResult r = runCli("--onnxruntime run --export float.onnx", dir, plugins());
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.rfind("float.onnx in ONNX Runtime ", 0) == 0);
  r = runCli("--onnxruntime run", dir, plugins());  // default: model.qdq.onnx
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.rfind("model.qdq.onnx in ONNX Runtime ", 0) == 0);

  const auto rows = metricsRows(dir + "/run");
  const json& float_eval = evaluateRow(rows, 1);
  const json& qat_eval = evaluateRow(rows, 4);
  const json ort_float = ortRow(dir + "/run", "float.onnx");
  const json ort_qdq = ortRow(dir + "/run", "model.qdq.onnx");
  INFO(float_eval.dump() << "\n" << ort_float.dump() << "\n" << qat_eval.dump() << "\n" << ort_qdq.dump());
  CHECK(ort_float["val_images"] == 24);
  CHECK(ort_qdq["val_images"] == 24);
  // One training batch leaves the logits near uniform (loss 1.096, top-1
  // 66.67 %), so a flipped class would show. The float export: the same top-1
  // as EdgeOpt's forward, the loss to float rounding (measured 4e-8).
  CHECK(ort_float["val_top1"].get<double>() == float_eval["val_top1"].get<double>());
  CHECK(std::abs(ort_float["val_loss"].get<double>() - float_eval["val_loss"].get<double>()) <= 1e-5);
  // The QDQ export on ORT's int8 kernels vs EdgeOpt's fake-quant forward:
  // measured identical here (loss to the last bit); the bounds allow one of
  // the 24 images and the requantization rounding of other CPUs' kernels.
  // The wrong export would fail: the float and QAT losses differ by 1.8e-3.
  CHECK(std::abs(ort_qdq["val_top1"].get<double>() - qat_eval["val_top1"].get<double>()) <= 100.0 / 24 + 1e-9);
  CHECK(std::abs(ort_qdq["val_loss"].get<double>() - qat_eval["val_loss"].get<double>()) <= 1e-4);
  CHECK(ort_qdq["graph_optimization"] == "all");

  // Both rows are in the report's Stages table, with their top-1.
  const std::string html = readText(dir + "/run/report.html");
  CHECK(html.find("onnxruntime: float.onnx") != std::string::npos);
  CHECK(html.find("onnxruntime: model.qdq.onnx") != std::string::npos);
  CHECK(html.find(">" + fixed2(ort_qdq["val_top1"].get<double>()) + "<") != std::string::npos);
  // Measuring an export again replaces its row.
  r = runCli("--onnxruntime run --export float.onnx", dir, plugins());
  REQUIRE(r.code == 0);
  CHECK(json::parse(readText(dir + "/run/onnxruntime.json"))["rows"].size() == 2);
}

TEST_CASE("onnxruntime: detection exports scored in ONNX Runtime agree with the evaluate stages", "[onnxruntime]") {
  const std::string dir = detectDir();
  CliResult r = runCli("--onnxruntime run --export float.onnx", dir, plugins());
  INFO(r.err);
  REQUIRE(r.code == 0);
  r = runCli("--onnxruntime run --export model.qdq.onnx", dir, plugins());
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto rows = metricsRows(dir + "/run");
  const json& float_eval = evaluateRow(rows, 1);
  const json& qat_eval = evaluateRow(rows, 4);
  const json ort_float = ortRow(dir + "/run", "float.onnx");
  const json ort_qdq = ortRow(dir + "/run", "model.qdq.onnx");
  INFO(float_eval.dump() << "\n" << ort_float.dump() << "\n" << qat_eval.dump() << "\n" << ort_qdq.dump());
  CHECK(ort_float["val_images"] == 16);
  // A trained model finds boxes, so the comparison means something.
  REQUIRE(float_eval["val_map50"].get<double>() > 0.01);
  // The float export: decoding, NMS and COCO mAP of ORT's head maps give
  // EdgeOpt's numbers (measured: mAP 0.00736, mAP@.5 0.0181, loss 0.13489,
  // all equal to the last printed digit; the maps differ by float rounding only).
  CHECK(std::abs(ort_float["val_map"].get<double>() - float_eval["val_map"].get<double>()) <= 1e-6);
  CHECK(std::abs(ort_float["val_map50"].get<double>() - float_eval["val_map50"].get<double>()) <= 1e-6);
  CHECK(std::abs(ort_float["val_loss"].get<double>() - float_eval["val_loss"].get<double>()) <= 1e-6);
  // The QDQ export on ORT's int8 kernels vs EdgeOpt's fake-quant forward
  // (measured: mAP 0.00748 vs 0.00658, loss differs by 1.5e-5; the float and
  // QAT models' losses differ by 3.3e-4, so the loss bound tells them apart).
  CHECK(std::abs(ort_qdq["val_map"].get<double>() - qat_eval["val_map"].get<double>()) <= 0.002);
  CHECK(std::abs(ort_qdq["val_map50"].get<double>() - qat_eval["val_map50"].get<double>()) <= 0.002);
  CHECK(std::abs(ort_qdq["val_loss"].get<double>() - qat_eval["val_loss"].get<double>()) <= 1e-4);
  const std::string html = readText(dir + "/run/report.html");
  CHECK(html.find("onnxruntime: model.qdq.onnx") != std::string::npos);
}

TEST_CASE("onnxruntime: no Node.js no onnxruntime-node or no such export is one error line", "[onnxruntime]") {
  const std::string dir = classifyDir();
  CliResult r = runCli("--onnxruntime run", dir, plugins(), "EDGEOPT_NODE=/nonexistent/node");
  CHECK(r.code == 1);
  CHECK(r.lastErrLine() ==
        "error: --onnxruntime needs Node.js: '/nonexistent/node' not found (install nodejs, or run scripts/setup.sh; "
        "EDGEOPT_NODE names another)");
  r = runCli("--onnxruntime run", dir, plugins(), "EDGEOPT_ORT_NODE_MODULES=/nonexistent");
  CHECK(r.code == 1);
  CHECK(r.lastErrLine() ==
        "error: --onnxruntime needs npm onnxruntime-node in /nonexistent (scripts/setup.sh installs it; "
        "EDGEOPT_ORT_NODE_MODULES names another node_modules)");
  r = runCli("--onnxruntime run --export none.onnx", dir, plugins());
  CHECK(r.code == 2);
  CHECK(r.lastErrLine() == "error: --export none.onnx: no such file in run/exports");
  r = runCli("--onnxruntime images", dir, plugins());
  CHECK(r.code == 2);
  CHECK(r.lastErrLine() ==
        "error: --onnxruntime images: not a run directory (recipe.yaml, manifest.json or state.json missing)");
  r = runCli("--export float.onnx r.yaml", dir, plugins());
  CHECK(r.code == 2);
  CHECK(r.lastErrLine() == "error: --export goes with --onnxruntime RUN_DIR");
}
