// Ops with weights: conv2d(x, weight[, bias]) and linear(x, weight[, bias]).
#include <edgeopt/ir/input_roles.h>

#include "ops_common.h"

#include <algorithm>

namespace edgeopt::ir::ops {
namespace {

at::Tensor optionalBias(const Tensors& in) { return in.size() > 2 ? in[2] : at::Tensor(); }

// LibTorch 1.13's at::conv2d (ConvParams::use_mkldnn) hands a float CPU
// conv with groups == 1 to oneDNN only when the batch is above 1, the input
// has more than 20480 elements, or both kernel sides exceed 3. Else it runs
// native slow_conv2d, which on batch-1 7x7 and 14x14 maps is 2-5x slower
// than oneDNN (a pruned resnet18's layer4 at [1, 358, 7, 7]: 4.9 ms vs 1.5 ms
// per 3x3 conv). That batch-1 case goes to at::mkldnn_convolution,
// when nothing records autograd (inference) and the conv is big enough:
// oneDNN costs ~35 us a call, so small convs lose (1x1 64 -> 64 at 8x8,
// 0.26 M multiply-accumulates: 26 us native vs 41 us; 3x3 3 -> 16 at 28x28,
// 0.34 M: 47 vs 37 us); the cut-off is 2^19 = 0.52 M MACs. Grouped and
// batch > 1 convs already reach oneDNN through at::conv2d, except unstrided
// 1x1 convs below batch 16 on one thread (oneDNN measured 1.7-2.5x faster
// at batch 4 and 8 too); they stay with at::conv2d, so a one-thread batch
// agrees with PyTorch to the last bit (test_torchscript_export).
bool nativeConvIsSlower(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const Ints& stride,
                        const Ints& padding, const Ints& dilation, int64_t groups) {
  if (groups != 1 || !at::hasMKLDNN() || !at::globalContext().userEnabledMkldnn()) return false;
  if (x.dim() != 4 || w.dim() != 4) return false;
  for (const at::Tensor* t : {&x, &w, &b})
    if (t->defined() && (!t->device().is_cpu() || t->scalar_type() != at::kFloat || t->layout() != at::kStrided))
      return false;
  if (at::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad())))
    return false;
  if (x.size(0) != 1 || (w.size(2) > 3 && w.size(3) > 3) || x.numel() > 20480) return false;
  int64_t macs = x.size(0) * w.size(0) * w.size(1) * w.size(2) * w.size(3);
  for (int i = 0; i < 2; ++i)
    macs *=
        std::max<int64_t>((x.size(2 + i) + 2 * padding[i] - dilation[i] * (w.size(2 + i) - 1) - 1) / stride[i] + 1, 0);
  return macs >= (int64_t{1} << 19);
}

Tensors conv2dKernel(const Node& n, const Tensors& in, const ExecContext&) {
  const Ints stride = expand(n, "stride", 2, 1), padding = expand(n, "padding", 2, 0),
             dilation = expand(n, "dilation", 2, 1);
  const int64_t groups = n.getOr<int64_t>("groups", 1);
  const at::Tensor bias = optionalBias(in);
  if (nativeConvIsSlower(in[0], in[1], bias, stride, padding, dilation, groups))
    return {at::mkldnn_convolution(in[0].contiguous(), in[1].contiguous(),
                                   bias.defined() ? c10::optional<at::Tensor>(bias.contiguous()) : c10::nullopt,
                                   padding, stride, dilation, groups)};
  return {at::conv2d(in[0], in[1], bias, stride, padding, dilation, groups)};
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
