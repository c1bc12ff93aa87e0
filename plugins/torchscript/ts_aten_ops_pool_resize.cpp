// Pooling, reductions and resizing: adaptive_avg_pool2d, max_pool2d,
// avg_pool2d, mean, and upsample_nearest2d/upsample_bilinear2d as interpolate.
#include "ts_aten_ops.h"

namespace edgeopt::torchscript::detail {
namespace {

void adaptiveAvgPool2d(OpContext& c) {
  auto size = asInts(c.in[1]);
  if (!size) return c.fail("output_size must be a constant");
  return c.unary("adaptive_avg_pool2d", {{"output_size", *size}});
}

// max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode); an empty stride is the kernel size.
void maxPool2d(OpContext& c) {
  const auto& in = c.in;
  auto k = asInts(in[1]);
  auto s = asInts(in[2]);
  auto p = asInts(in[3]);
  auto d = asInts(in[4]);
  auto ceil = asBool(in[5]);
  if (!k || !s || !p || !d || !ceil) return c.fail("pooling arguments must be constants");
  if (s->empty()) s = k;
  return c.unary("max_pool2d", {{"kernel_size", *k}, {"stride", *s}, {"padding", *p}, {"dilation", *d},
                                {"ceil_mode", *ceil}});
}

// avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override).
void avgPool2d(OpContext& c) {
  const auto& in = c.in;
  auto k = asInts(in[1]);
  auto s = asInts(in[2]);
  auto p = asInts(in[3]);
  auto ceil = asBool(in[4]);
  auto cip = asBool(in[5]);
  if (!k || !s || !p || !ceil || !cip) return c.fail("pooling arguments must be constants");
  if (in.size() > 6 && !in[6].isNone()) return c.fail("avg_pool2d with divisor_override");
  if (s->empty()) s = k;
  return c.unary("avg_pool2d", {{"kernel_size", *k}, {"stride", *s}, {"padding", *p}, {"ceil_mode", *ceil},
                                {"count_include_pad", *cip}});
}

// mean(x, dtype) over everything, or mean.dim(x, dim, keepdim, dtype).
void mean(OpContext& c) {
  const auto& in = c.in;
  Attrs attrs;
  if (in.size() >= 3) {  // mean.dim(self, dim, keepdim, dtype)
    if (!in[1].isNone()) {
      auto dims = asInts(in[1]);
      if (!dims) return c.fail("dim must be a constant");
      attrs.insert_or_assign("dim", *dims);
    }
    auto keep = asBool(in[2]);
    if (!keep) return c.fail("keepdim must be a constant");
    attrs.insert_or_assign("keepdim", *keep);
    if (in.size() > 3 && !in[3].isNone()) return c.fail("mean with a dtype");
  } else if (in.size() == 2 && !in[1].isNone()) {
    return c.fail("mean with a dtype");
  }
  return c.unary("mean", std::move(attrs));
}

// upsample_nearest2d(x, output_size, [scales_h, scales_w] | scale_factors) and
// upsample_bilinear2d(x, output_size, align_corners, ...), both as interpolate.
void upsample(OpContext& c) {
  if (!c.hasOp("interpolate")) return c.fail("");
  const auto& in = c.in;
  const bool bilinear = c.base == "upsample_bilinear2d";
  const bool vec = in.size() == (bilinear ? 4u : 3u);  // .vec: (x, output_size?, [align_corners,] scale_factors?)
  Attrs attrs{{"mode", std::string(bilinear ? "bilinear" : "nearest")}};
  if (bilinear) {
    auto align = asBool(in[2]);
    if (!align) return c.fail("align_corners must be a constant");
    attrs.insert_or_assign("align_corners", *align);
  }
  const SVal& scales = in[bilinear ? 3 : 2];
  if (!in[1].isNone()) {
    auto size = asInts(in[1]);
    if (!size) return c.fail("the output size must be a constant");
    attrs.insert_or_assign("size", *size);
  } else if (vec && scales.isConst() && scales.iv.isDoubleList()) {
    auto list = scales.iv.toDoubleVector();
    attrs.insert_or_assign("scale_factor", ir::Doubles(list.begin(), list.end()));
  } else {
    return c.fail("an output size computed at run time");
  }
  return c.unary("interpolate", std::move(attrs));
}

}  // namespace

void addPoolResizeOps(AtenOpTable& table) {
  table.add("adaptive_avg_pool2d", adaptiveAvgPool2d);
  table.add("max_pool2d", maxPool2d);
  table.add("avg_pool2d", avgPool2d);
  table.add("mean", mean);
  table.add("upsample_nearest2d", upsample);
  table.add("upsample_bilinear2d", upsample);
}

}  // namespace edgeopt::torchscript::detail
