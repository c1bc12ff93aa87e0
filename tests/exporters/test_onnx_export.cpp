// ONNX export of every zoo model: the file passes the ONNX checker and strict
// shape inference (the exporter runs both), and ONNX Runtime (npm
// onnxruntime-node, run by ort_run.js) reproduces EdgeOpt's executor.
#include "export_test_util.h"
#include "ort_runner.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cstdio>
#include <set>

using namespace edgeopt;
using namespace edgeopt::test;

namespace {

onnx::ModelProto readModel(const std::string& path) {
  onnx::ModelProto m;
  REQUIRE(m.ParseFromString(readText(path)));
  return m;
}

}  // namespace

TEST_CASE("every zoo model exports to ONNX (opsets 13 and 17) and runs in ONNX Runtime like the executor",
          "[onnx][zoo]") {
  loadBuiltinPlugin("onnx_export");
  const std::string dir = scratchDir("onnx-zoo");
  at::manual_seed(1);
  // Batch 2 while the models record batch 1: the batch dimension is dynamic.
  at::Tensor x = at::randn({2, 3, 64, 64});
  writeFloats(dir + "/x.bin", x);
  std::vector<OrtCase> cases;
  for (const auto& name : zooModelNames()) {
    auto model = zooModel(name);
    std::vector<at::Tensor> expected;
    {
      at::NoGradGuard no_grad;
      expected = model->forward({x});
    }
    for (int opset : {13, 17}) {
      const std::string path = dir + "/" + name + "-" + std::to_string(opset) + ".onnx";
      INFO(name << " opset " << opset);
      REQUIRE_NOTHROW(makeExporter("onnx", "opset: " + std::to_string(opset))->write(*model, path));
      onnx::ModelProto proto = readModel(path);
      REQUIRE_NOTHROW(onnx::checker::check_model(proto));
      CHECK(proto.producer_name() == "EdgeOpt");
      CHECK(!proto.producer_version().empty());
      REQUIRE(proto.opset_import_size() == 1);
      CHECK(proto.opset_import(0).version() == opset);
      REQUIRE(proto.graph().input_size() == 1);
      CHECK(proto.graph().input(0).name() == "x");
      CHECK(proto.graph().input(0).type().tensor_type().shape().dim(0).dim_param() == "batch");
      REQUIRE(proto.graph().output_size() == static_cast<int>(expected.size()));
      CHECK(proto.graph().output(0).name() == (expected.size() == 1 ? "output" : "output_0"));
      // Initializers are the tensors the graph reads, under their state_dict
      // names (minus BN's counter, which inference does not read).
      std::set<std::string> inits, expected_inits;
      for (const auto& t : proto.graph().initializer()) inits.insert(t.name());
      for (const ir::Node* n : model->graph().nodes())
        if (n->opcode() == ir::Opcode::Param && n->target().find("num_batches_tracked") == std::string::npos)
          expected_inits.insert(n->target());
      for (const auto& n : expected_inits) CHECK(inits.count(n) == 1);
      cases.push_back({path, name + " opset " + std::to_string(opset), expected});
    }
  }
  std::vector<double> diffs = runInOrt(dir, cases, dir + "/x.bin", x.sizes());
  for (size_t i = 0; i < cases.size(); ++i) {
    std::printf("onnx %-28s max |ORT - executor| = %.3g (max |output| %.3g)\n", cases[i].label.c_str(), diffs[i],
                maxAbs(cases[i].expected));
    INFO(cases[i].label);
    // 1e-4, relative for outputs beyond 1 (YOLO's raw head outputs reach ~200,
    // where one float32 ulp is 1.5e-5).
    CHECK(diffs[i] <= 1e-4 * std::max(1.0, maxAbs(cases[i].expected)));
  }
}

TEST_CASE("ONNX export options opset 18 unchecked and a fixed batch", "[onnx]") {
  loadBuiltinPlugin("onnx_export");
  const std::string dir = scratchDir("onnx-options");
  auto model = zooModel("mobilenet_v3_small");
  // Debian's libonnx 1.12 has schemas up to opset 17: checking 18 is refused.
  REQUIRE_THROWS_WITH(makeExporter("onnx", "opset: 18")->write(*model, dir + "/m.onnx"),
                      Catch::Matchers::Contains("opset 18 cannot be checked: this libonnx knows opsets up to 17"));
  CHECK(std::filesystem::is_empty(dir));
  REQUIRE_NOTHROW(makeExporter("onnx", "{opset: 18, check: false, dynamic_batch: false, input_shape: [3, 3, 32, 32]}")
                      ->write(*model, dir + "/m.onnx"));
  onnx::ModelProto proto = readModel(dir + "/m.onnx");
  CHECK(proto.opset_import(0).version() == 18);
  const auto& dim0 = proto.graph().input(0).type().tensor_type().shape().dim(0);
  CHECK(dim0.dim_value() == 3);
  CHECK(proto.graph().input(0).type().tensor_type().shape().dim(3).dim_value() == 32);
  at::manual_seed(2);
  at::Tensor x = at::randn({3, 3, 32, 32});
  writeFloats(dir + "/x.bin", x);
  at::NoGradGuard no_grad;
  std::vector<double> diffs = runInOrt(dir, {{dir + "/m.onnx", "mnv3s opset 18", model->forward({x})}},
                                       dir + "/x.bin", x.sizes());
  std::printf("onnx mobilenet_v3_small opset 18 (fixed batch 3) max |ORT - executor| = %.3g\n", diffs[0]);
  CHECK(diffs[0] <= 1e-4);
}
