// Elementwise math, norms and in-place writes (Swin V2's cosine attention):
// exp, one-sided clamps (clamp_min, clamp_max), norm / linalg_vector_norm
// (F.normalize), and zero_ / fill_ / copy_, which replace their tensor's value;
// on a slice of another tensor the write reaches that tensor too (OpContext::done:
// `b = bias.clone(); b[n:2 * n].zero_()`), and slice_scatter itself.
#include "ts_aten_ops.h"

#include <limits>

namespace edgeopt::torchscript::detail {
namespace {

void exp(OpContext& c) { return c.unary("exp"); }

// clamp_min(x, min) and clamp_max(x, max): relu for clamp_min(x, 0).
void clampOneSided(OpContext& c) {
  auto bound = asDouble(c.in[1]);
  if (!bound) return c.fail("the bound must be a constant");
  const bool is_min = c.base == "clamp_min";
  if (is_min && *bound == 0.0) return c.unary("relu");
  return c.unary("clamp", {{is_min ? "min" : "max", *bound}});
}

// norm(x, p, dim, keepdim) and linalg_vector_norm(x, ord, dim, keepdim, dtype):
// the 1- or 2-norm over constant dims (None or absent: all of them).
void norm(OpContext& c) {
  const auto& in = c.in;
  std::optional<double> p = in.size() > 1 && !in[1].isNone() ? asDouble(in[1]) : std::optional<double>(2.0);
  if (!p) return c.fail("p must be a constant");
  if (*p != 1.0 && *p != 2.0) return c.fail("p other than 1 or 2");
  Ints dim;
  if (in.size() > 2 && !in[2].isNone()) {
    auto d = asInts(in[2]);
    if (!d) return c.fail("dim must be a constant");
    dim = *d;
  }
  auto keepdim = in.size() > 3 ? asBool(in[3]) : std::optional<bool>(false);
  if (!keepdim) return c.fail("keepdim must be a constant");
  if (in.size() > 4 && !in[4].isNone()) return c.fail("a norm with a dtype");
  return c.unary("norm", {{"p", *p}, {"dim", dim}, {"keepdim", *keepdim}});
}

// x.zero_() and x.fill_(value): value a number.
void fill(OpContext& c) {
  if (!c.inplace) return c.fail("");
  std::optional<double> value = c.base == "zero" ? std::optional<double>(0.0) : asNumber(c.in[1]);
  if (!value) return c.fail("the value must be a number");
  return c.unary("full_like", {{"value", *value}});
}

// dst.copy_(src): src broadcast to dst's shape.
void copy(OpContext& c) {
  ir::Value* dst = c.tensorAt(0);
  ir::Value* src = c.tensorAt(1);
  if (!c.inplace || !dst) return c.fail("");
  if (!src) {
    auto value = asNumber(c.in[1]);
    if (!value) return c.fail("the source must be a tensor or a number");
    return c.done(c.emit("full_like", {dst}, {{"value", *value}}));
  }
  if (!dst->shape() || !src->shape()) return c.fail("needs known shapes (set input_shape)");
  if (*dst->shape() == *src->shape()) return c.done(src);
  return c.done(c.emit("expand", {src}, {{"sizes", *dst->shape()}}));
}

// slice_scatter(x, src, dim, start, end, step) (EdgeOpt's own TorchScript export of it).
void sliceScatter(OpContext& c) {
  ir::Value* x = c.tensorAt(0);
  ir::Value* src = c.tensorAt(1);
  auto dim = asInt(c.in[2]), start = c.in[3].isNone() ? std::optional<int64_t>(0) : asInt(c.in[3]);
  auto end = c.in[4].isNone() ? std::optional<int64_t>(std::numeric_limits<int64_t>::max()) : asInt(c.in[4]);
  auto step = asInt(c.in[5]);
  if (!x || !src) return c.fail("input and source must be tensors");
  if (!dim || !start || !end || !step) return c.fail("slice bounds must be constants");
  return c.done(c.emit("slice_scatter", {x, src}, {{"dim", *dim}, {"start", *start}, {"end", *end}, {"step", *step}}));
}

}  // namespace

void addMathOps(AtenOpTable& table) {
  table.add("exp", exp);
  table.add("clamp_min", clampOneSided);
  table.add("clamp_max", clampOneSided);
  table.add("norm", norm);
  table.add("linalg_vector_norm", norm);
  table.add("zero", fill);
  table.add("fill", fill);
  table.add("copy", copy);
  table.add("slice_scatter", sliceScatter);
}

}  // namespace edgeopt::torchscript::detail
