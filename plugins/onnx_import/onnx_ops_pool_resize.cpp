// Pooling, reductions and resizing: MaxPool/AveragePool (large or
// asymmetric pads through an explicit pad), the global pools, ReduceMean, and
// Resize/Upsample as interpolate.
#include "onnx_converters.h"

namespace edgeopt::onnx_import::detail {
namespace {

void pool(NodeContext& node, bool max) {
  const Val& x = node.req(0);
  auto kernel = node.attrInts("kernel_shape");
  if (!kernel || kernel->size() != 2) node.fail("only 2-d pooling is supported");
  if (node.outputUsed(1)) node.fail("the Indices output");
  if (node.attrInt("storage_order", 0) != 0) node.fail("storage_order 1");
  Ints strides = node.attrInts("strides").value_or(Ints{1, 1});
  Ints dilations = node.attrInts("dilations").value_or(Ints{1, 1});
  bool ceil = node.attrInt("ceil_mode", 0) != 0;
  auto type = node.dtypeOf(x);
  if (type && !at::isFloatingType(*type)) node.fail("pooling of integers");
  auto pads = node.spatialPads(x, *kernel, strides, dilations);
  ir::Value* xv = node.irOf(x);
  Ints padding = pads->first;
  bool explicit_pad = pads->first != pads->second;
  for (size_t i = 0; i < 2; ++i) explicit_pad = explicit_pad || padding[i] * 2 > (*kernel)[i];  // ATen's limit
  if (explicit_pad) {
    // Padding the input first: with -max for max pooling, with zeros for an
    // average that counts the padding; not for ceil_mode (windows would change).
    const bool count_pad = node.attrInt("count_include_pad", 0) != 0;
    if (!node.hasOp("pad") || ceil || (!max && !count_pad)) node.fail("asymmetric or large pads");
    Attrs pad_attrs{{"pad", Ints{pads->first[1], pads->second[1], pads->first[0], pads->second[0]}}};
    if (max) pad_attrs.insert_or_assign("value", -kFloatMax);
    xv = node.emit("pad", {xv}, std::move(pad_attrs));
    padding = Ints{0, 0};
  }
  if (max) {
    node.setOut(0, node.wrap(node.emit("max_pool2d", {xv},
                                       {{"kernel_size", *kernel}, {"stride", strides}, {"padding", padding},
                                        {"dilation", dilations}, {"ceil_mode", ceil}})));
  } else {
    if (dilations != Ints{1, 1}) node.fail("dilated average pooling");
    node.setOut(0, node.wrap(node.emit("avg_pool2d", {xv},
                                       {{"kernel_size", *kernel}, {"stride", strides}, {"padding", padding},
                                        {"ceil_mode", ceil},
                                        {"count_include_pad", node.attrInt("count_include_pad", 0) != 0}})));
  }
}

void globalPool(NodeContext& node) {
  const std::string& op = node.opType();
  const Val& x = node.req(0);
  auto shape = node.shapeOf(x);
  if (op == "GlobalAveragePool") {
    if (!shape || shape->size() == 4)
      return node.setOut(
          0, node.wrap(node.emit("adaptive_avg_pool2d", {node.irOf(x)}, {{"output_size", Ints{1, 1}}})));
    Ints dims;
    for (size_t d = 2; d < shape->size(); ++d) dims.push_back(static_cast<int64_t>(d));
    return node.setOut(0, node.wrap(node.emit("mean", {node.irOf(x)}, {{"dim", dims}, {"keepdim", true}})));
  }
  if (!shape || shape->size() != 4) node.fail("needs a known 4-d input shape");
  Ints k{(*shape)[2], (*shape)[3]};
  return node.setOut(0, node.wrap(node.emit("max_pool2d", {node.irOf(x)}, {{"kernel_size", k}, {"stride", k}})));
}

void resize(NodeContext& node) {
  const std::string& op = node.opType();
  const Val& x = node.req(0);
  auto shape = node.shapeOf(x);
  if (shape && shape->size() != 4) node.fail("only 4-d (NCHW) inputs");
  std::string mode = node.attrString("mode", "nearest");
  std::string ctm = op == "Upsample" || node.opset() < 11
                        ? "asymmetric"
                        : node.attrString("coordinate_transformation_mode", "half_pixel");
  std::string nearest_mode =
      op == "Upsample" || node.opset() < 11 ? "floor" : node.attrString("nearest_mode", "round_prefer_floor");
  if (node.attrInt("antialias", 0) != 0) node.fail("antialias");
  if (node.hasAttr("axes")) node.fail("axes");
  Attrs attrs;
  if (mode == "nearest") {
    if (ctm != "asymmetric" || nearest_mode != "floor")
      node.fail("nearest with coordinate_transformation_mode '" + ctm + "' and nearest_mode '" + nearest_mode +
                "' (only asymmetric + floor, PyTorch's nearest)");
    attrs.insert_or_assign("mode", std::string("nearest"));
  } else if (mode == "linear" || mode == "bilinear") {
    attrs.insert_or_assign("mode", std::string("bilinear"));
    if (ctm == "align_corners") attrs.insert_or_assign("align_corners", true);
    else if (ctm != "half_pixel" && ctm != "pytorch_half_pixel")
      node.fail("linear with coordinate_transformation_mode '" + ctm + "'");
  } else {
    node.fail("mode '" + mode + "'");
  }
  // Scales (or sizes) for N, C must be 1 (unchanged).
  Doubles scales;
  Ints sizes;
  if (op == "Upsample" && node.opset() < 9) {
    auto a = node.attr("scales");
    if (!a) node.fail("missing scales");
    scales.assign(a->floats().begin(), a->floats().end());
  } else {
    const Val* s = node.in(op == "Upsample" || node.opset() < 11 ? 1 : 2);
    const Val* z = op == "Resize" && node.opset() >= 11 ? node.in(3) : nullptr;
    if (s && s->isConst() && s->constant.numel() > 0) {
      at::Tensor t = s->constant.to(at::kDouble).contiguous();
      scales.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
    } else if (z) {
      sizes = node.constInts(z, "sizes");
    } else {
      node.fail("scales must be constants");
    }
  }
  if (!scales.empty()) {
    if (scales.size() != 4 || scales[0] != 1.0 || scales[1] != 1.0) node.fail("scaling batch or channels");
    attrs.insert_or_assign("scale_factor", Doubles{scales[2], scales[3]});
  } else {
    if (sizes.size() != 4 || (shape && (sizes[0] != (*shape)[0] || sizes[1] != (*shape)[1])))
      node.fail("resizing batch or channels");
    attrs.insert_or_assign("size", Ints{sizes[2], sizes[3]});
  }
  return node.setOut(0, node.wrap(node.emit("interpolate", {node.irOf(x)}, std::move(attrs))));
}

void reduceMean(NodeContext& node) {
  const Val& x = node.req(0);
  Ints axes;
  if (node.opset() >= 18) {
    if (const Val* a = node.in(1)) axes = node.constInts(a, "axes");
    if (axes.empty() && node.attrInt("noop_with_empty_axes", 0) != 0) return node.setOut(0, x);
  } else if (auto a = node.attrInts("axes")) {
    axes = *a;
  }
  Attrs attrs{{"keepdim", node.attrInt("keepdims", 1) != 0}};
  if (!axes.empty()) attrs.insert_or_assign("dim", axes);
  return node.setOut(0, node.wrap(node.emit("mean", {node.irOf(x)}, std::move(attrs))));
}

}  // namespace

void addPoolResizeConverters(ConverterTable& table) {
  table.add("MaxPool", [](NodeContext& node) { pool(node, true); });
  table.add("AveragePool", [](NodeContext& node) { pool(node, false); });
  table.add("GlobalAveragePool", globalPool);
  table.add("GlobalMaxPool", globalPool);
  table.add("Resize", resize);
  table.add("Upsample", resize);
  table.add("ReduceMean", reduceMean);
}

}  // namespace edgeopt::onnx_import::detail
