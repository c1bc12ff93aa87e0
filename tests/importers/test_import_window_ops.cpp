// The ops of windowed attention (Swin, MaxViT; issue 13) on one scripted
// module (make_window_fixtures.py): roll, einsum as batched matmuls, a
// relative-position table read at a buffer of indices (index_select), a mask
// built in forward from new_zeros and slice assignments (folded to a
// constant), ne / masked_fill on run-time tensors, unsqueeze, and views sized
// B * windows. Eval parity with PyTorch, and the ONNX export in ONNX Runtime.
#include "ort_runner.h"  // first: ATen's glog CHECK must come before Catch's

#include "script_parity.h"

#include <edgeopt/ir/graph.h>

using namespace edgeopt;
using edgeopt::test::loadPickle;
using edgeopt::test::maxAbsDiff;

namespace {

std::string windowFixture(const std::string& file) {
  static const std::string dir =
      test::pythonFixtureDir(std::string(EDGEOPT_SOURCE_DIR) + "/tests/importers/make_window_fixtures.py",
                             std::string(EDGEOPT_TEST_WORK_DIR) + "/fixtures-window");
  return dir + "/" + file;
}

int64_t countOps(const GraphModule& m, const std::string& op) {
  int64_t n = 0;
  for (ir::Node* node : m.graph().nodes()) n += node->opcode() == ir::Opcode::Call && node->target() == op;
  return n;
}

}  // namespace

TEST_CASE("window ops: roll, einsum, index, masks and B x windows views import with PyTorch and ONNX Runtime parity",
          "[importers][torchscript][coverage]") {
  at::set_num_threads(1);
  auto ref = loadPickle(windowFixture("window_ops.ref.pt"));
  const at::Tensor x = ref.at("x").toTensor(), want = ref.at("eval_out").toTensor();
  auto m = test::importScriptFile(windowFixture("window_ops.script.pt"), "eval",
                                  "input_shape: " + ir::formatShape(x.sizes().vec()));
  CHECK(countOps(*m, "roll") == 2);
  CHECK(countOps(*m, "matmul") == 2);        // the two einsums
  CHECK(countOps(*m, "index_select") == 1);  // table[index]
  CHECK(countOps(*m, "ne") == 1);            // the run-time one; the mask's folds
  CHECK(countOps(*m, "masked_fill") == 1);
  at::Tensor out;
  {
    at::NoGradGuard no_grad;
    out = m->forward({x})[0];
  }
  const double diff = maxAbsDiff(out, want);
  WARN("window ops: eval max abs diff " << diff);
  CHECK(diff <= 1e-5);
  CHECK((want == 0).sum().item<int64_t>() > 0);  // masked_fill zeroed something

  test::loadBuiltinPlugin("onnx_export");
  const std::string dir = test::scratchDir("window-ops");
  const std::string path = dir + "/window_ops.onnx";
  test::makeExporter("onnx", "{opset: 17, input_shape: " + ir::formatShape(x.sizes().vec()) + "}")->write(*m, path);
  test::writeFloats(dir + "/x.bin", x);
  const double ort = test::runInOrt(dir, {{path, "window_ops", {want}}}, dir + "/x.bin", x.sizes())[0];
  WARN("window ops: ONNX Runtime max abs diff " << ort);
  CHECK(ort <= 1e-5);
}

TEST_CASE("cosine ops: normalize, clamp, exp and in-place writes into slices import and train like PyTorch",
          "[importers][torchscript][coverage]") {
  at::set_num_threads(1);
  auto ref = loadPickle(windowFixture("cosine_ops.ref.pt"));
  const at::Tensor x = ref.at("x").toTensor(), want = ref.at("eval_out").toTensor();
  auto m = test::importScriptFile(windowFixture("cosine_ops.script.pt"), "train",
                                  "input_shape: " + ir::formatShape(x.sizes().vec()));
  CHECK(countOps(*m, "norm") == 3);  // two F.normalize, one vector_norm
  CHECK(countOps(*m, "exp") == 1);
  CHECK(countOps(*m, "clamp") == 5);  // normalize's two clamp_min(eps), the logit scale's, clamp_min(1.5), clamp(max=2)
  // bias[n:2n] = 0 once; t[:, 0:4] = 0.5 and t[:, 8:12] = ... twice each (into t[:] and t)
  CHECK(countOps(*m, "slice_scatter") == 5);
  m->eval();
  at::Tensor out;
  {
    at::NoGradGuard no_grad;
    out = m->forward({x})[0];
  }
  const double diff = maxAbsDiff(out, want);
  WARN("cosine ops: eval max abs diff " << diff);
  CHECK(diff <= 1e-5);

  // One SGD step: the zeroed middle third of the bias gets no gradient.
  m->train();
  torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.5));
  const at::Tensor loss = m->forward({x})[0].square().mean();
  opt.zero_grad();
  loss.backward();
  const at::Tensor grad = m->tensor("qkv.bias").grad();
  CHECK(maxAbsDiff(grad, ref.at("bias_grad").toTensor()) <= 1e-5);
  CHECK(grad.slice(0, 4, 8).abs().max().item<double>() == 0.0);
  CHECK(grad.abs().max().item<double>() > 1.0);
  opt.step();
  CHECK(std::abs(loss.item<double>() - ref.at("loss").toTensor().item<double>()) <= 1e-5);
  for (const auto& item : ref.at("after").toGenericDict()) {
    INFO(item.key().toStringRef());
    CHECK(maxAbsDiff(m->tensor(item.key().toStringRef()), item.value().toTensor()) <= 1e-5);
  }

  // Exports: ONNX in ONNX Runtime, and TorchScript re-imported (the new ops' emitters).
  m->eval();
  test::loadBuiltinPlugin("onnx_export");
  test::loadBuiltinPlugin("torchscript_export");
  at::Tensor trained;
  {
    at::NoGradGuard no_grad;
    trained = m->forward({x})[0];
  }
  const std::string dir = test::scratchDir("cosine-ops");
  const std::string path = dir + "/cosine_ops.onnx";
  test::makeExporter("onnx", "{opset: 17, input_shape: " + ir::formatShape(x.sizes().vec()) + "}")->write(*m, path);
  test::writeFloats(dir + "/x.bin", x);
  const double ort = test::runInOrt(dir, {{path, "cosine_ops", {trained}}}, dir + "/x.bin", x.sizes())[0];
  WARN("cosine ops: ONNX Runtime max abs diff " << ort);
  CHECK(ort <= 1e-5);
  test::makeExporter("torchscript", "")->write(*m, dir + "/cosine_ops.pt");
  auto again = test::importScriptFile(dir + "/cosine_ops.pt", "eval");
  at::NoGradGuard no_grad;
  CHECK(maxAbsDiff(again->forward({x})[0], trained) <= 1e-6);
}
