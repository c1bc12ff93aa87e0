// Unary activations: one input, output shaped like it.
#include "ops_common.h"

#include <cmath>

namespace edgeopt::ir::ops {
namespace {

using UnaryFn = at::Tensor (*)(const Node&, const at::Tensor&);

void addUnary(OpRegistry& r, const std::string& name, UnaryFn fn, OnnxEmitter onnx, ScriptEmitter script,
              ChannelFlowFn channels = fixedFlow(ChannelFlow::same())) {
  r.add(OpDef(name)
            .setArity(1, 1)
            .setKernel([fn](const Node& n, const Tensors& in, const ExecContext&) { return Tensors{fn(n, in[0])}; })
            .setShape(sameAsFirstInput)
            .setChannels(channels)
            .setOnnx(std::move(onnx))
            .setTorchScript(std::move(script)));
}

// Export helpers: Clip with constant bounds; x * f(x) forms (SiLU, Hardswish
// before opset 14); GELU from Erf or Tanh (ONNX has Gelu only from opset 20).
OnnxEmitter onnxClip(double lo_default, double hi_default, bool from_attrs) {
  return [=](OnnxEmitContext& ctx) {
    double lo = from_attrs ? ctx.node.getOr<double>("min_val", lo_default) : lo_default;
    double hi = from_attrs ? ctx.node.getOr<double>("max_val", hi_default) : hi_default;
    ctx.add("Clip", {ctx.inputs[0], ctx.scalar("min", float(lo)), ctx.scalar("max", float(hi))}, {ctx.outputs[0]});
  };
}

void hardsigmoidOnnx(OnnxEmitContext& ctx, const std::string& out) {
  ctx.add("HardSigmoid", {ctx.inputs[0]}, {out}).attr("alpha", 1.0 / 6.0).attr("beta", 0.5);
}

void hardswishOnnx(OnnxEmitContext& ctx) {
  if (ctx.opset() >= 14) {
    ctx.add("HardSwish", ctx.inputs, {ctx.outputs[0]});
    return;
  }
  std::string gate = ctx.temp("hardsigmoid");
  hardsigmoidOnnx(ctx, gate);
  ctx.add("Mul", {ctx.inputs[0], gate}, {ctx.outputs[0]});
}

void siluOnnx(OnnxEmitContext& ctx) {
  std::string gate = ctx.temp("sigmoid");
  ctx.add("Sigmoid", ctx.inputs, {gate});
  ctx.add("Mul", {ctx.inputs[0], gate}, {ctx.outputs[0]});
}

void geluOnnx(OnnxEmitContext& ctx) {
  const std::string& x = ctx.inputs[0];
  std::string approx = ctx.node.getOr<std::string>("approximate", "none");
  std::string inner = ctx.temp("inner"), act = ctx.temp("act"), one_plus = ctx.temp("one_plus"),
              half_x = ctx.temp("half_x");
  if (approx == "none") {  // 0.5 x (1 + erf(x / sqrt 2))
    std::string scaled = ctx.temp("scaled");
    ctx.add("Div", {x, ctx.scalar("sqrt2", float(std::sqrt(2.0)))}, {scaled});
    ctx.add("Erf", {scaled}, {act});
  } else if (approx == "tanh") {  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    std::string cube = ctx.temp("cube"), poly = ctx.temp("poly"), x3 = ctx.temp("x3");
    ctx.add("Pow", {x, ctx.scalar("three", 3.f)}, {cube});
    ctx.add("Mul", {cube, ctx.scalar("coef", 0.044715f)}, {x3});
    ctx.add("Add", {x, x3}, {poly});
    ctx.add("Mul", {poly, ctx.scalar("sqrt_2_pi", float(std::sqrt(2.0 / M_PI)))}, {inner});
    ctx.add("Tanh", {inner}, {act});
  } else {
    ctx.fail("approximate='" + approx + "' has no ONNX form");
  }
  ctx.add("Add", {act, ctx.scalar("one", 1.f)}, {one_plus});
  ctx.add("Mul", {x, ctx.scalar("half", 0.5f)}, {half_x});
  ctx.add("Mul", {half_x, one_plus}, {ctx.outputs[0]});
}

}  // namespace

void registerActivationOps(OpRegistry& r) {
  addUnary(
      r, "relu", [](const Node&, const at::Tensor& x) { return at::relu(x); }, onnxSingle("Relu"),
      scriptCall("torch.relu"));
  addUnary(
      r, "relu6", [](const Node&, const at::Tensor& x) { return at::hardtanh(x, 0.0, 6.0); },
      onnxClip(0.0, 6.0, false),
      [](ScriptEmitContext& ctx) { return "torch.hardtanh(" + ctx.inputs[0] + ", 0.0, 6.0)"; });
  addUnary(
      r, "hardtanh",
      [](const Node& n, const at::Tensor& x) {
        return at::hardtanh(x, n.getOr<double>("min_val", -1.0), n.getOr<double>("max_val", 1.0));
      },
      onnxClip(-1.0, 1.0, true),
      [](ScriptEmitContext& ctx) {
        return ctx.call("torch.hardtanh", {ctx.inputs[0], script::number(ctx.node.getOr<double>("min_val", -1.0)),
                                           script::number(ctx.node.getOr<double>("max_val", 1.0))});
      });
  addUnary(
      r, "hardswish", [](const Node&, const at::Tensor& x) { return at::hardswish(x); }, hardswishOnnx,
      scriptCall("torch.hardswish"));
  addUnary(
      r, "hardsigmoid", [](const Node&, const at::Tensor& x) { return at::hardsigmoid(x); },
      [](OnnxEmitContext& ctx) { hardsigmoidOnnx(ctx, ctx.outputs[0]); }, scriptCall("torch.hardsigmoid"));
  addUnary(
      r, "sigmoid", [](const Node&, const at::Tensor& x) { return at::sigmoid(x); }, onnxSingle("Sigmoid"),
      scriptCall("torch.sigmoid"));
  addUnary(
      r, "silu", [](const Node&, const at::Tensor& x) { return at::silu(x); }, siluOnnx, scriptCall("torch.silu"));
  addUnary(
      r, "gelu",
      [](const Node& n, const at::Tensor& x) { return at::gelu(x, n.getOr<std::string>("approximate", "none")); },
      geluOnnx,
      [](ScriptEmitContext& ctx) {
        return "torch.gelu(" + ctx.inputs[0] +
               ", approximate=" + script::string(ctx.node.getOr<std::string>("approximate", "none")) + ")";
      });
  addUnary(
      r, "tanh", [](const Node&, const at::Tensor& x) { return at::tanh(x); }, onnxSingle("Tanh"),
      scriptCall("torch.tanh"));
  // Elementwise math of decomposed layers (converter-exported LayerNorm's
  // sqrt, exact GELU's erf).
  addUnary(
      r, "sqrt", [](const Node&, const at::Tensor& x) { return at::sqrt(x); }, onnxSingle("Sqrt"),
      scriptCall("torch.sqrt"));
  addUnary(
      r, "erf", [](const Node&, const at::Tensor& x) { return at::erf(x); }, onnxSingle("Erf"),
      scriptCall("torch.erf"));
  addUnary(
      r, "leaky_relu",
      [](const Node& n, const at::Tensor& x) { return at::leaky_relu(x, n.getOr<double>("negative_slope", 0.01)); },
      [](OnnxEmitContext& ctx) {
        ctx.add("LeakyRelu", ctx.inputs, {ctx.outputs[0]})
            .attr("alpha", ctx.node.getOr<double>("negative_slope", 0.01));
      },
      [](ScriptEmitContext& ctx) {
        return ctx.call("torch.leaky_relu",
                        {ctx.inputs[0], script::number(ctx.node.getOr<double>("negative_slope", 0.01))});
      });
  // Softmax mixes the dim it normalises: over channels that is a barrier.
  addUnary(
      r, "softmax", [](const Node& n, const at::Tensor& x) { return at::softmax(x, n.getOr<int64_t>("dim", -1)); },
      [](OnnxEmitContext& ctx) {
        ctx.add("Softmax", ctx.inputs, {ctx.outputs[0]}).attr("axis", ctx.node.getOr<int64_t>("dim", -1));
      },
      [](ScriptEmitContext& ctx) {
        return ctx.call("torch.softmax", {ctx.inputs[0], script::integer(ctx.node.getOr<int64_t>("dim", -1))});
      },
      [](const Node& n, const std::vector<Shape>& in) {
        return in[0].size() >= 2 && normalizeDim(n, n.getOr<int64_t>("dim", -1), in[0].size()) == 1
                   ? ChannelFlow::barrier()
                   : ChannelFlow::same();
      });
}

}  // namespace edgeopt::ir::ops
