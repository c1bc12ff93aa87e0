// Elementwise arithmetic: add/sub (with alpha), mul, div, rsub and neg. A
// Python number (or a 0-d constant tensor) operand becomes the IR op's
// `other` attribute.
#include "ts_aten_ops.h"

namespace edgeopt::torchscript::detail {
namespace {

// Binary arithmetic: tensor (op) tensor, or tensor (op) number as attribute `other`.
void binary(OpContext& c, const std::string& op, const SVal& a, const SVal& b, double alpha) {
  auto scalarOf = [](const SVal& s) -> std::optional<double> {
    if (auto d = asNumber(s)) return d;
    if (s.isConstTensor() && s.iv.toTensor().dim() == 0) return s.iv.toTensor().item<double>();
    return std::nullopt;
  };
  auto sb = scalarOf(b);
  if (tensorLike(a) && sb) {
    ir::Value* x = c.valueOf(a);
    if (!x) return c.fail("operand is not a tensor");
    return c.done(c.emit(op, {x}, {{"other", *sb * alpha}}));
  }
  auto sa = scalarOf(a);
  if (sa && tensorLike(b) && alpha == 1.0 && (op == "add" || op == "mul")) {
    ir::Value* y = c.valueOf(b);
    if (!y) return c.fail("operand is not a tensor");
    return c.done(c.emit(op, {y}, {{"other", *sa}}));
  }
  if (a.kind == SVal::Kind::Dynamic || b.kind == SVal::Kind::Dynamic)
    return c.fail("an operand known only at run time (a size, or a value read from a tensor)");
  ir::Value* x = c.valueOf(a);
  ir::Value* y = c.valueOf(b);
  if (!x || !y) return c.fail("operands must be tensors or numbers");
  if (alpha != 1.0) y = c.emit("mul", {y}, {{"other", alpha}});
  c.done(c.emit(op, {x, y}));
}

// add(self, other, alpha) and sub(self, other, alpha).
void addOrSub(OpContext& c) {
  double alpha = 1.0;
  if (c.in.size() > 2) {
    auto a = asDouble(c.in[2]);
    if (!a) return c.fail("alpha must be a constant");
    alpha = *a;
  }
  return binary(c, c.base, c.in[0], c.in[1], alpha);
}

void mul(OpContext& c) { return binary(c, "mul", c.in[0], c.in[1], 1.0); }

void div(OpContext& c) {
  if (c.in.size() > 2 && !c.in[2].isNone()) return c.fail("division with a rounding mode");
  return binary(c, "div", c.in[0], c.in[1], 1.0);
}

// rsub(self, other, alpha) = other - alpha * self.
void rsub(OpContext& c) {
  const auto& in = c.in;
  auto other = asNumber(in[1]);
  auto alpha = in.size() > 2 ? asDouble(in[2]) : std::optional<double>(1.0);
  ir::Value* x = c.tensorAt(0);
  if (!x || !alpha) return c.fail("operands must be a tensor and constants");
  ir::Value* scaled = c.emit("mul", {x}, {{"other", -*alpha}});
  if (other) return c.done(c.emit("add", {scaled}, {{"other", *other}}));
  ir::Value* y = c.tensorAt(1);
  if (!y) return c.fail("operand is not a tensor");
  return c.done(c.emit("add", {y, scaled}));
}

// pow(x, exponent): a tensor or a number exponent.
void pow(OpContext& c) { return binary(c, "pow", c.in[0], c.in[1], 1.0); }

void neg(OpContext& c) { return c.unary("mul", {{"other", -1.0}}); }

}  // namespace

void addArithmeticOps(AtenOpTable& table) {
  table.add("add", addOrSub);
  table.add("sub", addOrSub);
  table.add("mul", mul);
  table.add("div", div);
  table.add("rsub", rsub);
  table.add("neg", neg);
  table.add("pow", pow);
}

}  // namespace edgeopt::torchscript::detail
