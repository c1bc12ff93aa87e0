// interpolate(x): F.interpolate / nn.Upsample on NCHW input. Exactly one of
//   size          ints [H, W] (one value is repeated): resize by size
//   scale_factor  floats [sh, sw] (one value is repeated; ints accepted):
//                 resize by scale; the output is floor(in * scale)
// and attributes
//   mode           "nearest" (default) or "bilinear"
//   align_corners  bool, bilinear only (default false)
//   recompute_scale_factor  bool (default false): with scale_factor, resize to
//                  the computed size as if it had been given (F.interpolate's flag)
// Both spellings are kept as given, because the kernels differ: with a scale
// factor ATen maps coordinates with 1/scale, with a size with in/out (equal
// for integer scales). Surgery rewrites size -> scale for accelerators that
// only take scales. nn.Upsample is this op with module type "Upsample".
#include "ops_common.h"

#include <cmath>

namespace edgeopt::ir::ops {
namespace {

Doubles scaleFactors(const Node& n) {
  const auto& v = n.attr("scale_factor").variant();
  Doubles scales;
  if (auto* d = std::get_if<double>(&v)) scales = {*d};
  else if (auto* i = std::get_if<int64_t>(&v)) scales = {static_cast<double>(*i)};
  else if (auto* ds = std::get_if<Doubles>(&v)) scales = *ds;
  else if (auto* is = std::get_if<Ints>(&v)) scales.assign(is->begin(), is->end());
  else fail(n, "attribute 'scale_factor' must be a float or floats");
  if (scales.size() == 1) scales.push_back(scales[0]);
  check(n, scales.size() == 2, "attribute 'scale_factor' needs 2 values");
  for (double s : scales) check(n, s > 0, "scale factors must be positive");
  return scales;
}

struct Resize {
  std::string mode;
  bool align_corners;
  Ints size;       // output size; always set
  Doubles scales;  // empty: resize by size
};

Resize resizeOf(const Node& n, const Shape& x) {
  check(n, x.size() == 4, "input must be NCHW, got " + formatShape(x));
  Resize r{n.getOr<std::string>("mode", "nearest"), n.getOr<bool>("align_corners", false), {}, {}};
  check(n, r.mode == "nearest" || r.mode == "bilinear", "mode '" + r.mode + "' is not one of nearest, bilinear");
  check(n, r.mode == "bilinear" || !n.hasAttr("align_corners"), "align_corners is only for mode 'bilinear'");
  check(n, n.hasAttr("size") != n.hasAttr("scale_factor"), "needs exactly one of 'size' and 'scale_factor'");
  if (n.hasAttr("size")) {
    r.size = expand(n, "size", 2, 0);
  } else {
    r.scales = scaleFactors(n);
    for (size_t i = 0; i < 2; ++i)
      r.size.push_back(static_cast<int64_t>(std::floor(static_cast<double>(x[2 + i]) * r.scales[i])));
    if (n.getOr<bool>("recompute_scale_factor", false)) r.scales.clear();
  }
  for (int64_t s : r.size) check(n, s > 0, "output size " + formatShape(r.size) + " is empty");
  return r;
}

std::vector<Shape> interpolateShape(const Node& n, const std::vector<Shape>& in) {
  Resize r = resizeOf(n, in[0]);
  return {Shape{in[0][0], in[0][1], r.size[0], r.size[1]}};
}

Tensors interpolateKernel(const Node& n, const Tensors& in, const ExecContext&) {
  Resize r = resizeOf(n, in[0].sizes().vec());
  at::OptionalIntArrayRef size;
  c10::optional<at::ArrayRef<double>> scales;
  if (r.scales.empty()) size = r.size;
  else scales = at::ArrayRef<double>(r.scales);
  if (r.mode == "nearest") return {at::upsample_nearest2d(in[0], size, scales)};
  return {at::upsample_bilinear2d(in[0], size, r.align_corners, scales)};
}

// Export: ONNX Resize with the kernel's choice of scales or sizes (sizes keep
// the input's N, C, so the batch stays dynamic); nearest is PyTorch's legacy
// floor/asymmetric mapping, bilinear pytorch_half_pixel or align_corners.
void interpolateOnnx(OnnxEmitContext& ctx) {
  auto in = ctx.inputShape(0);
  if (!in) ctx.fail("needs the input shape (shape propagation gave none)");
  Resize r = resizeOf(ctx.node, *in);
  const std::string& x = ctx.inputs[0];
  std::vector<std::string> inputs = {x, ""};
  if (!r.scales.empty()) {
    at::Tensor scales = at::ones({4}, at::kFloat);
    scales[2] = r.scales[0];
    scales[3] = r.scales[1];
    inputs.push_back(ctx.graph.addInitializer(ctx.node.name() + "/scales", scales));
  } else {
    std::string shape = ctx.temp("shape"), nc = ctx.temp("nc"), sizes = ctx.temp("sizes");
    ctx.add("Shape", {x}, {shape});
    ctx.add("Slice", {shape, ctx.ints("start", {0}), ctx.ints("end", {2})}, {nc});
    ctx.add("Concat", {nc, ctx.ints("hw", r.size)}, {sizes}).attr("axis", 0);
    inputs.push_back("");
    inputs.push_back(sizes);
  }
  bool nearest = r.mode == "nearest";
  OnnxNode& node = ctx.add("Resize", inputs, {ctx.outputs[0]}).attr("mode", nearest ? "nearest" : "linear");
  node.attr("coordinate_transformation_mode",
            nearest ? "asymmetric" : r.align_corners ? "align_corners" : "pytorch_half_pixel");
  if (nearest) node.attr("nearest_mode", "floor");
}

std::string interpolateScript(ScriptEmitContext& ctx) {
  const Node& n = ctx.node;
  const std::string& x = ctx.inputs[0];
  std::string size = "None", scales = "None";
  if (n.hasAttr("size")) {
    size = script::ints(expand(n, "size", 2, 0));
  } else {
    Doubles s = scaleFactors(n);
    if (n.getOr<bool>("recompute_scale_factor", false))
      size = "[int(float(" + x + ".size(2)) * " + script::number(s[0]) + "), int(float(" + x + ".size(3)) * " +
             script::number(s[1]) + ")]";
    else
      scales = "[" + script::number(s[0]) + ", " + script::number(s[1]) + "]";
  }
  if (n.getOr<std::string>("mode", "nearest") == "nearest")
    return ctx.call("torch.upsample_nearest2d", {x, size, scales});
  return ctx.call("torch.upsample_bilinear2d",
                  {x, size, script::boolean(n.getOr<bool>("align_corners", false)), scales});
}

}  // namespace

void registerResizeOps(OpRegistry& r) {
  r.add(OpDef("interpolate")
            .setArity(1, 1)
            .setKernel(interpolateKernel)
            .setShape(interpolateShape)
            .setChannels(ChannelFlow::same())
            .setOnnx(interpolateOnnx)
            .setTorchScript(interpolateScript));
}

}  // namespace edgeopt::ir::ops
