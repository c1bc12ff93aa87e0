// Export failures are clear errors naming the node and op: ops without an
// emitter, emitters that misbehave, models the checker rejects, missing shapes.
#include "export_test_util.h"

#include <edgeopt/ir/builder.h>
#include <edgeopt/ir/onnx_emit.h>
#include <edgeopt/ir/op_registry.h>

using namespace edgeopt;
using namespace edgeopt::test;
using Catch::Matchers::Contains;

namespace {

// Test-only ops: identity kernels with no, a wrong or an invalid ONNX emitter.
void registerTestOps() {
  static bool done = [] {
    auto& r = ir::OpRegistry::instance();
    auto identity = [](const ir::Node&, const std::vector<at::Tensor>& in, const ir::ExecContext&) {
      return std::vector<at::Tensor>{in[0]};
    };
    auto same = [](const ir::Node&, const std::vector<ir::Shape>& in) { return std::vector<ir::Shape>{in[0]}; };
    r.add(ir::OpDef("test_no_emitter").setKernel(identity).setShape(same));
    r.add(ir::OpDef("test_lazy_emitter").setKernel(identity).setShape(same).setOnnx([](ir::OnnxEmitContext& ctx) {
      ctx.add("Relu", ctx.inputs, {ctx.temp("elsewhere")});
    }));
    r.add(ir::OpDef("test_invalid_onnx").setKernel(identity).setShape(same).setOnnx([](ir::OnnxEmitContext& ctx) {
      ctx.add("NoSuchOnnxOp", ctx.inputs, {ctx.outputs[0]});
    }));
    return true;
  }();
  (void)done;
}

std::shared_ptr<GraphModule> modelWith(const std::string& op, bool record_shape = true) {
  registerTestOps();
  ir::ModelBuilder b;
  ir::Value* x = b.input("x");
  x = b.conv2d("conv", x, ir::Conv2dOptions(3, 4, 3));
  x = b.leaf("odd", "OddModule", op, {x});
  b.output({b.relu("act", x)});
  auto m = b.finish();
  if (record_shape) m->setExampleInputShapes({{1, 3, 8, 8}});
  m->eval();
  return m;
}

}  // namespace

TEST_CASE("exporting an op without an emitter names the op and the node", "[onnx][torchscript][errors]") {
  loadBuiltinPlugin("onnx_export");
  loadBuiltinPlugin("torchscript_export");
  const std::string dir = scratchDir("export-errors");
  auto m = modelWith("test_no_emitter");
  REQUIRE_THROWS_WITH(makeExporter("onnx")->write(*m, dir + "/m.onnx"),
                      Contains("ONNX export: node 'odd': op 'test_no_emitter' has no ONNX emitter") &&
                          Contains("ops with one: ") && Contains("conv2d"));
  REQUIRE_THROWS_WITH(makeExporter("torchscript")->write(*m, dir + "/m.pt"),
                      Contains("TorchScript export: node 'odd': op 'test_no_emitter' has no TorchScript emitter"));
  // Nothing is left behind under the final name (or as a temporary).
  CHECK(std::filesystem::is_empty(dir));
}

TEST_CASE("an emitter that does not produce its output is reported", "[onnx][errors]") {
  loadBuiltinPlugin("onnx_export");
  auto m = modelWith("test_lazy_emitter");
  REQUIRE_THROWS_WITH(
      makeExporter("onnx")->write(*m, scratchDir("lazy") + "/m.onnx"),
      Contains("ONNX export: node 'odd' (test_lazy_emitter): the emitter did not produce output 'odd'"));
}

TEST_CASE("a model the ONNX checker rejects fails the export with the checker reason", "[onnx][errors]") {
  loadBuiltinPlugin("onnx_export");
  const std::string dir = scratchDir("invalid");
  auto m = modelWith("test_invalid_onnx");
  REQUIRE_THROWS_WITH(makeExporter("onnx")->write(*m, dir + "/m.onnx"),
                      Contains("ONNX export: the model fails onnx::checker::check_model") && Contains("NoSuchOnnxOp"));
  CHECK(std::filesystem::is_empty(dir));
}

TEST_CASE("ONNX export needs an input shape and a supported opset", "[onnx][errors]") {
  loadBuiltinPlugin("onnx_export");
  auto m = modelWith("relu", /*record_shape=*/false);
  const std::string dir = scratchDir("no-shape");
  REQUIRE_THROWS_WITH(makeExporter("onnx")->write(*m, dir + "/m.onnx"),
                      Contains("the model records no shape for input 'x'; set the exporter's input_shape"));
  REQUIRE_NOTHROW(makeExporter("onnx", "input_shape: [1, 3, 8, 8]")->write(*m, dir + "/m.onnx"));
  REQUIRE_THROWS_WITH(makeExporter("onnx", "opset: 12"), Contains("opset"));
  REQUIRE_THROWS_WITH(makeExporter("onnx", "opset: 19"), Contains("opset"));
}
