// The qat and calibrate stages end to end through edgeopt-run on a tiny
// image-folder dataset: float training -> QAT (with a 16-bit override) ->
// QDQ ONNX + TorchScript export; calibration (PTQ) -> QDQ export; scheme
// errors reported at their recipe line.
#include "quant_test_util.h"

#include "cli_runner.h"
#include "run_metrics.h"

#include <onnx/onnx_pb.h>
#include <opencv2/imgcodecs.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>

using namespace edgeopt;
using namespace edgeopt::test;

namespace {

// root/{train,val}/{dark,light}/NN.png: noise below or above mid-gray.
void writeImageFolder(const std::string& root, int train_per_class, int val_per_class) {
  for (const char* split : {"train", "val"})
    for (int c = 0; c < 2; ++c) {
      const std::string dir = root + "/" + split + "/" + (c ? "light" : "dark");
      std::filesystem::create_directories(dir);
      const int n = std::string(split) == "train" ? train_per_class : val_per_class;
      for (int i = 0; i < n; ++i) {
        cv::Mat image(32, 32, CV_8UC3);
        cv::RNG rng(static_cast<uint64_t>(1000 * c + i + (std::string(split) == "val" ? 500 : 0)));
        rng.fill(image, cv::RNG::UNIFORM, c ? 150 : 0, c ? 256 : 106);
        char name[16];
        std::snprintf(name, sizeof name, "/%02d.png", i);
        cv::imwrite(dir + name, image);
      }
    }
}

const char* kHeader = R"(version: 1
name: quant-e2e
seed: 0
threads: 2
model: {source: zoo, name: mobilenet_v2, num_classes: 2, input_size: 32, width_mult: 0.25}
data:
  dataset: imagenet
  root: data
  batch_size: 8
  workers: 0
  train_transforms: [{normalize: {mean: [0.5], std: [0.25]}}]
  val_transforms: [{normalize: {mean: [0.5], std: [0.25]}}]
)";

std::string builtinPlugins() { return std::string(EDGEOPT_BINARY_DIR) + "/lib/edgeopt/plugins"; }

}  // namespace

TEST_CASE("recipe: train -> qat (16-bit first layer) -> QDQ ONNX + TorchScript export", "[quant][stages]") {
  const std::string dir = scratchDir("stages-qat");
  writeImageFolder(dir + "/data", 24, 8);
  writeText(dir + "/r.yaml", std::string(kHeader) + R"(stages:
  - kind: train
    epochs: 1
    lr: 0.05
  - kind: qat
    epochs: 2
    lr: 0.01
    bias_calibration_factor: 0.05
    overrides: [{layers: [features.0.0], weight_bits: 16, activation_bits: 16}]
  - kind: evaluate
  - kind: export
    formats: [qdq_onnx, torchscript]
)");
  CliResult r = runCli("r.yaml --output run", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  const std::string run = dir + "/run";
  CHECK(std::filesystem::exists(run + "/exports/model.qdq.onnx"));
  CHECK(std::filesystem::exists(run + "/exports/model.pt"));
  int qat_rows = 0;
  nlohmann::json last_qat, evaluated;
  for (const auto& row : metricsRows(run)) {
    if (row.value("kind", "") == "qat") {
      ++qat_rows;
      CHECK(row.contains("val_top1"));
      last_qat = row;
    }
    if (row.value("kind", "") == "evaluate") evaluated = row;
  }
  CHECK(qat_rows == 2);
  // QAT's own validation scores the model it hands on (final weight ranges,
  // observers off), so the evaluate stage after it reports the same.
  REQUIRE(evaluated.contains("val_loss"));
  CHECK(last_qat["val_loss"].get<double>() == evaluated["val_loss"].get<double>());
  CHECK(last_qat["val_top1"].get<double>() == evaluated["val_top1"].get<double>());
  CHECK_THAT(readText(run + "/log.txt"), Catch::Contains("qat: bias calibration factor 0.05"));
  // The stage leaves an inference model: observers and BN statistics frozen.
  auto m = GraphModule::load(run + "/checkpoints/stage-1-qat.edgeopt");
  const quant::QuantizerCounts c = quant::countQuantizers(*m);
  CHECK(c.weight == 53);
  // input, 52 conv groups, the residual adds (width 0.25 has two more), avg pool, classifier
  CHECK(c.activation == 1 + 52 + static_cast<int>(nodesOf(*m, "add").size()) + 2);
  CHECK(paramOf(*m, m->graph().findNode("features.0.0.weight_quant"), quant::kObserverMode).item<int64_t>() == 0);
  CHECK(paramOf(*m, m->graph().findNode("features.0.0.weight_quant"), quant::kScale).numel() == 8);
  CHECK(m->graph().findNode("features.0.0.weight_quant")->get<int64_t>("quant_min") == -32768);
  CHECK(m->tensor("features.1.conv.0.0.bn_frozen").item<int64_t>() == 1);
  // The export runs in ONNX Runtime like EdgeOpt's simulation.
  m->eval();
  at::manual_seed(3);
  const at::Tensor x = at::randn({8, 3, 32, 32});
  at::Tensor expected;
  {
    at::NoGradGuard no_grad;
    expected = m->forward({x})[0];
  }
  const at::Tensor ort = runInOrt(dir, {run + "/exports/model.qdq.onnx"}, x)[0];
  const double lsb = paramOf(*m, m->graph().outputs()[0]->producer(), quant::kScale).item<double>();
  CHECK(maxAbsDiff(ort, expected) <= 2.001 * lsb);
}

TEST_CASE("recipe: calibrate (PTQ, histogram + MSE, bias calibration) -> QDQ export", "[quant][stages]") {
  const std::string dir = scratchDir("stages-calibrate");
  writeImageFolder(dir + "/data", 8, 2);
  writeText(dir + "/r.yaml", std::string(kHeader) + R"(stages:
  - kind: calibrate
    preset: WC8SYMP2_AT8SYMP2
    batches: 3
  - kind: export
    formats: [qdq_onnx]
    settings: {qdq_onnx: {opset: 13}}
)");
  CliResult r = runCli("r.yaml --output run", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto m = GraphModule::load(dir + "/run/checkpoints/stage-0-calibrate.edgeopt");
  CHECK(quant::schemeName(*m) == "WC8SYMP2_AT8SYMP2");
  ir::Node* q = m->graph().findNode("features.0.2.act_quant");
  REQUIRE(q != nullptr);
  CHECK(q->get<std::string>("observer") == "histogram");
  CHECK(paramOf(*m, q, quant::kHistogram).sum().item<double>() == 3 * 8 * 8 * 32 * 32.0);  // 3 batches of 8, 8x32x32
  const float scale = paramOf(*m, q, quant::kScale).item<float>();
  CHECK(scale == std::exp2(std::round(std::log2(scale))));  // power of 2
  CHECK(paramOf(*m, q, quant::kObserverMode).item<int64_t>() == 0);
  // Bias calibration is on by default: the BN betas (zeros in the zoo model) moved.
  CHECK(m->tensor("features.0.1.bias").abs().max().item<double>() > 0);
  onnx::ModelProto p;
  REQUIRE(p.ParseFromString(readText(dir + "/run/exports/model.qdq.onnx")));
  CHECK(p.opset_import(0).version() == 13);
  // Its twin: bias_calibration: false leaves them as they were.
  writeText(dir + "/r2.yaml", std::string(kHeader) + R"(stages:
  - kind: calibrate
    preset: WC8SYMP2_AT8SYMP2
    batches: 3
    bias_calibration: false
)");
  r = runCli("r2.yaml --output run2", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto m2 = GraphModule::load(dir + "/run2/checkpoints/stage-0-calibrate.edgeopt");
  CHECK(m2->tensor("features.0.1.bias").abs().max().item<double>() == 0);
}

TEST_CASE("recipe: calibrate -> sensitivity writes the per-layer table and changes nothing", "[quant][stages]") {
  const std::string dir = scratchDir("stages-sensitivity");
  writeImageFolder(dir + "/data", 8, 2);
  auto recipe = [](const std::string& overrides) {
    return std::string(kHeader) + "stages:\n  - kind: calibrate\n    preset: WC8_AT8\n    batches: 2\n" + overrides +
           "  - kind: sensitivity\n    batches: 1\n    top: 3\n";
  };
  auto layerRow = [](const nlohmann::json& j, const std::string& layer) {
    for (const auto& l : j["layers"])
      if (l["layer"] == layer) return l;
    FAIL("no row for " << layer);
    return nlohmann::json();
  };
  // The same run twice: as is, and with one depthwise conv group at 2 bits.
  writeText(dir + "/r0.yaml", recipe(""));
  writeText(dir + "/r.yaml",
            recipe("    overrides: [{layers: [features.2.conv.1.0], weight_bits: 2, activation_bits: 2}]\n"));
  CliResult r = runCli("r0.yaml --output run0", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  r = runCli("r.yaml --output run", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  const std::string run = dir + "/run";
  const nlohmann::json j0 = nlohmann::json::parse(readText(dir + "/run0/stages/1-sensitivity/sensitivity.json"));
  const nlohmann::json j = nlohmann::json::parse(readText(run + "/stages/1-sensitivity/sensitivity.json"));
  CHECK(j["examples"] == 4);  // the 4 validation images, one batch
  auto m = GraphModule::load(run + "/checkpoints/stage-0-calibrate.edgeopt");
  const quant::QuantizerCounts c = quant::countQuantizers(*m);
  size_t quantizers = 0;
  for (const auto& l : j["layers"]) quantizers += l["quantizers"].size();
  CHECK(quantizers == static_cast<size_t>(c.weight + c.activation));
  // 2 bits instead of 8 on that group: its own SQNR drops by tens of dB
  // (about 6 dB a bit), and it enters the top 3 of the log's suggestion.
  const double at8 = layerRow(j0, "features.2.conv.1.0")["only_sqnr_db"].get<double>();
  const double at2 = layerRow(j, "features.2.conv.1.0")["only_sqnr_db"].get<double>();
  CHECK(at2 + 20 < at8);
  for (size_t i = 1; i < j["layers"].size(); ++i)
    CHECK(j["layers"][i - 1]["only_sqnr_db"].get<double>() <= j["layers"][i]["only_sqnr_db"].get<double>());
  CHECK_THAT(readText(run + "/stages/1-sensitivity/sensitivity.txt"), Catch::Contains("features.2.conv.1.0"));
  CHECK_THAT(readText(run + "/log.txt"),
             Catch::Contains("features.2.conv.1.0") && Catch::Contains("weight_bits: 16, activation_bits: 16}]"));
  const std::string report = readText(run + "/report.html");
  CHECK_THAT(report, Catch::Contains("<h2>Quantization sensitivity</h2>") &&
                         Catch::Contains("<td>features.2.conv.1.0</td>"));
  // The stage hands on the calibrated model unchanged, bit for bit.
  auto after = GraphModule::load(run + "/checkpoints/stage-1-sensitivity.edgeopt");
  for (const auto& [name, t] : m->stateDict()) {
    INFO(name);
    CHECK(at::equal(t, after->tensor(name)));
  }
  // Without quantizers: one line saying where the stage belongs.
  writeText(dir + "/r2.yaml", std::string(kHeader) + "stages:\n  - kind: sensitivity\n");
  r = runCli("r2.yaml --output run2", dir, builtinPlugins());
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("put this stage after a calibrate or qat stage"));
}

TEST_CASE("recipe: evaluate float_agreement scores the whole val split against the float model", "[quant][stages]") {
  const std::string dir = scratchDir("stages-float-agreement");
  writeImageFolder(dir + "/data", 8, 20);  // 40 val images: 5 batches of 8
  // tinyNet (random BN statistics, 5 logits) with conv2 and fc at 2 bits, so
  // that some images change class (half of them: dark and light images each
  // go one way).
  // The sensitivity stage scores the same 5 batches: its all-quantizers
  // agreement is the same count made by other code.
  at::manual_seed(0);
  tinyNet()->save(dir + "/tiny.edgeopt");
  std::string header = kHeader;
  const std::string zoo = "{source: zoo, name: mobilenet_v2, num_classes: 2, input_size: 32, width_mult: 0.25}";
  header.replace(header.find(zoo), zoo.size(), "{source: checkpoint, path: tiny.edgeopt}");
  writeText(dir + "/r.yaml", header + R"(stages:
  - kind: calibrate
    preset: WC8_AT8
    batches: 2
    overrides: [{layers: [conv2, fc], weight_bits: 2, activation_bits: 2}]
  - kind: evaluate
  - kind: evaluate
    float_agreement: true
  - kind: sensitivity
    batches: 5
)");
  CliResult r = runCli("r.yaml --output run", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  const std::string run = dir + "/run";
  std::vector<nlohmann::json> evals;
  double sensitivity_agreement = -1;
  for (const auto& row : metricsRows(run)) {
    if (row["kind"] == "evaluate") evals.push_back(row);
    if (row["kind"] == "sensitivity") sensitivity_agreement = row["sensitivity_top1_agreement"].get<double>();
  }
  REQUIRE(evals.size() == 2);
  CHECK(!evals[0].contains("val_top1_agreement"));
  REQUIRE(evals[1].contains("val_top1_agreement"));
  const double agreement = evals[1]["val_top1_agreement"].get<double>();
  CHECK(evals[1]["val_images"].get<double>() == 40);
  CHECK(agreement == Approx(sensitivity_agreement).epsilon(1e-12));
  // 40 images: a multiple of 2.5 %, and the 2-bit layers move some of them.
  CHECK(std::fmod(agreement, 2.5) == Approx(0).margin(1e-9));
  CHECK(agreement > 0);
  CHECK(agreement < 100);
  // The quantized model's own scores are unchanged by the extra float pass.
  for (const char* key : {"val_top1", "val_loss"}) {
    INFO(key);
    CHECK(evals[1][key].get<double>() == Approx(evals[0][key].get<double>()).epsilon(1e-9));
  }
  // ... and it is handed on bit for bit.
  auto calibrated = GraphModule::load(run + "/checkpoints/stage-0-calibrate.edgeopt");
  auto after = GraphModule::load(run + "/checkpoints/stage-2-evaluate.edgeopt");
  for (const auto& [name, t] : calibrated->stateDict()) {
    INFO(name);
    CHECK(at::equal(t, after->tensor(name)));
  }
  // A float model: one line saying where it belongs.
  writeText(dir + "/r2.yaml", header + "stages:\n  - kind: evaluate\n    float_agreement: true\n");
  r = runCli("r2.yaml --output run2", dir, builtinPlugins());
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("float_agreement needs a quantized model"));
}

TEST_CASE("recipe: a malformed scheme stops the run before anything runs, at its line", "[quant][stages]") {
  const std::string dir = scratchDir("stages-error");
  writeImageFolder(dir + "/data", 1, 1);
  writeText(dir + "/r.yaml", std::string(kHeader) + R"(stages:
  - kind: calibrate
    scheme:
      activation: {fixed_range: true}
)");
  CliResult r = runCli("r.yaml --output run", dir, builtinPlugins());
  CHECK(r.code == 3);
  CHECK_THAT(r.err, Catch::Contains("r.yaml:16:") && Catch::Contains("stages.0.scheme.activation.fixed_range") &&
                        Catch::Contains("needs range_max"));
  CHECK(!std::filesystem::exists(dir + "/run/state.json"));
  // --dry-run resolves the overrides' selectors against the model.
  writeText(dir + "/r2.yaml", std::string(kHeader) + R"(stages:
  - kind: qat
    overrides: [{layers: [features.99], weight_bits: 16}]
)");
  r = runCli("r2.yaml --dry-run", dir, builtinPlugins());
  CHECK(r.code == 3);
  CHECK_THAT(r.err, Catch::Contains("r2.yaml:15:") && Catch::Contains("features.99") &&
                        Catch::Contains("matches no layer"));
  writeText(dir + "/r3.yaml", std::string(kHeader) + R"(stages:
  - kind: qat
    preset: WC4_AT8
    overrides: [{layers: [features.0.0], weight_bits: 8}]
)");
  r = runCli("r3.yaml --dry-run", dir, builtinPlugins());
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("WC4_AT8: weights int4 per-channel symmetric") &&
                        Catch::Contains("BN frozen from epoch -1"));
}
