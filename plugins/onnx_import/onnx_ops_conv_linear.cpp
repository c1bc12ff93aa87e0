// Convolutions and matrix products: Conv (asymmetric pads through an
// explicit pad), ConvTranspose, Gemm and MatMul (linear layers when the weight
// is a constant matrix), Einsum as a batched matrix product.
#include "onnx_converters.h"

namespace edgeopt::onnx_import::detail {
namespace {

void convolution(NodeContext& node, bool transposed) {
  const Val& x = node.req(0);
  const Val& w = node.req(1);
  auto ws = node.shapeOf(w);
  if (!ws || ws->size() != 4) node.fail("only 2-d convolutions (4-d weights) are supported");
  Ints kernel{(*ws)[2], (*ws)[3]};
  if (auto ks = node.attrInts("kernel_shape"); ks && *ks != kernel)
    node.fail("kernel_shape does not match the weight");
  Ints strides = node.attrInts("strides").value_or(Ints{1, 1});
  Ints dilations = node.attrInts("dilations").value_or(Ints{1, 1});
  int64_t groups = node.attrInt("group", 1);
  std::vector<ir::Value*> ins{nullptr, node.irOf(w, ParamKind::Parameter)};
  if (const Val* b = node.in(2)) ins.push_back(node.irOf(*b, ParamKind::Parameter));
  if (transposed) {
    if (node.hasAttr("output_shape")) node.fail("ConvTranspose with output_shape");
    if (node.attrString("auto_pad", "NOTSET") != "NOTSET" && node.attrString("auto_pad", "NOTSET") != "VALID")
      node.fail("ConvTranspose with auto_pad " + node.attrString("auto_pad", ""));
    auto pads = node.spatialPads(x, kernel, strides, dilations);
    if (pads->first != pads->second) node.fail("asymmetric pads");
    Ints output_padding = node.attrInts("output_padding").value_or(Ints{0, 0});
    ins[0] = node.irOf(x);
    node.setOut(0, node.wrap(node.emit("conv_transpose2d", ins,
                                       {{"stride", strides}, {"padding", pads->first},
                                        {"output_padding", output_padding}, {"dilation", dilations},
                                        {"groups", groups}})));
    return;
  }
  auto pads = node.spatialPads(x, kernel, strides, dilations);
  ir::Value* xv = node.irOf(x);
  Ints padding = pads->first;
  if (pads->first != pads->second) {
    if (!node.hasOp("pad")) node.fail("asymmetric pads");
    xv = node.emit("pad", {xv}, {{"pad", Ints{pads->first[1], pads->second[1], pads->first[0], pads->second[0]}}});
    padding = Ints{0, 0};
  }
  ins[0] = xv;
  node.setOut(0, node.wrap(node.emit(
                     "conv2d", ins,
                     {{"stride", strides}, {"padding", padding}, {"dilation", dilations}, {"groups", groups}})));
}

// A * B (+ C), with a constant B read as a linear layer's weight.
void gemm(NodeContext& node) {
  const Val& a = node.req(0);
  const Val& b = node.req(1);
  const Val* c = node.in(2);
  double alpha = node.attrFloat("alpha", 1.0), beta = node.attrFloat("beta", 1.0);
  bool trans_a = node.attrInt("transA", 0) != 0, trans_b = node.attrInt("transB", 0) != 0;
  ir::Value* av = node.irOf(a);
  if (trans_a) av = node.emit("transpose", {av}, {{"dim0", int64_t{0}}, {"dim1", int64_t{1}}});
  if (b.isConst() && b.constant.dim() == 2 && b.constant.is_floating_point()) {
    // A linear layer: weight [N, K] (transB=1 is nn.Linear's layout).
    at::Tensor w = trans_b ? b.constant : b.constant.t().contiguous();
    if (alpha != 1.0) w = w * alpha;
    const std::string tag = trans_b && alpha == 1.0 ? "" : "gemm";
    std::vector<ir::Value*> ins{av, node.paramFrom(w, b.name, ParamKind::Parameter, tag)};
    const int64_t n = w.size(0);
    if (c && c->isConst() && c->constant.numel() >= 1 && (c->constant.numel() == n || c->constant.numel() == 1) &&
        (c->constant.dim() <= 1 || (c->constant.dim() == 2 && c->constant.size(0) == 1))) {
      at::Tensor bias = c->constant.flatten().expand({n}).contiguous();
      if (beta != 1.0) bias = bias * beta;
      ins.push_back(node.paramFrom(bias, c->name, ParamKind::Parameter, "gemm_bias"));
      return node.setOut(0, node.wrap(node.emit("linear", ins)));
    }
    ir::Value* y = node.emit("linear", ins);
    if (c && beta != 0.0) {
      ir::Value* cv = node.irOf(*c);
      if (beta != 1.0) cv = node.emit("mul", {cv}, {{"other", beta}});
      y = node.emit("add", {y, cv});
    }
    return node.setOut(0, node.wrap(y));
  }
  auto b_shape = node.shapeOf(b);
  if (trans_b && alpha == 1.0 && b_shape && b_shape->size() == 2 && (!c || beta == 1.0) &&
      (!c || node.shapeOf(*c) == Shape{(*b_shape)[0]})) {
    // A computed [N, K] weight with transB=1 (a fake-quantized weight of a
    // QDQ file: DequantizeLinear -> Gemm) is still nn.Linear's layout.
    std::vector<ir::Value*> ins{av, node.irOf(b, ParamKind::Parameter)};
    if (c) ins.push_back(node.irOf(*c, ParamKind::Parameter));
    return node.setOut(0, node.wrap(node.emit("linear", ins)));
  }
  ir::Value* bv = node.irOf(b);
  if (trans_b) bv = node.emit("transpose", {bv}, {{"dim0", int64_t{0}}, {"dim1", int64_t{1}}});
  ir::Value* y = node.emit("matmul", {av, bv});
  if (alpha != 1.0) y = node.emit("mul", {y}, {{"other", alpha}});
  if (c && beta != 0.0) {
    ir::Value* cv = node.irOf(*c);
    if (beta != 1.0) cv = node.emit("mul", {cv}, {{"other", beta}});
    y = node.emit("add", {y, cv});
  }
  node.setOut(0, node.wrap(y));
}

void matmul(NodeContext& node) {
  const Val& a = node.req(0);
  const Val& b = node.req(1);
  if (!a.isConst() && b.isConst() && b.constant.dim() == 2 && b.constant.is_floating_point()) {
    // x @ W with a constant W [K, N]: a linear layer with weight W^T.
    at::Tensor w = b.constant.t().contiguous();
    ir::Value* weight = node.paramFrom(w, b.name, ParamKind::Parameter, "T");
    return node.setOut(0, node.wrap(node.emit("linear", {node.irOf(a), weight})));
  }
  node.setOut(0, node.wrap(node.emit("matmul", {node.irOf(a), node.irOf(b)})));
}

// Einsum of two operands as a batched matrix product, with the same batch
// letters on both operands and the output (MaxViT's attention from torch.onnx):
//   "...ik,...kj->...ij" = a @ b,   "...ik,...jk->...ij" = a @ b^T.
void einsum(NodeContext& node) {
  std::string eq;
  for (char ch : node.attrString("equation", ""))
    if (ch != ' ') eq += ch;
  const auto comma = eq.find(','), arrow = eq.find("->");
  if (node.numInputs() != 2 || comma == std::string::npos || arrow == std::string::npos || arrow < comma)
    node.fail("Einsum '" + eq + "': only products of two operands are supported");
  const std::string a = eq.substr(0, comma), b = eq.substr(comma + 1, arrow - comma - 1), out = eq.substr(arrow + 2);
  const size_t n = a.size();
  const bool batched = n >= 2 && b.size() == n && out.size() == n && a.find('.') == std::string::npos &&
                       a.compare(0, n - 2, b, 0, n - 2) == 0 && a.compare(0, n - 2, out, 0, n - 2) == 0;
  if (batched) {
    const char i = a[n - 2], k = a[n - 1];
    ir::Value* x = node.irOf(node.req(0));
    ir::Value* y = node.irOf(node.req(1));
    if (out[n - 2] == i && b[n - 2] == k && out[n - 1] == b[n - 1] && b[n - 1] != i && b[n - 1] != k)
      return node.setOut(0, node.wrap(node.emit("matmul", {x, y})));
    if (out[n - 2] == i && b[n - 1] == k && out[n - 1] == b[n - 2] && b[n - 2] != i && b[n - 2] != k) {
      ir::Value* yt = node.emit("transpose", {y}, {{"dim0", int64_t{-2}}, {"dim1", int64_t{-1}}});
      return node.setOut(0, node.wrap(node.emit("matmul", {x, yt})));
    }
  }
  node.fail("Einsum '" + eq + "': only batched matrix products (...ik,...kj->...ij or ...ik,...jk->...ij)");
}

}  // namespace

void addConvLinearConverters(ConverterTable& table) {
  table.add("Conv", [](NodeContext& node) { convolution(node, false); });
  table.add("ConvTranspose", [](NodeContext& node) { convolution(node, true); });
  table.add("Gemm", gemm);
  table.add("MatMul", matmul);
  table.add("Einsum", einsum);
}

}  // namespace edgeopt::onnx_import::detail
