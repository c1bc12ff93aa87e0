// Convolutions and matrix products: conv2d (padding='same'/'valid' included),
// traced files' _convolution (plain or transposed), conv_transpose2d, linear,
// and x @ W.t() (+ b) from addmm/mm/matmul folded back into linear.
#include "ts_aten_ops.h"

namespace edgeopt::torchscript::detail {
namespace {

// conv2d(x, w, b, stride, padding, dilation, groups) and traced files'
// _convolution/convolution(x, w, b, stride, padding, dilation, transposed, output_padding, groups, ...).
void convolution(OpContext& c) {
  const auto& in = c.in;
  ir::Value* x = c.tensorAt(0);
  ir::Value* w = c.tensorAt(1);
  if (!x || !w) return c.fail("input and weight must be tensors");
  std::vector<ir::Value*> ins{x, w};
  if (!in[2].isNone()) {
    ir::Value* b = c.tensorAt(2);
    if (!b) return c.fail("bias must be a tensor");
    ins.push_back(b);
  }
  auto stride = asInts(in[3]);
  auto dilation = asInts(in[5]);
  std::optional<Ints> padding = asInts(in[4]);
  std::optional<int64_t> groups;
  if (c.base == "conv2d") {
    groups = asInt(in[6]);
    if (auto mode = asString(in[4])) {
      if (*mode == "valid") {
        padding = Ints{0, 0};
      } else if (*mode == "same" && w->shape() && w->shape()->size() == 4 && dilation) {
        Ints dil = dilation->size() == 1 ? Ints{(*dilation)[0], (*dilation)[0]} : *dilation;
        padding = Ints{};
        for (size_t i = 0; i < 2; ++i) {
          int64_t total = dil[i] * ((*w->shape())[2 + i] - 1);
          if (total % 2 != 0) return c.fail("padding='same' with an even kernel pads asymmetrically");
          padding->push_back(total / 2);
        }
      } else {
        return c.fail("padding='" + *mode + "'");
      }
    }
  } else {
    auto transposed = asBool(in[6]);
    if (!transposed) return c.fail("transposed must be a constant");
    groups = asInt(in[8]);
    if (*transposed) {
      auto output_padding = asInts(in[7]);
      if (!c.hasOp("conv_transpose2d")) return c.fail("transposed convolution");
      if (!stride || !padding || !dilation || !groups || !output_padding)
        return c.fail("stride, padding, dilation and groups must be constants");
      return c.done(c.emit("conv_transpose2d", ins, {{"stride", *stride}, {"padding", *padding},
                                                     {"output_padding", *output_padding}, {"dilation", *dilation},
                                                     {"groups", *groups}}));
    }
  }
  if (!stride || !padding || !dilation || !groups)
    return c.fail("stride, padding, dilation and groups must be constants");
  if (stride->size() != 2 || (w->shape() && w->shape()->size() != 4))
    return c.fail("only 2-d convolutions are supported");
  return c.done(c.emit("conv2d", ins, {{"stride", *stride}, {"padding", *padding}, {"dilation", *dilation},
                                       {"groups", *groups}}));
}

// conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation).
void convTranspose2d(OpContext& c) {
  if (!c.hasOp("conv_transpose2d")) return c.fail("");
  const auto& in = c.in;
  ir::Value* x = c.tensorAt(0);
  ir::Value* w = c.tensorAt(1);
  auto stride = asInts(in[3]), padding = asInts(in[4]), output_padding = asInts(in[5]), dilation = asInts(in[7]);
  auto groups = asInt(in[6]);
  if (!x || !w || !stride || !padding || !output_padding || !dilation || !groups)
    return c.fail("input and weight must be tensors, the other arguments constants");
  std::vector<ir::Value*> ins{x, w};
  if (!in[2].isNone()) {
    if (!c.tensorAt(2)) return c.fail("bias is not a tensor");
    ins.push_back(c.tensorAt(2));
  }
  return c.done(c.emit("conv_transpose2d", ins, {{"stride", *stride}, {"padding", *padding},
                                                 {"output_padding", *output_padding}, {"dilation", *dilation},
                                                 {"groups", *groups}}));
}

void linear(OpContext& c) {
  const auto& in = c.in;
  ir::Value* x = c.tensorAt(0);
  ir::Value* w = c.tensorAt(1);
  if (!x || !w) return c.fail("input and weight must be tensors");
  std::vector<ir::Value*> ins{x, w};
  if (in.size() > 2 && !in[2].isNone()) {
    ir::Value* b = c.tensorAt(2);
    if (!b) return c.fail("bias must be a tensor");
    ins.push_back(b);
  }
  return c.done(c.emit("linear", ins));
}

// W.t() stays symbolic (Kind::Transposed) so that a following addmm/mm/matmul
// can become linear with W itself as the weight.
void matrixTranspose(OpContext& c) {
  if (c.inplace) return c.fail("");
  if (!c.in[0].isTensor()) return c.fail("input is not a tensor");
  SVal s;
  s.kind = SVal::Kind::Transposed;
  s.cell = c.in[0].cell;
  c.setResult(s);
}

// addmm(b, x, w, beta, alpha), mm(x, w), matmul(x, w), bmm(x, w).
void matrixProduct(OpContext& c) {
  const auto& in = c.in;
  const std::string& base = c.base;
  const size_t xi = base == "addmm" ? 1 : 0;
  const SVal& w = in[xi + 1];
  std::optional<double> beta = 1.0, alpha = 1.0;
  if (base == "addmm") {
    beta = asDouble(in[3]);
    alpha = asDouble(in[4]);
    if (!beta || !alpha) return c.fail("beta and alpha must be constants");
  }
  ir::Value* x = c.tensorAt(xi);
  if (!x) return c.fail("input is not a tensor");
  // x @ W.t() (+ b): a linear layer, as nn.Linear was traced before aten::linear.
  if (w.kind == SVal::Kind::Transposed && *alpha == 1.0 && *beta == 1.0 && base != "bmm") {
    std::vector<ir::Value*> ins{x, w.cell->value};
    if (base == "addmm") {
      ir::Value* b = c.tensorAt(0);
      if (!b) return c.fail("bias is not a tensor");
      ins.push_back(b);
    }
    return c.done(c.emit("linear", ins));
  }
  if (!c.hasOp("matmul")) return c.fail("only x @ W.t() (a linear layer) is supported; the IR has no matmul op");
  ir::Value* y = c.valueOf(w);
  if (!y) return c.fail("operand is not a tensor");
  ir::Value* prod = c.emit("matmul", {x, y});
  if (*alpha != 1.0) prod = c.emit("mul", {prod}, {{"other", *alpha}});
  if (base == "addmm") {
    ir::Value* b = c.tensorAt(0);
    if (!b) return c.fail("bias is not a tensor");
    if (*beta != 1.0) b = c.emit("mul", {b}, {{"other", *beta}});
    prod = c.emit("add", {prod, b});
  }
  return c.done(prod);
}

}  // namespace

void addConvLinearOps(AtenOpTable& table) {
  table.add("conv2d", convolution);
  table.add("_convolution", convolution);
  table.add("convolution", convolution);
  table.add("conv_transpose2d", convTranspose2d);
  table.add("linear", linear);
  table.add("t", matrixTranspose);
  table.add("addmm", matrixProduct);
  table.add("mm", matrixProduct);
  table.add("matmul", matrixProduct);
  table.add("bmm", matrixProduct);
}

}  // namespace edgeopt::torchscript::detail
