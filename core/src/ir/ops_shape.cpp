// Ops that move data without arithmetic: cat, flatten, reshape, identity,
// and dropout (identity outside training).
#include "ops_common.h"

#include <limits>

namespace edgeopt::ir::ops {
namespace {

Tensors catKernel(const Node& n, const Tensors& in, const ExecContext&) {
  return {at::cat(in, n.getOr<int64_t>("dim", 0))};
}

std::vector<Shape> catShape(const Node& n, const std::vector<Shape>& in) {
  Shape out = in[0];
  int64_t dim = normalizeDim(n, n.getOr<int64_t>("dim", 0), out.size());
  for (size_t i = 1; i < in.size(); ++i) {
    check(n, in[i].size() == out.size(), "inputs have different ranks");
    for (size_t d = 0; d < out.size(); ++d)
      if (static_cast<int64_t>(d) != dim)
        check(n, in[i][d] == out[d], "input " + std::to_string(i) + " " + formatShape(in[i]) +
                                         " does not match " + formatShape(in[0]) + " outside dim " +
                                         std::to_string(dim));
    out[dim] += in[i][dim];
  }
  return {out};
}

// torch.flatten's defaults (start_dim 0); nn.Flatten's start_dim 1 is set by the builder.
std::vector<Shape> flattenShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  if (x.empty()) return {Shape{1}};
  int64_t start = normalizeDim(n, n.getOr<int64_t>("start_dim", 0), x.size());
  int64_t end = normalizeDim(n, n.getOr<int64_t>("end_dim", -1), x.size());
  check(n, start <= end, "start_dim must not come after end_dim");
  Shape out(x.begin(), x.begin() + start);
  int64_t merged = 1;
  for (int64_t d = start; d <= end; ++d) merged *= x[d];
  out.push_back(merged);
  out.insert(out.end(), x.begin() + end + 1, x.end());
  return {out};
}

std::vector<Shape> reshapeShape(const Node& n, const std::vector<Shape>& in) {
  Shape out = n.get<Ints>("shape");
  const int64_t total = numel(in[0]);
  int64_t known = 1, infer = -1;
  // The target comes from a file (an ONNX Reshape's shape input): its product
  // may pass 2^63, and a wrapped product could match the input's.
  bool overflow = false;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      check(n, infer < 0, "only one dimension can be -1");
      infer = static_cast<int64_t>(i);
    } else {
      check(n, out[i] >= 0, "negative size " + std::to_string(out[i]) + " in " + formatShape(out));
      overflow = overflow || __builtin_mul_overflow(known, out[i], &known);
    }
  }
  check(n, !overflow, "cannot reshape " + formatShape(in[0]) + " to " + formatShape(out));
  if (infer >= 0) {
    check(n, known > 0 && total % known == 0, "cannot infer -1 in " + formatShape(out));
    out[infer] = total / known;
  }
  check(n, numel(out) == total, "cannot reshape " + formatShape(in[0]) + " to " + formatShape(out));
  return {out};
}

// Export. flatten(x, 1, -1) is ONNX Flatten; other flattens and reshape
// are Reshape to the propagated shape, where a leading dim equal to the
// input's (the batch) becomes 0 ("copy"), so the export keeps a dynamic batch.
void reshapeTo(OnnxEmitContext& ctx, Shape target) {
  auto in = ctx.inputShape(0);
  if (in && !in->empty() && !target.empty() && target[0] == (*in)[0] && target[0] > 0) target[0] = 0;
  ctx.add("Reshape", {ctx.inputs[0], ctx.ints("shape", target)}, {ctx.outputs[0]});
}

void flattenOnnx(OnnxEmitContext& ctx) {
  size_t rank = ctx.inputRank(0);
  int64_t start = rank ? normalizeDim(ctx.node, ctx.node.getOr<int64_t>("start_dim", 0), rank) : 0;
  int64_t end = rank ? normalizeDim(ctx.node, ctx.node.getOr<int64_t>("end_dim", -1), rank) : 0;
  if (start == 1 && end == static_cast<int64_t>(rank) - 1) {
    ctx.add("Flatten", ctx.inputs, {ctx.outputs[0]}).attr("axis", 1);
    return;
  }
  auto out = ctx.outputShape(0);
  if (!out) ctx.fail("needs the output shape (shape propagation gave none)");
  reshapeTo(ctx, *out);
}

void reshapeOnnx(OnnxEmitContext& ctx) {
  auto out = ctx.outputShape(0);
  reshapeTo(ctx, out ? *out : ctx.node.get<Ints>("shape"));
}

std::string catScript(ScriptEmitContext& ctx) {
  std::string list = "[";
  for (size_t i = 0; i < ctx.inputs.size(); ++i) list += (i ? ", " : "") + ctx.inputs[i];
  return "torch.cat(" + list + "], " + script::integer(ctx.node.getOr<int64_t>("dim", 0)) + ")";
}

// Stacking on dim 1 appends channels; on any other dim every input carries
// the output's channels.
ChannelFlow catFlow(const Node& n, const std::vector<Shape>& in) {
  if (in[0].size() < 2) return ChannelFlow::barrier();
  return normalizeDim(n, n.getOr<int64_t>("dim", 0), in[0].size()) == 1 ? ChannelFlow::concat()
                                                                        : ChannelFlow::elementwise();
}

// flatten(1) of [N, C, H, W] gives each channel H*W consecutive features (the
// classifier's inputs); flattening only dims after 1 keeps channels at dim 1.
ChannelFlow flattenFlow(const Node& n, const std::vector<Shape>& in) {
  const size_t rank = in[0].size();
  if (rank < 2) return ChannelFlow::barrier();
  const int64_t start = normalizeDim(n, n.getOr<int64_t>("start_dim", 0), rank);
  const int64_t end = normalizeDim(n, n.getOr<int64_t>("end_dim", -1), rank);
  if (start >= 2 || start == end) return ChannelFlow::same();
  if (start == 1 && end == static_cast<int64_t>(rank) - 1) return ChannelFlow::flatten();
  return ChannelFlow::barrier();
}

}  // namespace

void registerShapeOps(OpRegistry& r) {
  r.add(OpDef("cat")
            .setArity(1, std::numeric_limits<size_t>::max())
            .setKernel(catKernel)
            .setShape(catShape)
            .setChannels(catFlow)
            .setOnnx([](OnnxEmitContext& ctx) {
              ctx.add("Concat", ctx.inputs, {ctx.outputs[0]}).attr("axis", ctx.node.getOr<int64_t>("dim", 0));
            })
            .setTorchScript(catScript));
  r.add(OpDef("flatten")
            .setArity(1, 1)
            .setKernel([](const Node& n, const Tensors& in, const ExecContext&) {
              return Tensors{at::flatten(in[0], n.getOr<int64_t>("start_dim", 0), n.getOr<int64_t>("end_dim", -1))};
            })
            .setShape(flattenShape)
            .setChannels(flattenFlow)
            .setOnnx(flattenOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) {
              return ctx.call("torch.flatten", {ctx.inputs[0], script::integer(ctx.node.getOr<int64_t>("start_dim", 0)),
                                                script::integer(ctx.node.getOr<int64_t>("end_dim", -1))});
            }));
  r.add(OpDef("reshape")
            .setArity(1, 1)
            .setKernel([](const Node& n, const Tensors& in, const ExecContext&) {
              return Tensors{at::reshape(in[0], n.get<Ints>("shape"))};
            })
            .setShape(reshapeShape)
            .setOnnx(reshapeOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) {
              return ctx.call("torch.reshape", {ctx.inputs[0], script::ints(ctx.node.get<Ints>("shape"))});
            }));
  r.add(OpDef("identity")
            .setArity(1, 1)
            .setKernel([](const Node&, const Tensors& in, const ExecContext&) { return Tensors{in[0]}; })
            .setShape(sameAsFirstInput)
            .setChannels(ChannelFlow::same())
            .setOnnx(onnxSingle("Identity"))
            .setTorchScript([](ScriptEmitContext& ctx) { return ctx.inputs[0]; }));
  r.add(OpDef("dropout")
            .setArity(1, 1)
            .setKernel([](const Node& n, const Tensors& in, const ExecContext& ctx) {
              return Tensors{at::dropout(in[0], n.getOr<double>("p", 0.5), ctx.training)};
            })
            .setShape(sameAsFirstInput)
            .setChannels(ChannelFlow::same())
            .setOnnx(onnxSingle("Identity"))
            .setTorchScript(  // inference: identity
                [](ScriptEmitContext& ctx) {
                  return ctx.call("torch.dropout",
                                  {ctx.inputs[0], script::number(ctx.node.getOr<double>("p", 0.5)), ctx.training()});
                }));
}

}  // namespace edgeopt::ir::ops
