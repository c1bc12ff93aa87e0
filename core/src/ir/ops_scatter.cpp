// Writes into part of a tensor, as a value: what an in-place op on a view
// becomes in the IR (`b = bias.clone(); b[n:2 * n].zero_()` in Swin V2):
//   slice_scatter(x, src)  attrs dim, start, end, step (as slice): x with
//                          x[start:end:step] along dim replaced by src;
//                          ONNX: Concat of x's parts before and after with
//                          src (step 1)
// Gradients flow to src and to the entries of x it does not replace.
#include "ops_common.h"

#include <algorithm>
#include <limits>

namespace edgeopt::ir::ops {
namespace {

struct Range {
  int64_t dim, start, end, step, size;
};

// ATen's slice clamping: negative bounds count from the end, then clamp.
Range rangeOf(const Node& n, const Shape& x) {
  check(n, !x.empty(), "cannot scatter into a scalar");
  Range r{normalizeDim(n, n.getOr<int64_t>("dim", 0), x.size()), n.getOr<int64_t>("start", 0),
          n.getOr<int64_t>("end", std::numeric_limits<int64_t>::max()), n.getOr<int64_t>("step", 1), 0};
  check(n, r.step > 0, "step must be positive, got " + std::to_string(r.step));
  r.size = x[static_cast<size_t>(r.dim)];
  if (r.start < 0) r.start += r.size;
  if (r.end < 0) r.end += r.size;
  r.start = std::clamp<int64_t>(r.start, 0, r.size);
  r.end = std::clamp<int64_t>(r.end, r.start, r.size);
  return r;
}

std::vector<Shape> sliceScatterShape(const Node& n, const std::vector<Shape>& in) {
  const Range r = rangeOf(n, in[0]);
  Shape part = in[0];
  part[static_cast<size_t>(r.dim)] = (r.end - r.start + r.step - 1) / r.step;
  check(n, in[1] == part,
        "the written part " + formatShape(in[1]) + " must have the slice's shape " + formatShape(part));
  return {in[0]};
}

Tensors sliceScatterKernel(const Node& n, const Tensors& in, const ExecContext&) {
  const Range r = rangeOf(n, in[0].sizes().vec());
  return {at::slice_scatter(in[0], in[1].to(in[0].scalar_type()), r.dim, r.start, r.end, r.step)};
}

void sliceScatterOnnx(OnnxEmitContext& ctx) {
  const auto shape = ctx.inputShape(0);
  if (!shape) ctx.fail("needs a known input shape");
  const Range r = rangeOf(ctx.node, *shape);
  if (r.step != 1 && r.end - r.start > 1) ctx.fail("a strided slice (step " + std::to_string(r.step) + ")");
  const std::string axis = ctx.ints("axis", {r.dim});
  std::vector<std::string> parts;
  if (r.start > 0) {
    parts.push_back(ctx.temp("before"));
    ctx.add("Slice", {ctx.inputs[0], ctx.ints("before_start", {0}), ctx.ints("before_end", {r.start}), axis},
            {parts.back()});
  }
  parts.push_back(ctx.inputs[1]);
  const int64_t last = r.end > r.start ? r.start + ((r.end - r.start - 1) / r.step) * r.step + 1 : r.start;
  if (last < r.size) {
    parts.push_back(ctx.temp("after"));
    ctx.add("Slice", {ctx.inputs[0], ctx.ints("after_start", {last}), ctx.ints("after_end", {r.size}), axis},
            {parts.back()});
  }
  ctx.add("Concat", parts, {ctx.outputs[0]}).attr("axis", r.dim);
}

std::string sliceScatterScript(ScriptEmitContext& ctx) {
  const Node& n = ctx.node;
  return ctx.call("torch.slice_scatter", {ctx.inputs[0], ctx.inputs[1], script::integer(n.getOr<int64_t>("dim", 0)),
                                          script::integer(n.getOr<int64_t>("start", 0)),
                                          script::integer(n.getOr<int64_t>("end", std::numeric_limits<int64_t>::max())),
                                          script::integer(n.getOr<int64_t>("step", 1))});
}

}  // namespace

void registerScatterOps(OpRegistry& r) {
  r.add(OpDef("slice_scatter")
            .setArity(2, 2)
            .setKernel(sliceScatterKernel)
            .setShape(sliceScatterShape)
            .setOnnx(sliceScatterOnnx)
            .setTorchScript(sliceScatterScript));
}

}  // namespace edgeopt::ir::ops
