// EdgeOpt reads its own exports back (issue 14): a quantized model's QDQ
// ONNX export imports as a quantized model (QuantizeLinear -> DequantizeLinear
// = fake_quant with the file's scales and zero points) that computes what
// ONNX Runtime computes within 1 LSB; its TorchScript export (fake-quantizers
// switched by buffer flags) imports with the same outputs; float exports of
// both formats import exactly; edgeopt-inspect reads all of them.
#include "quant_test_util.h"  // first: ATen's glog CHECK must come before Catch's

#include "cli_runner.h"
#include "script_parity.h"

#include <onnx/onnx_pb.h>

#include <fstream>

using namespace edgeopt;
using Catch::Matchers::Contains;
using edgeopt::test::loadModel;
using edgeopt::test::maxAbsDiff;

namespace {

// tinyNet (conv/BN/ReLU, depthwise, ReLU6, residual add, pool, linear) with
// WC8_AT8 fake-quantizers calibrated on random data, in eval mode.
std::shared_ptr<GraphModule> quantizedNet() {
  at::manual_seed(3);
  auto m = test::tinyNet();
  quant::insertQuantizers(*m, test::presetOptions("WC8_AT8"));
  test::calibrateRandom(*m, {8, 3, 8, 8}, 3);
  return m;
}

void exportTo(const std::string& format, const GraphModule& m, const std::string& path) {
  for (const char* p : {"quant", "onnx_export", "torchscript_export"}) test::loadBuiltinPlugin(p);
  const std::string options = format == "torchscript" ? "" : "{opset: 13}";
  REQUIRE_NOTHROW(test::makeExporter(format, options)->write(m, path));
}

at::Tensor run(GraphModule& m, const at::Tensor& x) {
  at::NoGradGuard no_grad;
  m.eval();
  return m.forward({x})[0];
}

test::CliResult inspect(const std::string& file, const std::string& dir) {
  return test::runProgram("edgeopt-inspect", "'" + file + "'", dir, builtinPluginDir());
}

}  // namespace

TEST_CASE("own exports: a QDQ ONNX export imports as a quantized model within 1 LSB of ONNX Runtime",
          "[importers][onnx][quant]") {
  const std::string dir = test::scratchDir("own-qdq");
  auto original = quantizedNet();
  const std::string path = dir + "/model.qdq.onnx";
  exportTo("qdq_onnx", *original, path);

  auto imported = loadModel("onnx_import", "{path: '" + path + "'}");
  // Every fake-quantizer of the original comes back with its scale and zero point.
  const auto fqs = test::nodesOf(*original, "fake_quant");
  CHECK(test::nodesOf(*imported, "fake_quant").size() == fqs.size());
  for (ir::Node* fq : fqs) {
    INFO(fq->name());
    for (const char* suffix : {".scale", ".zero_point"}) {
      REQUIRE(imported->hasTensor(fq->name() + suffix));
      CHECK(imported->tensor(fq->name() + suffix)
                .equal(test::paramOf(*original, fq, suffix[1] == 's' ? quant::kScale : quant::kZeroPoint)));
    }
  }
  for (ir::Node* fq : test::nodesOf(*imported, "fake_quant")) CHECK(fq->get<std::string>("observer") == "fixed");

  at::manual_seed(11);
  const at::Tensor x = at::randn({16, 3, 8, 8});
  const at::Tensor ours = run(*imported, x), ort = test::runInOrt(dir, {path}, x)[0];
  const ir::Node* last = test::nodesOf(*original, "fake_quant").back();
  const double lsb = test::paramOf(*original, last, quant::kScale).item<double>();
  const double ort_diff = maxAbsDiff(ours, ort), original_diff = maxAbsDiff(ours, run(*original, x));
  WARN("QDQ re-import: max |EdgeOpt - ORT| = " << ort_diff / lsb << " LSB, vs the exported model "
                                               << original_diff / lsb << " LSB (LSB " << lsb << ")");
  CHECK(ort_diff <= lsb * 1.001);
  CHECK(original_diff <= lsb * 1.001);
  CHECK(ours.abs().max().item<double>() > 10 * lsb);  // not a constant or a zero output

  const auto r = inspect(path, dir);
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("fake_quant"));
}

TEST_CASE("own exports: a DequantizeLinear with other qparams than its QuantizeLinear is refused",
          "[importers][onnx][quant]") {
  const std::string dir = test::scratchDir("own-qdq-mismatch");
  auto original = quantizedNet();
  const std::string path = dir + "/model.qdq.onnx", bad = dir + "/mismatch.onnx";
  exportTo("qdq_onnx", *original, path);
  onnx::ModelProto proto;
  {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(proto.ParseFromIstream(&in));
  }
  // The first activation DequantizeLinear reads another quantizer's scale.
  std::string other_scale;
  for (const auto& n : proto.graph().node())
    if (n.op_type() == "QuantizeLinear" && other_scale.empty()) other_scale = n.input(1);
  bool changed = false;
  for (auto& n : *proto.mutable_graph()->mutable_node()) {
    if (n.op_type() != "DequantizeLinear" || n.input(1) == other_scale || changed) continue;
    if (n.input(0).find("/quantized") == std::string::npos || n.input(0).find("weight") != std::string::npos) continue;
    n.set_input(1, other_scale);
    changed = true;
  }
  REQUIRE(changed);
  {
    std::ofstream out(bad, std::ios::binary);
    REQUIRE(proto.SerializeToOstream(&out));
  }
  CHECK_THROWS_WITH(loadModel("onnx_import", "{path: '" + bad + "'}"),
                    Contains("DequantizeLinear") && Contains("other scales or zero points than its QuantizeLinear"));
}

TEST_CASE("own exports: a quantized model's TorchScript export imports with the same outputs",
          "[importers][torchscript][quant]") {
  const std::string dir = test::scratchDir("own-ts-quant");
  auto original = quantizedNet();
  const std::string path = dir + "/model.pt";
  exportTo("torchscript", *original, path);
  auto imported = test::importScriptFile(path, "eval");
  // The fake-quantizers are fake_quant again, on the exported buffers.
  const auto fqs = test::nodesOf(*original, "fake_quant");
  CHECK(test::nodesOf(*imported, "fake_quant").size() == fqs.size());
  for (ir::Node* fq : fqs) {
    INFO(fq->name());
    REQUIRE(imported->hasTensor(fq->name() + ".scale"));
    CHECK(imported->tensor(fq->name() + ".scale").equal(test::paramOf(*original, fq, quant::kScale)));
  }
  at::manual_seed(12);
  const at::Tensor x = at::randn({16, 3, 8, 8});
  const at::Tensor ours = run(*imported, x), want = run(*original, x);
  const double lsb = test::paramOf(*original, fqs.back(), quant::kScale).item<double>();
  const double diff = maxAbsDiff(ours, want);
  WARN("TorchScript re-import of a quantized model: max |diff| " << diff << " (" << diff / lsb << " LSB)");
  CHECK(diff <= 1e-5);
  CHECK(ours.abs().max().item<double>() > 10 * lsb);

  const auto r = inspect(path, dir);
  INFO(r.err);
  CHECK(r.code == 0);
}

TEST_CASE("own exports: float ONNX and TorchScript exports import with the same outputs",
          "[importers][onnx][torchscript]") {
  const std::string dir = test::scratchDir("own-float");
  at::manual_seed(4);
  auto original = test::tinyNet();
  exportTo("onnx", *original, dir + "/model.onnx");
  exportTo("torchscript", *original, dir + "/model.pt");
  at::manual_seed(13);
  const at::Tensor x = at::randn({4, 3, 8, 8});
  const at::Tensor want = run(*original, x);
  auto from_onnx = loadModel("onnx_import", "{path: '" + dir + "/model.onnx'}");
  auto from_ts = test::importScriptFile(dir + "/model.pt", "eval");
  const double onnx_diff = maxAbsDiff(run(*from_onnx, x), want), ts_diff = maxAbsDiff(run(*from_ts, x), want);
  WARN("float re-import: ONNX max |diff| " << onnx_diff << ", TorchScript " << ts_diff);
  CHECK(onnx_diff <= 1e-5);
  CHECK(ts_diff <= 1e-6);
  for (const char* f : {"model.onnx", "model.pt"}) {
    const auto r = inspect(dir + "/" + f, dir);
    INFO(f << ": " << r.err);
    CHECK(r.code == 0);
  }
}
