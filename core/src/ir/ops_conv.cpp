// Ops with weights: conv2d(x, weight[, bias]) and linear(x, weight[, bias]).
#include <edgeopt/ir/input_roles.h>

#include "ops_common.h"

namespace edgeopt::ir::ops {
namespace {

at::Tensor optionalBias(const Tensors& in) { return in.size() > 2 ? in[2] : at::Tensor(); }

Tensors conv2dKernel(const Node& n, const Tensors& in, const ExecContext&) {
  return {at::conv2d(in[0], in[1], optionalBias(in), expand(n, "stride", 2, 1), expand(n, "padding", 2, 0),
                     expand(n, "dilation", 2, 1), n.getOr<int64_t>("groups", 1))};
}

std::vector<Shape> conv2dShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  const Shape& w = in[1];
  check(n, x.size() == 4, "input must be NCHW, got " + formatShape(x));
  check(n, w.size() == 4, "weight must be 4-D, got " + formatShape(w));
  const int64_t groups = n.getOr<int64_t>("groups", 1);
  if (groups < 1) failAttribute(n, "attribute 'groups' must be at least 1, got " + std::to_string(groups));
  check(n, x[1] == w[1] * groups,
        "input has " + std::to_string(x[1]) + " channels, weight " + formatShape(w) + " with groups=" +
            std::to_string(groups) + " expects " + std::to_string(w[1] * groups));
  if (in.size() > 2) check(n, in[2] == Shape{w[0]}, "bias shape " + formatShape(in[2]) + " != [out_channels]");
  return {conv2dOutputShape(n, x, w)};
}

Tensors linearKernel(const Node&, const Tensors& in, const ExecContext&) {
  return {at::linear(in[0], in[1], optionalBias(in))};
}

std::vector<Shape> linearShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  const Shape& w = in[1];
  check(n, !x.empty() && w.size() == 2 && x.back() == w[1],
        "input " + formatShape(x) + " does not match weight " + formatShape(w));
  Shape out = x;
  out.back() = w[0];
  return {out};
}

int64_t linearMacs(const Node&, const std::vector<Shape>& in, const std::vector<Shape>& out) {
  return numel(out[0]) * in[1][1];
}

// Export: Conv / Gemm (2-D input) or MatMul + Add; torch.conv2d / torch.linear.
void conv2dOnnx(OnnxEmitContext& ctx) {
  const Node& n = ctx.node;
  OnnxNode& conv = ctx.add("Conv", ctx.inputs, {ctx.outputs[0]});
  conv.attr("strides", expand(n, "stride", 2, 1))
      .attr("pads", onnxPads2d(expand(n, "padding", 2, 0)))
      .attr("dilations", expand(n, "dilation", 2, 1))
      .attr("group", n.getOr<int64_t>("groups", 1));
  if (auto w = ctx.inputShape(1)) conv.attr("kernel_shape", Ints{(*w)[2], (*w)[3]});
}

std::string conv2dScript(ScriptEmitContext& ctx) {
  const Node& n = ctx.node;
  return ctx.call("torch.conv2d", {ctx.inputs[0], ctx.inputs[1], ctx.inputOr(2, "None"),
                                   script::ints(expand(n, "stride", 2, 1)), script::ints(expand(n, "padding", 2, 0)),
                                   script::ints(expand(n, "dilation", 2, 1)),
                                   script::integer(n.getOr<int64_t>("groups", 1))});
}

void linearOnnx(OnnxEmitContext& ctx) {
  if (ctx.inputRank(0) == 2) {
    ctx.add("Gemm", ctx.inputs, {ctx.outputs[0]}).attr("transB", 1);
    return;
  }
  std::string wt = ctx.temp("weight_t");
  ctx.add("Transpose", {ctx.inputs[1]}, {wt}).attr("perm", Ints{1, 0});
  if (ctx.inputs.size() < 3) {
    ctx.add("MatMul", {ctx.inputs[0], wt}, {ctx.outputs[0]});
    return;
  }
  std::string mm = ctx.temp("matmul");
  ctx.add("MatMul", {ctx.inputs[0], wt}, {mm});
  ctx.add("Add", {mm, ctx.inputs[2]}, {ctx.outputs[0]});
}

std::string linearScript(ScriptEmitContext& ctx) {
  return ctx.call("torch.linear", {ctx.inputs[0], ctx.inputs[1], ctx.inputOr(2, "None")});
}

// groups == 1: new output channels (weight dim 0, bias), input channels read
// through weight dim 1. Depthwise (groups == in channels, one filter each):
// output c is input c filtered, so both sides are one set of channels. Other
// groupings tie channels to groups: a barrier.
ChannelFlow conv2dFlow(const Node& n, const std::vector<Shape>& in) {
  const int64_t groups = n.getOr<int64_t>("groups", 1);
  std::vector<TensorDim> params{{kConvWeight, 0}};
  if (in.size() > kConvBias) params.push_back({kConvBias, 0});
  if (groups == 1) return ChannelFlow::producer(params, {{kConvWeight, 1}});
  if (in[kConvX].size() == 4 && groups == in[kConvX][1] && in[kConvWeight][0] == groups) {
    ChannelFlow flow = ChannelFlow::producer(params, {});
    flow.depthwise = true;
    flow.groups_attr = "groups";
    return flow;
  }
  return ChannelFlow::barrier();
}

// Features of a [N, F] input; a linear over the last dim of a higher-rank
// input (tokens) does not index dim 1.
ChannelFlow linearFlow(const Node&, const std::vector<Shape>& in) {
  if (in[0].size() != 2) return ChannelFlow::barrier();
  std::vector<TensorDim> params{{kConvWeight, 0}};
  if (in.size() > kConvBias) params.push_back({kConvBias, 0});
  return ChannelFlow::producer(params, {{kConvWeight, 1}});
}

}  // namespace

Shape conv2dOutputShape(const Node& n, const Shape& x, const Shape& w) {
  const Ints stride = expandAtLeast(n, "stride", 2, 1, 1), pad = expandAtLeast(n, "padding", 2, 0, 0),
             dil = expandAtLeast(n, "dilation", 2, 1, 1);
  Shape out{x[0], w[0], 0, 0};
  for (size_t i = 0; i < 2; ++i) {
    out[2 + i] = (x[2 + i] + 2 * pad[i] - dil[i] * (w[2 + i] - 1) - 1) / stride[i] + 1;
    check(n, out[2 + i] > 0, "input " + formatShape(x) + " is too small for the kernel");
  }
  return out;
}

int64_t conv2dMacs(const Node&, const std::vector<Shape>& in, const std::vector<Shape>& out) {
  const Shape& w = in[1];
  return numel(out[0]) * w[1] * w[2] * w[3];
}

void registerConvOps(OpRegistry& r) {
  r.add(OpDef("conv2d")
            .setArity(2, 3)
            .setKernel(conv2dKernel)
            .setShape(conv2dShape)
            .setMacs(conv2dMacs)
            .setChannels(conv2dFlow)
            .setOnnx(conv2dOnnx)
            .setTorchScript(conv2dScript));
  r.add(OpDef("linear")
            .setArity(2, 3)
            .setKernel(linearKernel)
            .setShape(linearShape)
            .setMacs(linearMacs)
            .setChannels(linearFlow)
            .setOnnx(linearOnnx)
            .setTorchScript(linearScript));
}

}  // namespace edgeopt::ir::ops
