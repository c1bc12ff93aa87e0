// stochastic_depth(x): torchvision.ops.StochasticDepth. Attributes p (the
// drop probability, 0..1) and mode ("row": one draw per sample, "batch": one
// draw for the whole batch). Identity in eval or with p = 0; in training the
// kept rows are scaled by 1 / (1 - p). The draws use ATen's default
// generator exactly as torchvision does (empty(...).bernoulli_(1 - p)), so
// at::manual_seed reproduces them, and the same seed in Python gives the same
// mask.
#include "ops_common.h"

namespace edgeopt::ir::ops {
namespace {

double dropProbability(const Node& n) {
  double p = n.getOr<double>("p", 0.0);
  check(n, p >= 0.0 && p <= 1.0, "p must be in [0, 1], got " + std::to_string(p));
  return p;
}

std::vector<Shape> stochasticDepthShape(const Node& n, const std::vector<Shape>& in) {
  dropProbability(n);
  std::string mode = n.getOr<std::string>("mode", "row");
  check(n, mode == "row" || mode == "batch", "mode '" + mode + "' is not one of row, batch");
  return {in[0]};
}

Tensors stochasticDepthKernel(const Node& n, const Tensors& in, const ExecContext& ctx) {
  double p = dropProbability(n);
  const at::Tensor& x = in[0];
  if (!ctx.training || p == 0.0) return {x};
  double survival = 1.0 - p;
  std::vector<int64_t> size(static_cast<size_t>(x.dim()), 1);
  if (n.getOr<std::string>("mode", "row") == "row" && x.dim() > 0) size[0] = x.size(0);
  at::Tensor noise = at::empty(size, x.options()).bernoulli_(survival);
  if (survival > 0.0) noise.div_(survival);
  return {x * noise};
}

// Export: the identity in ONNX (inference); in TorchScript torchvision's
// draw under self.training.
std::string stochasticDepthScript(ScriptEmitContext& ctx) {
  double p = dropProbability(ctx.node);
  const std::string& x = ctx.inputs[0];
  if (p == 0.0) return x;
  double survival = 1.0 - p;
  std::string size = ctx.node.getOr<std::string>("mode", "row") == "row"
                         ? "[" + x + ".size(0)] + [1] * (" + x + ".dim() - 1)"
                         : "[1] * " + x + ".dim()";
  std::string noise = "torch.empty(" + size + ", dtype=" + x + ".dtype, device=" + x + ".device).bernoulli_(" +
                      script::number(survival) + ")";
  if (survival > 0.0) noise += ".div_(" + script::number(survival) + ")";
  return "(" + x + " * " + noise + " if " + ctx.training() + " else " + x + ")";
}

}  // namespace

void registerRegularizationOps(OpRegistry& r) {
  // Row mode scales whole samples, so every channel is kept or dropped together.
  r.add(OpDef("stochastic_depth")
            .setArity(1, 1)
            .setKernel(stochasticDepthKernel)
            .setShape(stochasticDepthShape)
            .setChannels(ChannelFlow::same())
            .setOnnx(onnxSingle("Identity"))
            .setTorchScript(stochasticDepthScript));
}

}  // namespace edgeopt::ir::ops
