// batch_norm(x, weight, bias, running_mean, running_var[, num_batches_tracked])
// with attributes momentum (0.1) and eps (1e-5), as nn.BatchNorm2d.
#include <edgeopt/ir/input_roles.h>

#include "ops_common.h"

namespace edgeopt::ir::ops {
namespace {

Tensors batchNormKernel(const Node& n, const Tensors& in, const ExecContext& ctx) {
  at::Tensor y = at::batch_norm(in[0], in[1], in[2], in[3], in[4], ctx.training, n.getOr<double>("momentum", 0.1),
                                n.getOr<double>("eps", 1e-5), /*cudnn_enabled=*/true);
  // nn.BatchNorm2d counts training batches; with a fixed momentum the count
  // only matters to a checkpoint reader, but it must round-trip like PyTorch.
  if (ctx.training && in.size() > 5 && in[5].defined()) {
    at::NoGradGuard no_grad;
    in[5].add_(1);
  }
  return {y};
}

std::vector<Shape> batchNormShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  check(n, x.size() >= 2, "input must have a channel dimension, got " + formatShape(x));
  for (size_t i = 1; i < std::min<size_t>(in.size(), 5); ++i)
    check(n, in[i] == Shape{x[1]}, "input " + std::to_string(i) + " has shape " + formatShape(in[i]) +
                                       ", expected [" + std::to_string(x[1]) + "]");
  return {x};
}

// Export: BatchNormalization in inference form (running stats; ONNX momentum
// is 1 - PyTorch's). TorchScript follows self.training like nn.BatchNorm2d,
// num_batches_tracked included.
void batchNormOnnx(OnnxEmitContext& ctx) {
  std::vector<std::string> in(ctx.inputs.begin(), ctx.inputs.begin() + 5);
  ctx.add("BatchNormalization", in, {ctx.outputs[0]})
      .attr("epsilon", ctx.node.getOr<double>("eps", 1e-5))
      .attr("momentum", 1.0 - ctx.node.getOr<double>("momentum", 0.1));
}

std::string batchNormScript(ScriptEmitContext& ctx) {
  const Node& n = ctx.node;
  if (ctx.inputs.size() > 5) ctx.addStatement("if " + ctx.training() + ":\n    " + ctx.inputs[5] + ".add_(1)");
  return ctx.call("torch.batch_norm", {ctx.inputs[0], ctx.inputs[1], ctx.inputs[2], ctx.inputs[3], ctx.inputs[4],
                                       ctx.training(), script::number(n.getOr<double>("momentum", 0.1)),
                                       script::number(n.getOr<double>("eps", 1e-5)), "True"});
}

}  // namespace

void registerNormOps(OpRegistry& r) {
  r.add(OpDef("batch_norm")
            .setArity(5, 6)
            .setKernel(batchNormKernel)
            .setShape(batchNormShape)
            .setChannels(ChannelFlow::same({{kBnWeight, 0}, {kBnBias, 0}, {kBnRunningMean, 0}, {kBnRunningVar, 0}}))
            .setOnnx(batchNormOnnx)
            .setTorchScript(batchNormScript));
}

}  // namespace edgeopt::ir::ops
