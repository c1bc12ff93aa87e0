// Ops of windowed attention (Swin, MaxViT) and masks:
//   roll(x)              attrs shifts, dims: torch.roll (cyclic shift); ONNX: Slice + Concat per dim
//   ne(a[, b])           a != b (b a tensor, or attribute `other`): a bool tensor; ONNX: Equal + Not
//   masked_fill(x, mask) attr value: x where mask is false, value where it is true; ONNX: Where
//   index_select(x, i)   attr dim: the entries of x at the (1-D, int64) indices i along dim
//                        (x[i] of a relative-position table); ONNX: Gather
//   unsqueeze(x)         attr dim: a new dim of size 1 at dim (of the output's rank)
#include "ops_common.h"

namespace edgeopt::ir::ops {
namespace {

// ---- roll ------------------------------------------------------------------

Tensors rollKernel(const Node& n, const Tensors& in, const ExecContext&) {
  return {at::roll(in[0], n.get<Ints>("shifts"), n.get<Ints>("dims"))};
}

std::vector<Shape> rollShape(const Node& n, const std::vector<Shape>& in) {
  const Ints shifts = n.get<Ints>("shifts"), dims = n.get<Ints>("dims");
  check(n, !shifts.empty() && shifts.size() == dims.size(), "shifts and dims must have the same (non-zero) length");
  for (int64_t d : dims) normalizeDim(n, d, in[0].size());
  return {in[0]};
}

// roll by k along a dim of size s: x[s - k:] then x[:s - k] (k taken modulo s).
void rollOnnx(OnnxEmitContext& ctx) {
  const Ints shifts = ctx.node.get<Ints>("shifts"), dims = ctx.node.get<Ints>("dims");
  auto shape = ctx.inputShape(0);
  if (!shape) ctx.fail("needs a known input shape");
  std::string x = ctx.inputs[0];
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = normalizeDim(ctx.node, dims[i], shape->size()), size = (*shape)[d];
    const int64_t k = ((shifts[i] % size) + size) % size;
    const std::string out = i + 1 == dims.size() ? ctx.outputs[0] : ctx.temp("rolled" + std::to_string(i));
    if (k == 0) {
      ctx.add("Identity", {x}, {out});
    } else {
      const std::string tail = ctx.temp("tail" + std::to_string(i)), head = ctx.temp("head" + std::to_string(i));
      const std::string axis = ctx.ints("axis" + std::to_string(i), {d});
      ctx.add("Slice",
              {x, ctx.ints("tail_start" + std::to_string(i), {size - k}),
               ctx.ints("tail_end" + std::to_string(i), {size}), axis},
              {tail});
      ctx.add("Slice",
              {x, ctx.ints("head_start" + std::to_string(i), {0}), ctx.ints("head_end" + std::to_string(i), {size - k}),
               axis},
              {head});
      ctx.add("Concat", {tail, head}, {out}).attr("axis", d);
    }
    x = out;
  }
}

// ---- ne ----------------------------------------------------------------------

Tensors neKernel(const Node& n, const Tensors& in, const ExecContext&) {
  if (in.size() == 2) return {at::ne(in[0], in[1])};
  check(n, n.hasAttr("other"), "with one input, the operand must be attribute 'other'");
  return {at::ne(in[0], n.get<double>("other"))};
}

void neOnnx(OnnxEmitContext& ctx) {
  std::vector<std::string> in = ctx.inputs;
  if (in.size() == 1) in.push_back(ctx.scalar("other", float(ctx.node.get<double>("other"))));
  const std::string equal = ctx.temp("equal");
  ctx.add("Equal", in, {equal});
  ctx.add("Not", {equal}, {ctx.outputs[0]});
}

// ---- masked_fill -------------------------------------------------------------

std::vector<Shape> maskedFillShape(const Node& n, const std::vector<Shape>& in) {
  const Shape out = broadcastShapes(n, in)[0];
  check(n, out == in[0], "the mask " + formatShape(in[1]) + " must broadcast to the input " + formatShape(in[0]));
  return {out};
}

// ---- index_select ------------------------------------------------------------

std::vector<Shape> indexSelectShape(const Node& n, const std::vector<Shape>& in) {
  check(n, in[1].size() == 1, "indices must be 1-D, got " + formatShape(in[1]));
  Shape out = in[0];
  check(n, !out.empty(), "needs a tensor of rank 1 or more");
  out[normalizeDim(n, n.get<int64_t>("dim"), out.size())] = in[1][0];
  return {out};
}

// ---- unsqueeze -----------------------------------------------------------------

int64_t unsqueezeDim(const Node& n, size_t rank) { return normalizeDim(n, n.get<int64_t>("dim"), rank + 1); }

std::vector<Shape> unsqueezeShape(const Node& n, const std::vector<Shape>& in) {
  Shape out = in[0];
  out.insert(out.begin() + unsqueezeDim(n, in[0].size()), 1);
  return {out};
}

}  // namespace

void registerWindowOps(OpRegistry& r) {
  r.add(OpDef("roll")
            .setKernel(rollKernel)
            .setShape(rollShape)
            .setOnnx(rollOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) {
              return ctx.call("torch.roll", {ctx.inputs[0], script::ints(ctx.node.get<Ints>("shifts")),
                                             script::ints(ctx.node.get<Ints>("dims"))});
            }));
  r.add(OpDef("ne")
            .setArity(1, 2)
            .setKernel(neKernel)
            .setShape(broadcastShapes)
            .setOnnx(neOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) {
              const std::string other =
                  ctx.inputs.size() == 2 ? ctx.inputs[1] : script::number(ctx.node.get<double>("other"));
              return ctx.call("torch.ne", {ctx.inputs[0], other});
            }));
  r.add(OpDef("masked_fill")
            .setArity(2, 2)
            .setKernel([](const Node& n, const Tensors& in, const ExecContext&) {
              return Tensors{at::masked_fill(in[0], in[1], n.get<double>("value"))};
            })
            .setShape(maskedFillShape)
            .setOnnx([](OnnxEmitContext& ctx) {
              ctx.add("Where",
                      {ctx.inputs[1], ctx.scalar("value", float(ctx.node.get<double>("value"))), ctx.inputs[0]},
                      {ctx.outputs[0]});
            })
            .setTorchScript([](ScriptEmitContext& ctx) {
              return ctx.call("torch.masked_fill",
                              {ctx.inputs[0], ctx.inputs[1], script::number(ctx.node.get<double>("value"))});
            }));
  r.add(OpDef("index_select")
            .setArity(2, 2)
            .setKernel([](const Node& n, const Tensors& in, const ExecContext&) {
              return Tensors{at::index_select(in[0], n.get<int64_t>("dim"), in[1])};
            })
            .setShape(indexSelectShape)
            .setOnnx([](OnnxEmitContext& ctx) {
              const int64_t dim = normalizeDim(ctx.node, ctx.node.get<int64_t>("dim"), ctx.inputRank(0));
              ctx.add("Gather", {ctx.inputs[0], ctx.inputs[1]}, {ctx.outputs[0]}).attr("axis", dim);
            })
            .setTorchScript([](ScriptEmitContext& ctx) {
              return ctx.call("torch.index_select",
                              {ctx.inputs[0], script::integer(ctx.node.get<int64_t>("dim")), ctx.inputs[1]});
            }));
  r.add(OpDef("unsqueeze")
            .setKernel([](const Node& n, const Tensors& in, const ExecContext&) {
              return Tensors{in[0].unsqueeze(unsqueezeDim(n, static_cast<size_t>(in[0].dim())))};
            })
            .setShape(unsqueezeShape)
            .setOnnx([](OnnxEmitContext& ctx) {
              const int64_t dim = unsqueezeDim(ctx.node, ctx.inputRank(0));
              ctx.add("Unsqueeze", {ctx.inputs[0], ctx.ints("axes", {dim})}, {ctx.outputs[0]});
            })
            .setTorchScript([](ScriptEmitContext& ctx) {
              return ctx.call("torch.unsqueeze", {ctx.inputs[0], script::integer(ctx.node.get<int64_t>("dim"))});
            }));
}

}  // namespace edgeopt::ir::ops
