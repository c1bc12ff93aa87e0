// Pooling and reductions: max_pool2d, avg_pool2d, adaptive_avg_pool2d, mean.
#include "ops_common.h"

#include <algorithm>

namespace edgeopt::ir::ops {
namespace {

// PyTorch's pooling_output_shape, so shape propagation agrees with ATen,
// ceil_mode's "last window must start inside the input" rule included.
int64_t pooledSize(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil) {
  int64_t span = in + 2 * pad - dil * (k - 1) - 1 + (ceil ? stride - 1 : 0);
  int64_t out = span / stride + 1;
  if (ceil && (out - 1) * stride >= in + pad) --out;
  return out;
}

struct Window {
  Ints kernel, stride, padding, dilation;
  bool ceil_mode;
};

Window windowOf(const Node& n) {
  Window w;
  w.kernel = expandAtLeast(n, "kernel_size", 2, 1, 1);
  // PyTorch: stride defaults to the kernel size.
  w.stride = n.hasAttr("stride") ? expandAtLeast(n, "stride", 2, 1, 1) : w.kernel;
  w.padding = expandAtLeast(n, "padding", 2, 0, 0);
  w.dilation = expandAtLeast(n, "dilation", 2, 1, 1);
  w.ceil_mode = n.getOr<bool>("ceil_mode", false);
  return w;
}

std::vector<Shape> poolShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  check(n, x.size() == 4 || x.size() == 3, "input must be (N)CHW, got " + formatShape(x));
  Window w = windowOf(n);
  Shape out = x;
  size_t h = x.size() - 2;
  for (size_t i = 0; i < 2; ++i) {
    out[h + i] = pooledSize(x[h + i], w.kernel[i], w.padding[i], w.stride[i], w.dilation[i], w.ceil_mode);
    check(n, out[h + i] > 0, "input " + formatShape(x) + " is too small for the window");
  }
  return {out};
}

Tensors maxPoolKernel(const Node& n, const Tensors& in, const ExecContext&) {
  Window w = windowOf(n);
  return {at::max_pool2d(in[0], w.kernel, w.stride, w.padding, w.dilation, w.ceil_mode)};
}

Tensors avgPoolKernel(const Node& n, const Tensors& in, const ExecContext&) {
  Window w = windowOf(n);
  return {at::avg_pool2d(in[0], w.kernel, w.stride, w.padding, w.ceil_mode,
                         n.getOr<bool>("count_include_pad", true))};
}

std::vector<Shape> adaptiveShape(const Node& n, const std::vector<Shape>& in) {
  Shape out = in[0];
  check(n, out.size() >= 2, "input must have spatial dims, got " + formatShape(out));
  Ints size = expandAtLeast(n, "output_size", 2, 1, 1);
  out[out.size() - 2] = size[0];
  out[out.size() - 1] = size[1];
  return {out};
}

Ints meanDims(const Node& n, size_t rank) {
  Ints dims = n.getOr<Ints>("dim", {});
  if (dims.empty())
    for (size_t d = 0; d < rank; ++d) dims.push_back(static_cast<int64_t>(d));
  for (auto& d : dims) d = normalizeDim(n, d, rank);
  return dims;
}

std::vector<Shape> meanShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  Ints dims = meanDims(n, x.size());
  bool keep = n.getOr<bool>("keepdim", false);
  Shape out;
  for (size_t d = 0; d < x.size(); ++d) {
    bool reduced = std::find(dims.begin(), dims.end(), static_cast<int64_t>(d)) != dims.end();
    if (!reduced) out.push_back(x[d]);
    else if (keep) out.push_back(1);
  }
  return {out};
}

Tensors meanKernel(const Node& n, const Tensors& in, const ExecContext&) {
  return {at::mean(in[0], meanDims(n, in[0].dim()), n.getOr<bool>("keepdim", false))};
}

// Export: MaxPool / AveragePool / GlobalAveragePool (or AveragePool when the
// output divides the input) / ReduceMean (axes an input from opset 18).
OnnxNode& onnxPool(OnnxEmitContext& ctx, const std::string& op, const Window& w) {
  return ctx.add(op, ctx.inputs, {ctx.outputs[0]})
      .attr("kernel_shape", w.kernel)
      .attr("strides", w.stride)
      .attr("pads", onnxPads2d(w.padding))
      .attr("ceil_mode", w.ceil_mode);
}

void maxPoolOnnx(OnnxEmitContext& ctx) {
  Window w = windowOf(ctx.node);
  onnxPool(ctx, "MaxPool", w).attr("dilations", w.dilation);
}

void avgPoolOnnx(OnnxEmitContext& ctx) {
  onnxPool(ctx, "AveragePool", windowOf(ctx.node))
      .attr("count_include_pad", ctx.node.getOr<bool>("count_include_pad", true));
}

// Adaptive average pooling with output size s over input size d: window i
// covers [floor(i*d/s), ceil((i+1)*d/s)). The mean over a window of rows and
// columns is the mean over its rows of the means over its columns, so each
// axis is pooled on its own: an axis that s divides with an AveragePool of
// kernel = stride = d/s, any other as one Slice + ReduceMean per window,
// concatenated (the windows' strides differ: 6 -> 4 reads [0,2) [1,3) [3,5) [4,6)).
void adaptiveOnnx(OnnxEmitContext& ctx) {
  Ints size = expand(ctx.node, "output_size", 2, 1);
  if (size == Ints{1, 1}) {
    ctx.add("GlobalAveragePool", ctx.inputs, {ctx.outputs[0]});
    return;
  }
  auto in = ctx.inputShape(0);
  if (!in || in->size() < 2) ctx.fail("needs the input shape for output_size " + formatShape(size));
  const int64_t rank = static_cast<int64_t>(in->size());
  Ints kernel(2, 1);
  std::vector<int64_t> windowed;  // axes pooled window by window
  for (size_t i = 0; i < 2; ++i) {
    const int64_t d = (*in)[in->size() - 2 + i];
    if (d % size[i] == 0) kernel[i] = d / size[i];
    else windowed.push_back(rank - 2 + static_cast<int64_t>(i));
  }
  std::string x = ctx.inputs[0];
  for (size_t k = 0; k < windowed.size(); ++k) {
    const int64_t axis = windowed[k], d = (*in)[axis], s = size[axis - (rank - 2)];
    const bool last = k + 1 == windowed.size() && kernel == Ints{1, 1};
    const std::string tag = "axis" + std::to_string(axis);
    std::vector<std::string> windows;
    for (int64_t i = 0; i < s; ++i) {
      const int64_t start = i * d / s, end = ((i + 1) * d + s - 1) / s;
      const std::string w = tag + "_" + std::to_string(i);
      const std::string slice = ctx.temp(w + "_slice");
      ctx.add("Slice", {x, ctx.ints(w + "_start", {start}), ctx.ints(w + "_end", {end}), ctx.ints(w + "_axis", {axis})},
              {slice});
      windows.push_back(ctx.temp(w + "_mean"));
      if (ctx.opset() >= 18)
        ctx.add("ReduceMean", {slice, ctx.ints(w + "_axes", {axis})}, {windows.back()}).attr("keepdims", int64_t{1});
      else
        ctx.add("ReduceMean", {slice}, {windows.back()}).attr("axes", Ints{axis}).attr("keepdims", int64_t{1});
    }
    x = last ? ctx.outputs[0] : ctx.temp(tag + "_pooled");
    ctx.add("Concat", windows, {x}).attr("axis", axis);
  }
  if (kernel != Ints{1, 1} || windowed.empty())
    ctx.add("AveragePool", {x}, {ctx.outputs[0]}).attr("kernel_shape", kernel).attr("strides", kernel);
}

void meanOnnx(OnnxEmitContext& ctx) {
  Ints dims = ctx.node.getOr<Ints>("dim", {});
  int64_t keep = ctx.node.getOr<bool>("keepdim", false) ? 1 : 0;
  if (ctx.opset() >= 18) {
    std::vector<std::string> in = {ctx.inputs[0]};
    if (!dims.empty()) in.push_back(ctx.ints("axes", dims));
    ctx.add("ReduceMean", in, {ctx.outputs[0]}).attr("keepdims", keep);
    return;
  }
  OnnxNode& n = ctx.add("ReduceMean", ctx.inputs, {ctx.outputs[0]}).attr("keepdims", keep);
  if (!dims.empty()) n.attr("axes", dims);
}

std::string poolScript(ScriptEmitContext& ctx, bool max) {
  Window w = windowOf(ctx.node);
  std::vector<std::string> args = {ctx.inputs[0], script::ints(w.kernel), script::ints(w.stride),
                                   script::ints(w.padding)};
  if (max) args.push_back(script::ints(w.dilation));
  args.push_back(script::boolean(w.ceil_mode));
  if (!max) args.push_back(script::boolean(ctx.node.getOr<bool>("count_include_pad", true)));
  return ctx.call(max ? "torch.max_pool2d" : "torch.avg_pool2d", args);
}

std::string meanScript(ScriptEmitContext& ctx) {
  Ints dims = ctx.node.getOr<Ints>("dim", {});
  if (dims.empty()) return "torch.mean(" + ctx.inputs[0] + ")";
  return ctx.call("torch.mean", {ctx.inputs[0], script::ints(dims),
                                 script::boolean(ctx.node.getOr<bool>("keepdim", false))});
}

// Mean over spatial dims keeps channels aligned; over dim 1 it mixes them.
ChannelFlow meanFlow(const Node& n, const std::vector<Shape>& in) {
  for (int64_t d : meanDims(n, in[0].size()))
    if (d <= 1) return ChannelFlow::barrier();
  return ChannelFlow::same();
}

}  // namespace

void registerPoolOps(OpRegistry& r) {
  r.add(OpDef("max_pool2d")
            .setArity(1, 1)
            .setKernel(maxPoolKernel)
            .setShape(poolShape)
            .setChannels(ChannelFlow::same())
            .setOnnx(maxPoolOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) { return poolScript(ctx, true); }));
  r.add(OpDef("avg_pool2d")
            .setArity(1, 1)
            .setKernel(avgPoolKernel)
            .setShape(poolShape)
            .setChannels(ChannelFlow::same())
            .setOnnx(avgPoolOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) { return poolScript(ctx, false); }));
  r.add(OpDef("adaptive_avg_pool2d")
            .setArity(1, 1)
            .setKernel([](const Node& n, const Tensors& in, const ExecContext&) {
              return Tensors{at::adaptive_avg_pool2d(in[0], expand(n, "output_size", 2, 1))};
            })
            .setShape(adaptiveShape)
            .setChannels(ChannelFlow::same())
            .setOnnx(adaptiveOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) {
              return ctx.call("torch.adaptive_avg_pool2d",
                              {ctx.inputs[0], script::ints(expand(ctx.node, "output_size", 2, 1))});
            }));
  r.add(OpDef("mean")
            .setArity(1, 1)
            .setKernel(meanKernel)
            .setShape(meanShape)
            .setChannels(meanFlow)
            .setOnnx(meanOnnx)
            .setTorchScript(meanScript));
}

}  // namespace edgeopt::ir::ops
