// Windowed attention (Swin, MaxViT) and masks: einsum (batched matrix
// products), swapaxes, roll, ne (x != y on tensors:
// comparisons of integer buffers are folded, ts_evaluator.cpp), masked_fill,
// table[index] with one 1-D index tensor (index_select), unsqueeze, and new_zeros of
// constant sizes (a constant: what is written into it later folds too).
#include "ts_aten_ops.h"

namespace edgeopt::torchscript::detail {
namespace {

// roll(x, shifts, dims)
void roll(OpContext& c) {
  auto shifts = asInts(c.in[1]);
  auto dims = c.in.size() > 2 ? asInts(c.in[2]) : std::nullopt;
  if (!shifts || !dims) return c.fail("shifts and dims must be constants");
  if (dims->empty()) return c.fail("roll of the flattened tensor (no dims)");
  return c.unary("roll", {{"shifts", *shifts}, {"dims", *dims}});
}

// ne(x, other): other a tensor or a number.
void ne(OpContext& c) {
  ir::Value* x = c.tensorAt(0);
  if (!x) return c.fail("the first operand must be a tensor");
  if (auto other = asNumber(c.in[1])) return c.done(c.emit("ne", {x}, {{"other", *other}}));
  ir::Value* y = c.tensorAt(1);
  if (!y) return c.fail("the second operand must be a tensor or a number");
  return c.done(c.emit("ne", {x, y}));
}

// masked_fill(x, mask, value): value a number.
void maskedFill(OpContext& c) {
  ir::Value* x = c.tensorAt(0);
  ir::Value* mask = c.tensorAt(1);
  auto value = asNumber(c.in[2]);
  if (!x || !mask) return c.fail("input and mask must be tensors");
  if (!value) return c.fail("the value must be a number");
  return c.done(c.emit("masked_fill", {x, mask}, {{"value", *value}}));
}

// index(x, [i]): x[i] with one 1-D index tensor on dim 0 (a relative-position
// bias table read at a buffer of indices).
void index(OpContext& c) {
  if (c.in[1].kind != SVal::Kind::List || c.in[1].elems->size() != 1)
    return c.fail("indexing other than x[i] with one index tensor");
  ir::Value* x = c.tensorAt(0);
  ir::Value* i = c.valueOf((*c.in[1].elems)[0]);
  if (!x || !i) return c.fail("x[i] needs tensors x and i");
  if (!i->shape() || i->shape()->size() != 1) return c.fail("x[i] with an index tensor that is not 1-D");
  return c.done(c.emit("index_select", {x, i}, {{"dim", int64_t{0}}}));
}

// einsum(equation, [a, b]) for batched matrix products with the same batch
// letters on both operands and the output (MaxViT's attention):
//   "...ik,...kj->...ij" = a @ b,   "...ik,...jk->...ij" = a @ b^T.
void einsum(OpContext& c) {
  auto equation = asString(c.in[0]);
  if (!equation) return c.fail("the equation must be a constant");
  std::string eq;
  for (char ch : *equation)
    if (ch != ' ') eq += ch;
  const auto comma = eq.find(','), arrow = eq.find("->");
  if (c.in[1].kind != SVal::Kind::List || c.in[1].elems->size() != 2 || comma == std::string::npos ||
      arrow == std::string::npos || arrow < comma)
    return c.fail("einsum '" + *equation + "': only products of two operands are supported");
  const std::string a = eq.substr(0, comma), b = eq.substr(comma + 1, arrow - comma - 1), out = eq.substr(arrow + 2);
  ir::Value* x = c.valueOf((*c.in[1].elems)[0]);
  ir::Value* y = c.valueOf((*c.in[1].elems)[1]);
  const size_t n = a.size();
  bool batched = x && y && n >= 2 && b.size() == n && out.size() == n && a.find('.') == std::string::npos &&
                 a.compare(0, n - 2, b, 0, n - 2) == 0 && a.compare(0, n - 2, out, 0, n - 2) == 0;
  if (batched) {
    const char i = a[n - 2], k = a[n - 1];
    if (out[n - 2] == i && b[n - 2] == k && out[n - 1] == b[n - 1] && b[n - 1] != i && b[n - 1] != k)
      return c.done(c.emit("matmul", {x, y}));
    if (out[n - 2] == i && b[n - 1] == k && out[n - 1] == b[n - 2] && b[n - 2] != i && b[n - 2] != k) {
      ir::Value* yt = c.emit("transpose", {y}, {{"dim0", int64_t{-2}}, {"dim1", int64_t{-1}}});
      return c.done(c.emit("matmul", {x, yt}));
    }
  }
  return c.fail("einsum '" + *equation + "': only batched matrix products (...ik,...kj->...ij or ...ik,...jk->...ij)");
}

// swapaxes(x, a, b) = transpose(x, a, b)
void swapaxes(OpContext& c) {
  auto d0 = asInt(c.in[1]), d1 = asInt(c.in[2]);
  if (!d0 || !d1) return c.fail("axes must be constants");
  return c.unary("transpose", {{"dim0", *d0}, {"dim1", *d1}});
}

// unsqueeze(x, dim)
void unsqueeze(OpContext& c) {
  auto dim = asInt(c.in[1]);
  if (!dim) return c.fail("dim must be a constant");
  return c.unary("unsqueeze", {{"dim", *dim}});
}

// new_zeros(x, size, dtype, ...): zeros of constant sizes, float32 unless dtype says otherwise.
void newZeros(OpContext& c) {
  auto size = asInts(c.in[1]);
  if (!size) return c.fail("sizes must be constants");
  at::ScalarType dtype = at::kFloat;
  if (c.in.size() > 2 && !c.in[2].isNone()) {
    auto d = asInt(c.in[2]);
    if (!d) return c.fail("dtype must be a constant");
    dtype = static_cast<at::ScalarType>(*d);
  }
  c.setResult(SVal::constant(at::zeros(*size, at::TensorOptions().dtype(dtype))));
}

}  // namespace

void addWindowOps(AtenOpTable& table) {
  table.add("roll", roll);
  table.add("ne", ne);
  table.add("masked_fill", maskedFill);
  table.add("index", index);
  table.add("new_zeros", newZeros);
  table.add("unsqueeze", unsqueeze);
  table.add("einsum", einsum);
  table.add("swapaxes", swapaxes);
}

}  // namespace edgeopt::torchscript::detail
