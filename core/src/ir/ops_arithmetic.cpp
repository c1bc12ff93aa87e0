// Binary arithmetic: add, sub, mul, div, pow. Tensor-tensor (two inputs,
// broadcasting) or tensor-scalar (one input, attribute `other`).
#include "ops_common.h"

namespace edgeopt::ir::ops {
namespace {

using TensorFn = at::Tensor (*)(const at::Tensor&, const at::Tensor&);
using ScalarFn = at::Tensor (*)(const at::Tensor&, const at::Scalar&);

// Export: the ONNX op with a scalar initializer for `other`; torch.<name>.
void addBinary(OpRegistry& r, const std::string& name, TensorFn tensor_fn, ScalarFn scalar_fn,
               const std::string& onnx_op) {
  Kernel kernel = [tensor_fn, scalar_fn](const Node& n, const Tensors& in, const ExecContext&) {
    if (in.size() == 2) return Tensors{tensor_fn(in[0], in[1])};
    check(n, n.hasAttr("other"), "with one input, the scalar operand must be attribute 'other'");
    return Tensors{scalar_fn(in[0], at::Scalar(n.get<double>("other")))};
  };
  OnnxEmitter onnx = [onnx_op](OnnxEmitContext& ctx) {
    std::vector<std::string> in = ctx.inputs;
    if (in.size() == 1) in.push_back(ctx.scalar("other", float(ctx.node.get<double>("other"))));
    ctx.add(onnx_op, in, {ctx.outputs[0]});
  };
  ScriptEmitter script = [name](ScriptEmitContext& ctx) {
    std::string other = ctx.inputs.size() == 2 ? ctx.inputs[1] : script::number(ctx.node.get<double>("other"));
    return ctx.call("torch." + name, {ctx.inputs[0], other});
  };
  r.add(OpDef(name)
            .setArity(1, 2)
            .setKernel(kernel)
            .setShape(broadcastShapes)
            .setChannels(ChannelFlow::elementwise())
            .setOnnx(onnx)
            .setTorchScript(script));
}

}  // namespace

void registerArithmeticOps(OpRegistry& r) {
  addBinary(
      r, "add", [](const at::Tensor& a, const at::Tensor& b) { return at::add(a, b); },
      [](const at::Tensor& a, const at::Scalar& b) { return at::add(a, b); }, "Add");
  addBinary(
      r, "sub", [](const at::Tensor& a, const at::Tensor& b) { return at::sub(a, b); },
      [](const at::Tensor& a, const at::Scalar& b) { return at::sub(a, b); }, "Sub");
  addBinary(
      r, "mul", [](const at::Tensor& a, const at::Tensor& b) { return at::mul(a, b); },
      [](const at::Tensor& a, const at::Scalar& b) { return at::mul(a, b); }, "Mul");
  addBinary(
      r, "div", [](const at::Tensor& a, const at::Tensor& b) { return at::div(a, b); },
      [](const at::Tensor& a, const at::Scalar& b) { return at::div(a, b); }, "Div");
  addBinary(
      r, "pow", [](const at::Tensor& a, const at::Tensor& b) { return at::pow(a, b); },
      [](const at::Tensor& a, const at::Scalar& b) { return at::pow(a, b); }, "Pow");
}

}  // namespace edgeopt::ir::ops
