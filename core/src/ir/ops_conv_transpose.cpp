// conv_transpose2d(x, weight[, bias]) as nn.ConvTranspose2d: weight is
// [in_channels, out_channels / groups, kH, kW]; attributes stride (1),
// padding (0), output_padding (0), groups (1), dilation (1). Output size per
// dim: (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.
// MACs count every input element times the weights it touches (fvcore's
// rule): numel(x) * out_channels / groups * kH * kW.
#include "ops_common.h"

namespace edgeopt::ir::ops {
namespace {

struct TransposeArgs {
  Ints stride, padding, output_padding, dilation;
  int64_t groups;
};

TransposeArgs argsOf(const Node& n) {
  const int64_t groups = n.getOr<int64_t>("groups", 1);
  if (groups < 1) failAttribute(n, "attribute 'groups' must be at least 1, got " + std::to_string(groups));
  return {expandAtLeast(n, "stride", 2, 1, 1), expandAtLeast(n, "padding", 2, 0, 0),
          expandAtLeast(n, "output_padding", 2, 0, 0), expandAtLeast(n, "dilation", 2, 1, 1), groups};
}

std::vector<Shape> convTransposeShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  const Shape& w = in[1];
  check(n, x.size() == 4, "input must be NCHW, got " + formatShape(x));
  check(n, w.size() == 4, "weight must be 4-D [in, out/groups, kH, kW], got " + formatShape(w));
  TransposeArgs a = argsOf(n);
  check(n, x[1] % a.groups == 0, "groups=" + std::to_string(a.groups) + " does not divide " +
                                                     std::to_string(x[1]) + " input channels");
  check(n, x[1] == w[0], "input has " + std::to_string(x[1]) + " channels, weight " + formatShape(w) +
                             " expects " + std::to_string(w[0]));
  int64_t out_channels = w[1] * a.groups;
  if (in.size() > 2)
    check(n, in[2] == Shape{out_channels}, "bias shape " + formatShape(in[2]) + " != [out_channels]");
  Shape out{x[0], out_channels, 0, 0};
  for (size_t i = 0; i < 2; ++i) {
    check(n, a.output_padding[i] < std::max(a.stride[i], a.dilation[i]),
          "output_padding must be smaller than stride or dilation");
    out[2 + i] = (x[2 + i] - 1) * a.stride[i] - 2 * a.padding[i] + a.dilation[i] * (w[2 + i] - 1) +
                 a.output_padding[i] + 1;
    check(n, out[2 + i] > 0, "input " + formatShape(x) + " gives an empty output");
  }
  return {out};
}

Tensors convTransposeKernel(const Node& n, const Tensors& in, const ExecContext&) {
  TransposeArgs a = argsOf(n);
  at::Tensor bias = in.size() > 2 ? in[2] : at::Tensor();
  return {at::conv_transpose2d(in[0], in[1], bias, a.stride, a.padding, a.output_padding, a.groups, a.dilation)};
}

int64_t convTransposeMacs(const Node&, const std::vector<Shape>& in, const std::vector<Shape>&) {
  const Shape& w = in[1];
  return numel(in[0]) * w[1] * w[2] * w[3];
}

// Export: ConvTranspose; torch.conv_transpose2d.
void convTransposeOnnx(OnnxEmitContext& ctx) {
  TransposeArgs a = argsOf(ctx.node);
  OnnxNode& n = ctx.add("ConvTranspose", ctx.inputs, {ctx.outputs[0]})
                    .attr("strides", a.stride)
                    .attr("pads", onnxPads2d(a.padding))
                    .attr("output_padding", a.output_padding)
                    .attr("dilations", a.dilation)
                    .attr("group", a.groups);
  if (auto w = ctx.inputShape(1)) n.attr("kernel_shape", Ints{(*w)[2], (*w)[3]});
}

std::string convTransposeScript(ScriptEmitContext& ctx) {
  TransposeArgs a = argsOf(ctx.node);
  return ctx.call("torch.conv_transpose2d",
                  {ctx.inputs[0], ctx.inputs[1], ctx.inputOr(2, "None"), script::ints(a.stride),
                   script::ints(a.padding), script::ints(a.output_padding), script::integer(a.groups),
                   script::ints(a.dilation)});
}

// The weight is [in, out / groups, kH, kW]: output channels are its dim 1,
// input channels its dim 0. Only groups == 1 is followed.
ChannelFlow convTransposeFlow(const Node& n, const std::vector<Shape>& in) {
  if (n.getOr<int64_t>("groups", 1) != 1) return ChannelFlow::barrier();
  std::vector<TensorDim> params{{1, 1}};
  if (in.size() > 2) params.push_back({2, 0});
  return ChannelFlow::producer(params, {{1, 0}});
}

}  // namespace

void registerConvTransposeOps(OpRegistry& r) {
  r.add(OpDef("conv_transpose2d")
            .setArity(2, 3)
            .setKernel(convTransposeKernel)
            .setShape(convTransposeShape)
            .setMacs(convTransposeMacs)
            .setChannels(convTransposeFlow)
            .setOnnx(convTransposeOnnx)
            .setTorchScript(convTransposeScript));
}

}  // namespace edgeopt::ir::ops
