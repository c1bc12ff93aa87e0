// Elementwise arithmetic: Add/Sub/Mul/Div/Pow (numpy or pre-opset-7
// broadcasting), Sum, Mean and Neg.
#include "onnx_converters.h"

namespace edgeopt::onnx_import::detail {
namespace {

// Add/Sub/Mul/Div with numpy broadcasting; a constant scalar operand becomes
// the IR op's `other` attribute (floating tensors only, so dtypes stay ONNX's).
void binary(NodeContext& node, const std::string& op) {
  const Val& a = node.req(0);
  const Val& b = node.req(1);
  if (node.hasAttr("axis") && node.attrInt("broadcast", 0) != 0) {
    // Before opset 7: B's dims line up with A's from `axis` on; trailing 1s make that numpy broadcasting.
    auto ra = node.rankOf(a);
    auto sb = node.shapeOf(b);
    if (!ra || !sb) node.fail("legacy broadcasting with an axis needs known shapes");
    int64_t axis = node.attrInt("axis", 0);
    if (axis < 0) axis += *ra;
    Shape shape = *sb;
    for (int64_t i = axis + static_cast<int64_t>(sb->size()); i < *ra; ++i) shape.push_back(1);
    Val aligned;
    if (b.isConst()) aligned.constant = b.constant.reshape(shape);
    else aligned.value = node.emit("reshape", {node.irOf(b)}, {{"shape", shape}});
    aligned.name = b.name + "_aligned";
    if (a.isConst()) node.fail("legacy broadcasting of two constants");
    return node.setOut(0, node.wrap(node.emit(op, {node.irOf(a), node.irOf(aligned)})));
  }
  auto ta = node.dtypeOf(a);
  if (op == "div" && ta && !at::isFloatingType(*ta)) node.fail("integer division");
  if (op == "pow") {  // float base and exponent, as at::pow keeps the base's dtype where ONNX does
    auto tb = node.dtypeOf(b);
    if (!ta || !tb || !at::isFloatingType(*ta) || !at::isFloatingType(*tb)) node.fail("Pow of non-float tensors");
  }
  auto scalarOperand = [&](const Val& c, const Val& t) {
    auto s = node.constScalar(c);
    auto rank_t = node.rankOf(t);
    return s && !t.isConst() && rank_t && static_cast<int64_t>(c.constant.dim()) <= *rank_t &&
           at::isFloatingType(c.constant.scalar_type()) && node.dtypeOf(t) &&
           at::isFloatingType(*node.dtypeOf(t)) ? s : std::nullopt;
  };
  if (auto s = scalarOperand(b, a)) return node.setOut(0, node.wrap(node.emit(op, {node.irOf(a)}, {{"other", *s}})));
  if (op == "add" || op == "mul")
    if (auto s = scalarOperand(a, b))
      return node.setOut(0, node.wrap(node.emit(op, {node.irOf(b)}, {{"other", *s}})));
  node.setOut(0, node.wrap(node.emit(op, {node.irOf(a), node.irOf(b)})));
}

void sumOrMean(NodeContext& node) {
  const std::string& op = node.opType();
  ir::Value* y = node.irOf(node.req(0));
  for (int i = 1; i < node.numInputs(); ++i) y = node.emit("add", {y, node.irOf(node.req(i))});
  if (op == "Mean" && node.numInputs() > 1)
    y = node.emit("mul", {y}, {{"other", 1.0 / static_cast<double>(node.numInputs())}});
  if (node.numInputs() == 1) y = node.emit("identity", {y});
  return node.setOut(0, node.wrap(y));
}

void neg(NodeContext& node) {
  auto type = node.dtypeOf(node.req(0));
  if (!type || !at::isFloatingType(*type)) node.fail("Neg of a non-float tensor");
  return node.setOut(0, node.wrap(node.emit("mul", {node.irOf(node.req(0))}, {{"other", -1.0}})));
}

}  // namespace

void addArithmeticConverters(ConverterTable& table) {
  table.add("Add", [](NodeContext& node) { binary(node, "add"); });
  table.add("Sub", [](NodeContext& node) { binary(node, "sub"); });
  table.add("Mul", [](NodeContext& node) { binary(node, "mul"); });
  table.add("Div", [](NodeContext& node) { binary(node, "div"); });
  table.add("Pow", [](NodeContext& node) { binary(node, "pow"); });
  table.add("Sum", sumOrMean);
  table.add("Mean", sumOrMean);
  table.add("Neg", neg);
}

}  // namespace edgeopt::onnx_import::detail
