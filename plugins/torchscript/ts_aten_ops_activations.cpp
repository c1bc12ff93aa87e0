// Activations and other elementwise layers: relu and friends, clamp/hardtanh
// (recognised as relu6/relu where the bounds match; one-sided: clamp), leaky_relu, gelu,
// softmax and dropout.
#include "ts_aten_ops.h"

namespace edgeopt::torchscript::detail {
namespace {

// Ops whose IR op has the aten name and no attributes.
void sameNameUnary(OpContext& c) { return c.unary(c.base); }

// hardtanh(x, min_val, max_val) and clamp(x, min, max).
void clamp(OpContext& c) {
  const auto& in = c.in;
  std::optional<double> lo = in.size() > 1 && !in[1].isNone() ? asDouble(in[1]) : std::nullopt;
  std::optional<double> hi = in.size() > 2 && !in[2].isNone() ? asDouble(in[2]) : std::nullopt;
  bool lo_none = in.size() > 1 && in[1].isNone(), hi_none = in.size() > 2 && in[2].isNone();
  if ((!lo && !lo_none) || (!hi && !hi_none)) return c.fail("bounds must be constants");
  if (lo && *lo == 0.0 && hi && *hi == 6.0) return c.unary("relu6");
  if (lo && *lo == 0.0 && hi_none) return c.unary("relu");
  if (lo && hi) return c.unary("hardtanh", {{"min_val", *lo}, {"max_val", *hi}});
  if (lo) return c.unary("clamp", {{"min", *lo}});
  if (hi) return c.unary("clamp", {{"max", *hi}});
  return c.fail("clamp without bounds");
}

void leakyRelu(OpContext& c) {
  auto slope = c.in.size() > 1 ? asDouble(c.in[1]) : std::optional<double>(0.01);
  if (!slope) return c.fail("negative_slope must be a constant");
  return c.unary("leaky_relu", {{"negative_slope", *slope}});
}

void gelu(OpContext& c) {
  auto approx = c.in.size() > 1 ? asString(c.in[1]) : std::optional<std::string>("none");
  if (!approx) return c.fail("approximate must be a constant");
  return c.unary("gelu", {{"approximate", *approx}});
}

void softmax(OpContext& c) {
  auto dim = asInt(c.in[1]);
  if (!dim) return c.fail("dim must be a constant");
  if (c.in.size() > 2 && !c.in[2].isNone()) return c.fail("softmax with a dtype");
  return c.unary("softmax", {{"dim", *dim}});
}

void dropout(OpContext& c) {
  auto p = asDouble(c.in[1]);
  if (!p) return c.fail("p must be a constant");
  c.recordTrainingOp();
  return c.unary("dropout", {{"p", *p}});
}

}  // namespace

void addActivationOps(AtenOpTable& table) {
  for (const char* name : {"relu", "sigmoid", "silu", "hardswish", "hardsigmoid", "tanh", "relu6", "sqrt", "erf"})
    table.add(name, sameNameUnary);
  table.add("hardtanh", clamp);
  table.add("clamp", clamp);
  table.add("leaky_relu", leakyRelu);
  table.add("gelu", gelu);
  table.add("softmax", softmax);
  table.add("dropout", dropout);
}

}  // namespace edgeopt::torchscript::detail
