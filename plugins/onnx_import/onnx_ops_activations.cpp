// Activations and other elementwise layers: Relu and friends, LeakyRelu,
// HardSigmoid, Clip (relu6/relu where the bounds match), Softmax and Dropout.
#include "onnx_converters.h"

#include <cmath>

namespace edgeopt::onnx_import::detail {
namespace {

void hardSigmoid(NodeContext& node) {
  double alpha = node.attrFloat("alpha", 0.2), beta = node.attrFloat("beta", 0.5);
  if (std::abs(alpha - 1.0 / 6.0) < 1e-6 && beta == 0.5)
    return node.setOut(0, node.apply("hardsigmoid", {&node.req(0)}));
  // max(0, min(1, alpha x + beta))
  ir::Value* y = node.emit("mul", {node.irOf(node.req(0))}, {{"other", alpha}});
  y = node.emit("add", {y}, {{"other", beta}});
  return node.setOut(0, node.wrap(node.emit("hardtanh", {y}, {{"min_val", 0.0}, {"max_val", 1.0}})));
}

void clip(NodeContext& node) {
  std::optional<double> lo, hi;
  if (node.opset() < 11) {
    if (node.hasAttr("min")) lo = node.attrFloat("min", 0);
    if (node.hasAttr("max")) hi = node.attrFloat("max", 0);
  } else {
    if (const Val* v = node.in(1)) {
      lo = node.constScalar(*v);
      if (!lo) node.fail("min must be a constant");
    }
    if (const Val* v = node.in(2)) {
      hi = node.constScalar(*v);
      if (!hi) node.fail("max must be a constant");
    }
  }
  auto type = node.dtypeOf(node.req(0));
  if (type && !at::isFloatingType(*type)) node.fail("Clip of integers");
  if (lo && *lo == 0.0 && hi && *hi == 6.0) return node.setOut(0, node.apply("relu6", {&node.req(0)}));
  if (lo && *lo == 0.0 && !hi) return node.setOut(0, node.apply("relu", {&node.req(0)}));
  return node.setOut(0, node.apply("hardtanh", {&node.req(0)},
                                   {{"min_val", lo.value_or(-kFloatMax)}, {"max_val", hi.value_or(kFloatMax)}}));
}

void softmax(NodeContext& node) {
  const Val& x = node.req(0);
  int64_t axis = node.attrInt("axis", node.opset() >= 13 ? -1 : 1);
  if (node.opset() >= 13) return node.setOut(0, node.apply("softmax", {&x}, {{"dim", axis}}));
  // Before opset 13: softmax over the input flattened to 2-d at `axis`.
  auto shape = node.shapeOf(x);
  if (axis == -1 || (shape && axis == static_cast<int64_t>(shape->size()) - 1))
    return node.setOut(0, node.apply("softmax", {&x}, {{"dim", int64_t{-1}}}));
  if (!shape) node.fail("needs a known input shape");
  int64_t rank = static_cast<int64_t>(shape->size());
  if (axis < 0) axis += rank;
  ir::Value* y = node.emit("flatten", {node.irOf(x)}, {{"start_dim", axis}, {"end_dim", int64_t{-1}}});
  y = node.emit("softmax", {y}, {{"dim", int64_t{-1}}});
  return node.setOut(0, node.wrap(node.emit("reshape", {y}, {{"shape", *shape}})));
}

// Dropout in inference, or in training with ratio 0 (torch.onnx writes
// F.dropout(x, p=0.0), training by default, that way: Swin's attention):
// both pass x through and keep every element, so the mask is all true.
void dropout(NodeContext& node) {
  double ratio = node.attrFloat("ratio", 0.5);
  bool training = false;
  if (node.opset() >= 12) {
    if (const Val* r = node.in(1)) {
      auto v = node.constScalar(*r);
      if (!v) node.fail("ratio must be a constant");
      ratio = *v;
    }
    if (const Val* t = node.in(2)) {
      auto v = node.constScalar(*t);
      if (!v) node.fail("training_mode must be a constant");
      training = *v != 0.0;
    }
  }
  if (training && ratio != 0.0) node.fail("training_mode=true with a non-zero ratio");
  ir::Value* x = node.irOf(node.req(0));
  if (node.outputUsed(1))
    node.setOut(1, node.wrap(node.emit("full_like", {x},
                                       {{"value", 1.0}, {"dtype", static_cast<int64_t>(at::ScalarType::Bool)}})));
  return node.setOut(0, node.wrap(node.emit("dropout", {x}, {{"p", training ? 0.0 : ratio}})));
}

}  // namespace

void addActivationConverters(ConverterTable& table) {
  table.add("Relu", [](NodeContext& node) { node.setOut(0, node.apply("relu", {&node.req(0)})); });
  table.add("Sigmoid", [](NodeContext& node) { node.setOut(0, node.apply("sigmoid", {&node.req(0)})); });
  table.add("Tanh", [](NodeContext& node) { node.setOut(0, node.apply("tanh", {&node.req(0)})); });
  table.add("Sqrt", [](NodeContext& node) { node.setOut(0, node.apply("sqrt", {&node.req(0)})); });
  table.add("Erf", [](NodeContext& node) { node.setOut(0, node.apply("erf", {&node.req(0)})); });
  table.add("HardSwish", [](NodeContext& node) { node.setOut(0, node.apply("hardswish", {&node.req(0)})); });
  table.add("LeakyRelu", [](NodeContext& node) {
    node.setOut(0, node.apply("leaky_relu", {&node.req(0)}, {{"negative_slope", node.attrFloat("alpha", 0.01)}}));
  });
  table.add("HardSigmoid", hardSigmoid);
  table.add("Clip", clip);
  table.add("Softmax", softmax);
  table.add("Dropout", dropout);
}

}  // namespace edgeopt::onnx_import::detail
