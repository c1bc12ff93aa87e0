// Normalisations without running statistics (same in training and eval):
//   layer_norm(x[, weight[, bias]])  attrs normalized_shape (ints: the trailing
//                                    dims of x), eps (1e-5); nn.LayerNorm
//   group_norm(x[, weight[, bias]])  attrs num_groups, eps (1e-5); weight and
//                                    bias are [C]; nn.GroupNorm
// Both mix channels in their statistics (layer_norm over C, group_norm within
// a group), so channel pruning treats them as Reduce.
#include "ops_common.h"

namespace edgeopt::ir::ops {
namespace {

at::Tensor optionalInput(const Tensors& in, size_t i) { return in.size() > i ? in[i] : at::Tensor(); }

std::vector<Shape> layerNormShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  Ints normalized = n.get<Ints>("normalized_shape");
  check(n, !normalized.empty() && normalized.size() <= x.size() &&
               Shape(x.end() - static_cast<int64_t>(normalized.size()), x.end()) == normalized,
        "normalized_shape " + formatShape(normalized) + " is not the trailing dims of " + formatShape(x));
  for (size_t i = 1; i < in.size(); ++i)
    check(n, in[i] == normalized, "input " + std::to_string(i) + " has shape " + formatShape(in[i]) +
                                      ", expected " + formatShape(normalized));
  return {x};
}

std::vector<Shape> groupNormShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  check(n, x.size() >= 2, "input must have a channel dimension, got " + formatShape(x));
  int64_t groups = n.get<int64_t>("num_groups");
  check(n, groups > 0 && x[1] % groups == 0, "num_groups=" + std::to_string(groups) + " does not divide " +
                                                 std::to_string(x[1]) + " channels");
  for (size_t i = 1; i < in.size(); ++i)
    check(n, in[i] == Shape{x[1]}, "input " + std::to_string(i) + " has shape " + formatShape(in[i]) +
                                       ", expected [" + std::to_string(x[1]) + "]");
  return {x};
}

// Export: LayerNormalization from opset 17, else (and group_norm always:
// GroupNormalization-18 has per-group scales) mean/variance arithmetic.
void layerNormOnnx(OnnxEmitContext& ctx) {
  const Node& n = ctx.node;
  Ints normalized = n.get<Ints>("normalized_shape");
  const int64_t k = static_cast<int64_t>(normalized.size());
  const double eps = n.getOr<double>("eps", 1e-5);
  const std::string& x = ctx.inputs[0];
  if (ctx.opset() >= 17) {
    std::vector<std::string> in = {x, ctx.inputs.size() > 1 ? ctx.inputs[1]
                                                            : ctx.graph.addInitializer(n.name() + "/ones",
                                                                                       at::ones(normalized))};
    if (ctx.inputs.size() > 2) in.push_back(ctx.inputs[2]);
    ctx.add("LayerNormalization", in, {ctx.outputs[0]}).attr("axis", -k).attr("epsilon", eps);
    return;
  }
  Ints axes;
  for (int64_t i = -k; i < 0; ++i) axes.push_back(i);
  std::string y = ctx.inputs.size() > 1 ? ctx.temp("normalized") : ctx.outputs[0];
  onnxNormalize(ctx, x, axes, eps, y);
  if (ctx.inputs.size() > 1) {
    std::string scaled = ctx.inputs.size() > 2 ? ctx.temp("scaled") : ctx.outputs[0];
    ctx.add("Mul", {y, ctx.inputs[1]}, {scaled});
    if (ctx.inputs.size() > 2) ctx.add("Add", {scaled, ctx.inputs[2]}, {ctx.outputs[0]});
  }
}

void groupNormOnnx(OnnxEmitContext& ctx) {
  const Node& n = ctx.node;
  auto shape = ctx.inputShape(0);
  if (!shape) ctx.fail("needs the input shape (shape propagation gave none)");
  const std::string& x = ctx.inputs[0];
  std::string grouped = ctx.temp("grouped"), normalized = ctx.temp("normalized"), x_shape = ctx.temp("x_shape");
  ctx.add("Reshape", {x, ctx.ints("group_shape", {0, n.get<int64_t>("num_groups"), -1})}, {grouped});
  onnxNormalize(ctx, grouped, {2}, n.getOr<double>("eps", 1e-5), normalized);
  ctx.add("Shape", {x}, {x_shape});
  std::string y = ctx.inputs.size() > 1 ? ctx.temp("ungrouped") : ctx.outputs[0];
  ctx.add("Reshape", {normalized, x_shape}, {y});
  Ints per_channel(shape->size() - 1, 1);  // [C, 1, 1]: broadcasts over N, H, W
  per_channel[0] = (*shape)[1];
  for (size_t i = 1; i < ctx.inputs.size(); ++i) {
    std::string param = ctx.temp(i == 1 ? "weight" : "bias");
    ctx.add("Reshape", {ctx.inputs[i], ctx.ints("channel_shape", per_channel)}, {param});
    std::string out = i + 1 < ctx.inputs.size() ? ctx.temp("scaled") : ctx.outputs[0];
    ctx.add(i == 1 ? "Mul" : "Add", {y, param}, {out});
    y = out;
  }
}

std::string normScript(ScriptEmitContext& ctx, const std::string& fn, const std::string& arg) {
  return ctx.call(fn, {ctx.inputs[0], arg, ctx.inputOr(1, "None"), ctx.inputOr(2, "None"),
                       script::number(ctx.node.getOr<double>("eps", 1e-5))});
}

}  // namespace

void registerNormExtraOps(OpRegistry& r) {
  r.add(OpDef("layer_norm")
            .setArity(1, 3)
            .setKernel([](const Node& n, const Tensors& in, const ExecContext&) {
              return Tensors{at::layer_norm(in[0], n.get<Ints>("normalized_shape"), optionalInput(in, 1),
                                            optionalInput(in, 2), n.getOr<double>("eps", 1e-5))};
            })
            .setShape(layerNormShape)
            .setOnnx(layerNormOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) {
              return normScript(ctx, "torch.layer_norm", script::ints(ctx.node.get<Ints>("normalized_shape")));
            }));
  r.add(OpDef("group_norm")
            .setArity(1, 3)
            .setKernel([](const Node& n, const Tensors& in, const ExecContext&) {
              return Tensors{at::group_norm(in[0], n.get<int64_t>("num_groups"), optionalInput(in, 1),
                                            optionalInput(in, 2), n.getOr<double>("eps", 1e-5))};
            })
            .setShape(groupNormShape)
            .setOnnx(groupNormOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) {
              return normScript(ctx, "torch.group_norm", script::integer(ctx.node.get<int64_t>("num_groups")));
            }));
}

}  // namespace edgeopt::ir::ops
