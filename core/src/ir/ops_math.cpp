// Elementwise math and vector norms (Swin V2's cosine attention:
// F.normalize(x) = x / clamp_min(norm(x), eps), logit_scale.clamp(max=..).exp()):
//   exp(x)      e^x; ONNX Exp
//   clamp(x)    attrs min, max (either may be absent: a one-sided clamp); ONNX Clip
//   norm(x)     attrs p (1 or 2), dim (list; empty = all dims), keepdim: the p-norm
//               over dim (torch.linalg.vector_norm); ONNX ReduceL1 / ReduceL2
#include "ops_common.h"

#include <algorithm>
#include <limits>

namespace edgeopt::ir::ops {
namespace {

// ---- clamp ---------------------------------------------------------------------

std::optional<double> bound(const Node& n, const char* name) {
  return n.hasAttr(name) ? std::optional<double>(n.get<double>(name)) : std::nullopt;
}

Tensors clampKernel(const Node& n, const Tensors& in, const ExecContext&) {
  const auto lo = bound(n, "min"), hi = bound(n, "max");
  check(n, lo || hi, "needs attribute min, max or both");
  return {at::clamp(in[0], lo ? c10::optional<at::Scalar>(*lo) : c10::nullopt,
                    hi ? c10::optional<at::Scalar>(*hi) : c10::nullopt)};
}

// A missing bound is the float range's end: Clip's optional inputs by value.
void clampOnnx(OnnxEmitContext& ctx) {
  const auto lo = bound(ctx.node, "min"), hi = bound(ctx.node, "max");
  ctx.add("Clip",
          {ctx.inputs[0], ctx.scalar("min", lo ? float(*lo) : std::numeric_limits<float>::lowest()),
           ctx.scalar("max", hi ? float(*hi) : std::numeric_limits<float>::max())},
          {ctx.outputs[0]});
}

std::string clampScript(ScriptEmitContext& ctx) {
  const auto lo = bound(ctx.node, "min"), hi = bound(ctx.node, "max");
  return ctx.call("torch.clamp", {ctx.inputs[0], lo ? script::number(*lo) : "None", hi ? script::number(*hi) : "None"});
}

// ---- norm ------------------------------------------------------------------------

Ints normDims(const Node& n, size_t rank) {
  Ints dims = n.getOr<Ints>("dim", {});
  if (dims.empty())
    for (size_t d = 0; d < rank; ++d) dims.push_back(static_cast<int64_t>(d));
  for (auto& d : dims) d = normalizeDim(n, d, rank);
  return dims;
}

double normP(const Node& n) {
  const double p = n.getOr<double>("p", 2.0);
  check(n, p == 1.0 || p == 2.0, "p must be 1 or 2");
  return p;
}

std::vector<Shape> normShape(const Node& n, const std::vector<Shape>& in) {
  normP(n);
  const Ints dims = normDims(n, in[0].size());
  const bool keep = n.getOr<bool>("keepdim", false);
  Shape out;
  for (size_t d = 0; d < in[0].size(); ++d) {
    if (std::find(dims.begin(), dims.end(), static_cast<int64_t>(d)) == dims.end())
      out.push_back(in[0][d]);
    else if (keep)
      out.push_back(1);
  }
  return {out};
}

Tensors normKernel(const Node& n, const Tensors& in, const ExecContext&) {
  return {at::linalg_vector_norm(in[0], normP(n), normDims(n, static_cast<size_t>(in[0].dim())),
                                 n.getOr<bool>("keepdim", false))};
}

void normOnnx(OnnxEmitContext& ctx) {
  const std::string op = normP(ctx.node) == 1.0 ? "ReduceL1" : "ReduceL2";
  const Ints axes = normDims(ctx.node, ctx.inputRank(0));
  const bool keep = ctx.node.getOr<bool>("keepdim", false);
  if (ctx.opset() >= 18) {
    ctx.add(op, {ctx.inputs[0], ctx.ints("axes", axes)}, {ctx.outputs[0]}).attr("keepdims", keep);
    return;
  }
  ctx.add(op, {ctx.inputs[0]}, {ctx.outputs[0]}).attr("axes", axes).attr("keepdims", keep);
}

// torch.norm (TorchScript has no attribute lookup on torch.linalg); without dims, over all.
std::string normScript(ScriptEmitContext& ctx) {
  const Ints dims = ctx.node.getOr<Ints>("dim", {});
  const std::string p = script::number(normP(ctx.node));
  if (dims.empty() && !ctx.node.getOr<bool>("keepdim", false)) return ctx.call("torch.norm", {ctx.inputs[0], p});
  if (dims.empty()) ctx.fail("a norm over all dims with keepdim");
  return ctx.call("torch.norm",
                  {ctx.inputs[0], p, script::ints(dims), ctx.node.getOr<bool>("keepdim", false) ? "True" : "False"});
}

// Reducing over channels mixes them; over other dims the channels pass.
ChannelFlow normFlow(const Node& n, const std::vector<Shape>& in) {
  if (in[0].size() < 2) return ChannelFlow::barrier();
  const Ints dims = normDims(n, in[0].size());
  if (std::find(dims.begin(), dims.end(), 1) != dims.end()) return ChannelFlow::barrier();
  const bool keep = n.getOr<bool>("keepdim", false);
  return keep || dims.empty() || *std::min_element(dims.begin(), dims.end()) > 1 ? ChannelFlow::same()
                                                                                 : ChannelFlow::barrier();
}

}  // namespace

void registerMathOps(OpRegistry& r) {
  r.add(OpDef("exp")
            .setKernel([](const Node&, const Tensors& in, const ExecContext&) { return Tensors{at::exp(in[0])}; })
            .setShape(sameAsFirstInput)
            .setChannels(ChannelFlow::same())
            .setOnnx(onnxSingle("Exp"))
            .setTorchScript(scriptCall("torch.exp")));
  r.add(OpDef("clamp")
            .setKernel(clampKernel)
            .setShape(sameAsFirstInput)
            .setChannels(ChannelFlow::same())
            .setOnnx(clampOnnx)
            .setTorchScript(clampScript));
  r.add(OpDef("norm")
            .setKernel(normKernel)
            .setShape(normShape)
            .setChannels(normFlow)
            .setOnnx(normOnnx)
            .setTorchScript(normScript));
}

}  // namespace edgeopt::ir::ops
