// Normalisation layers: batch_norm (with BatchNorm2d's step counter as the IR
// op's 6th input), layer_norm and group_norm.
#include "ts_aten_ops.h"

namespace edgeopt::torchscript::detail {
namespace {

// batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled).
void batchNorm(OpContext& c) {
  const auto& in = c.in;
  ir::Value* x = c.tensorAt(0);
  if (!x) return c.fail("input is not a tensor");
  if (in[1].isNone() || in[2].isNone()) return c.fail("BatchNorm without affine weight and bias");
  if (in[3].isNone() || in[4].isNone()) return c.fail("BatchNorm without running statistics");
  auto momentum = asDouble(in[6]);
  auto eps = asDouble(in[7]);
  if (!momentum) return c.fail("BatchNorm momentum=None (cumulative moving average)");
  if (!eps) return c.fail("eps must be a constant");
  std::vector<ir::Value*> ins{x, c.tensorAt(1), c.tensorAt(2), c.tensorAt(3), c.tensorAt(4)};
  for (ir::Value* v : ins)
    if (!v) return c.fail("weight, bias and running statistics must be tensors");
  // The step counter next to the running mean, as nn.BatchNorm2d keeps it.
  if (in[3].isTensor() && !in[3].cell->param.empty()) {
    const std::string& rm = in[3].cell->param;
    const std::string suffix = "running_mean";
    if (rm.size() >= suffix.size() && rm.compare(rm.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::string counter = rm.substr(0, rm.size() - suffix.size()) + "num_batches_tracked";
      if (ir::Value* steps = c.moduleTensor(counter)) ins.push_back(steps);
    }
  }
  c.recordTrainingOp();
  return c.done(c.emit("batch_norm", ins, {{"eps", *eps}, {"momentum", *momentum}}));
}

// layer_norm(x, normalized_shape, weight, bias, eps, ...) and
// group_norm(x, num_groups, weight, bias, eps, ...).
void layerOrGroupNorm(OpContext& c) {
  if (!c.hasOp(c.base)) return c.fail("");
  const auto& in = c.in;
  ir::Value* x = c.tensorAt(0);
  auto eps = asDouble(in[4]);
  if (!x || !eps) return c.fail("input must be a tensor and eps a constant");
  std::vector<ir::Value*> ins{x};
  if (!in[2].isNone()) {
    if (!c.tensorAt(2) || in[3].isNone() || !c.tensorAt(3)) return c.fail("weight without bias");
    ins.push_back(c.tensorAt(2));
    ins.push_back(c.tensorAt(3));
  } else if (!in[3].isNone()) {
    return c.fail("bias without weight");
  }
  Attrs attrs{{"eps", *eps}};
  if (c.base == "layer_norm") {
    auto shape = asInts(in[1]);
    if (!shape) return c.fail("normalized_shape must be a constant");
    attrs.insert_or_assign("normalized_shape", *shape);
  } else {
    auto groups = asInt(in[1]);
    if (!groups) return c.fail("num_groups must be a constant");
    attrs.insert_or_assign("num_groups", *groups);
  }
  return c.done(c.emit(c.base, ins, std::move(attrs)));
}

}  // namespace

void addNormOps(AtenOpTable& table) {
  table.add("batch_norm", batchNorm);
  table.add("layer_norm", layerOrGroupNorm);
  table.add("group_norm", layerOrGroupNorm);
}

}  // namespace edgeopt::torchscript::detail
