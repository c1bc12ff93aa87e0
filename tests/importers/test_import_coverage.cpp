// Import coverage (issue 13): torchvision classifiers beyond the CNN families
// of test_torchscript_import.cpp, scripted at a reduced input size by
// make_coverage_fixtures.py: PyTorch parity in eval (max |diff| <= 1e-4 x
// max(1, max |ref|)) and after one SGD step, and their ONNX export run in ONNX
// Runtime against PyTorch's eval output.
#include "ort_runner.h"  // first: ATen's glog CHECK must come before Catch's

#include "coverage_fixtures.h"
#include "script_parity.h"

#include <edgeopt/ir/export_lower.h>

#include <onnx/onnx_pb.h>

#include <map>

using namespace edgeopt;
using edgeopt::test::coverageFixture;
using edgeopt::test::loadPickle;
using edgeopt::test::maxAbsDiff;

namespace {

const test::ParityTolerance kTolerance{1e-4, /*eval_relative=*/true, 1e-4};

int64_t countOps(const GraphModule& m, const std::string& op) {
  int64_t n = 0;
  for (ir::Node* node : m.graph().nodes()) n += node->opcode() == ir::Opcode::Call && node->target() == op;
  return n;
}

// Exports `m` to ONNX (opset 17) in `dir`, runs it in ONNX Runtime on the
// fixture's x and returns max |ORT - PyTorch eval_out| and the bound
// 1e-4 x max(1, max |ref|).
std::pair<double, double> ortDiff(const GraphModule& m, const std::string& model, const std::string& dir) {
  test::loadBuiltinPlugin("onnx_export");
  auto ref = loadPickle(coverageFixture(model + ".ref.pt"));
  const at::Tensor x = ref.at("x").toTensor(), want = ref.at("eval_out").toTensor();
  const std::string path = dir + "/" + model + ".onnx";
  test::makeExporter("onnx", "{opset: 17, input_shape: " + ir::formatShape(x.sizes().vec()) + "}")->write(m, path);
  test::writeFloats(dir + "/x.bin", x);
  const double diff = test::runInOrt(dir, {{path, model, {want}}}, dir + "/x.bin", x.sizes())[0];
  return {diff, 1e-4 * std::max(1.0, want.abs().max().item<double>())};
}

}  // namespace

TEST_CASE("coverage: scripted convnext_tiny (32 px) matches PyTorch and exports to ONNX Runtime",
          "[importers][torchscript][coverage]") {
  const std::string prefix = coverageFixture("convnext_tiny");
  // Scripted, with StochasticDepth as its only train/eval-dependent layer:
  // not mistaken for a traced file.
  test::checkScriptParity(prefix, kTolerance);
  auto m = test::importScriptFile(prefix + ".script.pt", "eval");
  CHECK(countOps(*m, "stochastic_depth") == 17);  // the first block's p is 0
  CHECK(countOps(*m, "layer_norm") == 18 + 1 + 3 + 1);  // blocks, stem, downsamplings, head
  const auto [diff, bound] = ortDiff(*m, "convnext_tiny", test::scratchDir("coverage-convnext"));
  WARN("convnext_tiny: ONNX Runtime max abs diff " << diff << " (bound " << bound << ")");
  CHECK(diff <= bound);
}

TEST_CASE("coverage: scripted googlenet (96 px) matches PyTorch, and its inference export drops the aux classifiers",
          "[importers][torchscript][coverage]") {
  const std::string prefix = coverageFixture("googlenet");
  test::checkScriptParity(prefix, kTolerance);
  // In train mode forward returns the logits and both aux logits; eval mode
  // returns None for the aux ones, so the output node marks them train-only.
  auto m = test::importScriptFile(prefix + ".script.pt", "train");
  REQUIRE(m->graph().outputs().size() == 3);
  CHECK(m->graph().outputNode()->get<ir::Ints>(ir::kTrainOnlyOutputs) == ir::Ints{1, 2});
  CHECK(m->graph().findNode("aux1.fc2") != nullptr);
  auto eval = test::importScriptFile(prefix + ".script.pt", "eval");
  CHECK(eval->graph().outputs().size() == 1);
  CHECK_FALSE(eval->graph().outputNode()->hasAttr(ir::kTrainOnlyOutputs));
  // The aux pools (6x6 -> 4x4) are gone from the export with the rest of the
  // aux classifiers; the checkpoint keeps them (they train).
  m->eval();
  const std::string dir = test::scratchDir("coverage-googlenet");
  const auto [diff, bound] = ortDiff(*m, "googlenet", dir);
  WARN("googlenet (imported for training, exported for inference): ONNX Runtime max abs diff " << diff
       << " (bound " << bound << ")");
  CHECK(diff <= bound);
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(readFile(dir + "/googlenet.onnx")));
  CHECK(proto.graph().output_size() == 1);
  for (const auto& n : proto.graph().node()) {
    INFO(n.name());
    CHECK(n.name().rfind("aux", 0) != 0);
  }
  for (const auto& t : proto.graph().initializer()) CHECK(t.name().rfind("aux", 0) != 0);
}

TEST_CASE("coverage: adaptive_avg_pool2d with sizes that do not divide exports as explicit windows",
          "[importers][torchscript][coverage]") {
  auto m = test::importScriptFile(coverageFixture("adaptive_pool.script.pt"), "eval");
  CHECK(countOps(*m, "adaptive_avg_pool2d") == 2);
  auto ref = loadPickle(coverageFixture("adaptive_pool.ref.pt"));
  {
    at::NoGradGuard no_grad;
    CHECK(maxAbsDiff(m->forward({ref.at("x").toTensor()})[0], ref.at("eval_out").toTensor()) < 1e-6);
  }
  const std::string dir = test::scratchDir("coverage-adaptive-pool");
  const auto [diff, bound] = ortDiff(*m, "adaptive_pool", dir);
  WARN("adaptive pools 6x6 -> 4x4 and 3x5: ONNX Runtime max abs diff " << diff);
  CHECK(diff <= 1e-6);
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(readFile(dir + "/adaptive_pool.onnx")));
  std::map<std::string, int> ops;
  for (const auto& n : proto.graph().node()) ++ops[n.op_type()];
  // 4x4: 4 windows along H, 4 along W; 3x5: 5 windows along W, then an
  // AveragePool 2x1 along H (3 divides 6).
  CHECK(ops["Slice"] == 4 + 4 + 5);
  CHECK(ops["ReduceMean"] == ops["Slice"]);
  CHECK(ops["AveragePool"] == 1);
}

// A transformer encoder block as torch.onnx writes it: at opset 13 LayerNorm
// is ReduceMean/Sub/Pow/Sqrt/Div and GELU is Erf; attention is MatMul,
// Softmax and reshapes sized through Shape/Gather; the batch is symbolic.
TEST_CASE("coverage: ONNX transformer blocks (decomposed LayerNorm, Erf GELU, MatMul attention) import",
          "[importers][onnx][coverage]") {
  auto ref = loadPickle(coverageFixture("encoder_block.ref.pt"));
  const at::Tensor x = ref.at("x").toTensor(), want = ref.at("eval_out").toTensor();
  for (int opset : {13, 17}) {
    INFO("opset " << opset);
    const std::string file = "encoder_block.opset" + std::to_string(opset) + ".onnx";
    auto m = test::loadModel("onnx_import", "{path: '" + coverageFixture(file) + "'}");
    CHECK(m->exampleInputShapes() == std::vector<ir::Shape>{{1, 16, 32}});  // batch taken as 1
    CHECK(countOps(*m, "softmax") == 1);
    CHECK(countOps(*m, "erf") == 1);
    CHECK(countOps(*m, "matmul") + countOps(*m, "linear") == 6);
    if (opset == 13) {
      CHECK(countOps(*m, "pow") == 2);
      CHECK(countOps(*m, "sqrt") == 2);
    } else {
      CHECK(countOps(*m, "layer_norm") == 2);
    }
    at::NoGradGuard no_grad;
    const double d = maxAbsDiff(m->forward({x})[0], want);  // batch 2: the batch stays free
    WARN("encoder block (opset " << opset << "): eval max abs diff " << d);
    CHECK(d <= 1e-5);
    const auto [ort, bound] = ortDiff(*m, "encoder_block", test::scratchDir("coverage-encoder-" + std::to_string(opset)));
    WARN("encoder block (opset " << opset << ") re-exported: ONNX Runtime max abs diff " << ort);
    CHECK(ort <= bound);
  }
}

// ViT's class token: cls_token.expand(x.shape[0], -1, -1) keeps the batch
// free (expand reads it from the patches at run time), x[:, 0] is a select.
TEST_CASE("coverage: expand by a run-time batch size and select (ViT's class token)",
          "[importers][torchscript][coverage]") {
  auto m = test::importScriptFile(coverageFixture("cls_token.script.pt"), "eval", "input_shape: [1, 3, 8, 8]");
  CHECK(countOps(*m, "expand") == 1);
  CHECK(countOps(*m, "select") == 2);
  auto ref = loadPickle(coverageFixture("cls_token.ref.pt"));
  {
    at::NoGradGuard no_grad;
    CHECK(maxAbsDiff(m->forward({ref.at("x").toTensor()})[0], ref.at("eval_out").toTensor()) < 1e-6);
  }
  // Exported with the batch symbolic: ONNX Runtime runs batch 2.
  const auto [diff, bound] = ortDiff(*m, "cls_token", test::scratchDir("coverage-cls-token"));
  WARN("class token: ONNX Runtime max abs diff " << diff);
  CHECK(diff <= 1e-6);
}

// ViT (vit_b_16's 16 px patches at a reduced size): the class token's expand,
// x[:, 0], and nn.MultiheadAttention, whose scripted forward branches on
// tensor identity, imported as its math (linear, select, matmul, softmax).
TEST_CASE("coverage: scripted ViT (16 px patches, 32 px, 2 layers) matches PyTorch and exports to ONNX Runtime",
          "[importers][torchscript][coverage]") {
  const std::string prefix = coverageFixture("vit_small");
  test::ParityTolerance tol = kTolerance;
  tol.names = false;  // in_proj_weight is MultiheadAttention's, not a Linear's
  test::checkScriptParity(prefix, tol, "input_shape: [1, 3, 32, 32]");
  auto m = test::importScriptFile(prefix + ".script.pt", "eval", "input_shape: [1, 3, 32, 32]");
  CHECK(countOps(*m, "softmax") == 2);
  CHECK(countOps(*m, "expand") == 1);
  const auto [diff, bound] = ortDiff(*m, "vit_small", test::scratchDir("coverage-vit"));
  WARN("vit_small: ONNX Runtime max abs diff " << diff << " (bound " << bound << ")");
  CHECK(diff <= bound);
}
