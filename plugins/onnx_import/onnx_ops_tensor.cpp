// Tensor ops: Constant, Identity, Cast/CastLike (no-ops only), Concat,
// Split, Slice, Pad, and Gather with constant indices.
#include "onnx_converters.h"
#include "onnx_tensor.h"

namespace edgeopt::onnx_import::detail {
namespace {

void constant(NodeContext& node) {
  Val v;
  if (const auto* a = node.attr("value")) v.constant = tensorFromProto(a->t(), node.baseDir());
  else if (const auto* f = node.attr("value_float")) v.constant = at::scalar_tensor(f->f(), at::kFloat);
  else if (const auto* fs = node.attr("value_floats"))
    v.constant = at::tensor(std::vector<float>(fs->floats().begin(), fs->floats().end()), at::kFloat);
  else if (const auto* i = node.attr("value_int")) v.constant = at::scalar_tensor(i->i(), at::kLong);
  else if (auto is = node.attrInts("value_ints")) v.constant = at::tensor(*is, at::kLong);
  else node.fail("a sparse or string constant");
  return node.setOut(0, v);
}

void castOrCastLike(NodeContext& node) {
  const std::string& op = node.opType();
  const Val& x = node.req(0);
  auto from = node.dtypeOf(x);
  std::optional<c10::ScalarType> to =
      op == "Cast" ? scalarTypeOf(static_cast<int>(node.attrInt("to", 0))) : node.dtypeOf(node.req(1));
  if (from && to && *from == *to) return node.setOut(0, x);
  node.fail("a cast of a run-time tensor between dtypes (the IR has no cast op)");
}

void concat(NodeContext& node) {
  std::vector<ir::Value*> ins;
  for (int i = 0; i < node.numInputs(); ++i)
    if (const Val* v = node.in(i)) ins.push_back(node.irOf(*v));
  return node.setOut(0, node.wrap(node.emit("cat", ins, {{"dim", node.attrInt("axis", 0)}})));
}

void split(NodeContext& node) {
  const Val& x = node.req(0);
  int64_t axis = node.attrInt("axis", 0);
  const size_t n = static_cast<size_t>(node.numOutputs());
  Ints sizes;
  if (node.opset() >= 13) {
    if (const Val* s = node.in(1)) sizes = node.constInts(s, "split");
  } else if (auto s = node.attrInts("split")) {
    sizes = *s;
  }
  ir::Node* pieces;
  if (!sizes.empty()) {
    pieces = node.emitNode("split", {node.irOf(x)}, {{"dim", axis}, {"split_sizes", sizes}}, sizes.size());
  } else {
    auto shape = node.shapeOf(x);
    if (shape) {
      int64_t d = axis < 0 ? axis + static_cast<int64_t>(shape->size()) : axis;
      int64_t piece = ((*shape)[d] + static_cast<int64_t>(n) - 1) / static_cast<int64_t>(n);
      pieces = node.emitNode("split", {node.irOf(x)}, {{"dim", axis}, {"split_size", piece}}, n);
    } else {
      pieces = node.emitNode("chunk", {node.irOf(x)}, {{"dim", axis}, {"chunks", static_cast<int64_t>(n)}}, n);
    }
  }
  if (pieces->numOutputs() != n) node.fail("the split sizes don't match the outputs");
  for (size_t i = 0; i < n; ++i) node.setOut(i, node.wrap(pieces->output(i)));
}

void slice(NodeContext& node) {
  const Val& x = node.req(0);
  Ints starts, ends, axes, steps;
  if (node.opset() < 10) {
    starts = node.attrInts("starts").value_or(Ints{});
    ends = node.attrInts("ends").value_or(Ints{});
    axes = node.attrInts("axes").value_or(Ints{});
  } else {
    starts = node.constInts(node.in(1), "starts");
    ends = node.constInts(node.in(2), "ends");
    if (const Val* a = node.in(3)) axes = node.constInts(a, "axes");
    if (const Val* s = node.in(4)) steps = node.constInts(s, "steps");
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps = Ints(starts.size(), 1);
  if (starts.size() != ends.size() || axes.size() != starts.size() || steps.size() != starts.size())
    node.fail("starts, ends, axes and steps differ in length");
  ir::Value* y = node.irOf(x);
  for (size_t i = 0; i < starts.size(); ++i) {
    if (steps[i] <= 0) node.fail("a negative step");
    y = node.emit("slice", {y}, {{"dim", axes[i]}, {"start", starts[i]}, {"end", ends[i]}, {"step", steps[i]}});
  }
  if (starts.empty()) y = node.emit("identity", {y});
  return node.setOut(0, node.wrap(y));
}

void pad(NodeContext& node) {
  const Val& x = node.req(0);
  Ints pads;
  double value = 0.0;
  std::string mode = node.attrString("mode", "constant");
  if (node.opset() < 11) {
    pads = node.attrInts("pads").value_or(node.attrInts("paddings").value_or(Ints{}));
    value = node.attrFloat("value", 0.0);
  } else {
    pads = node.constInts(node.in(1), "pads");
    if (const Val* v = node.in(2)) {
      auto s = node.constScalar(*v);
      if (!s) node.fail("constant_value must be a constant");
      value = *s;
    }
    if (node.in(3)) node.fail("Pad with axes");
  }
  if (pads.size() % 2) node.fail("an odd number of pads");
  const size_t rank = pads.size() / 2;
  // ONNX [b0.., e0..] -> F.pad's [b_last, e_last, b_last-1, e_last-1, ...], leading zero pairs dropped.
  size_t first = 0;
  while (first < rank && pads[first] == 0 && pads[rank + first] == 0) ++first;
  Ints fpad;
  for (size_t d = rank; d-- > first;) {
    fpad.push_back(pads[d]);
    fpad.push_back(pads[rank + d]);
  }
  if (fpad.empty()) return node.setOut(0, node.wrap(node.emit("identity", {node.irOf(x)})));
  if (mode == "edge") mode = "replicate";
  Attrs attrs{{"pad", fpad}, {"mode", mode}};
  if (mode == "constant") attrs.insert_or_assign("value", value);
  else if (mode != "reflect" && mode != "replicate") node.fail("mode '" + mode + "'");
  return node.setOut(0, node.wrap(node.emit("pad", {node.irOf(x)}, std::move(attrs))));
}

void gather(NodeContext& node) {
  // x[..., i, ...] with a constant index: a select (the batch size stays
  // free), a range of indices: a slice.
  const Val& x = node.req(0);
  const Val* idx = node.in(1);
  if (!idx || !idx->isConst()) node.fail("indices known only at run time");
  auto shape = node.shapeOf(x);
  if (!shape) node.fail("needs a known input shape");
  int64_t rank = static_cast<int64_t>(shape->size());
  int64_t axis = node.attrInt("axis", 0);
  if (axis < 0) axis += rank;
  Ints ids = toInts(idx->constant);
  for (auto& i : ids)
    if (i < 0) i += (*shape)[axis];
  bool contiguous = !ids.empty();
  for (size_t i = 1; i < ids.size(); ++i) contiguous = contiguous && ids[i] == ids[i - 1] + 1;
  if (!contiguous || idx->constant.dim() > 1) node.fail("indices other than a scalar or a contiguous range");
  if (idx->constant.dim() == 0)
    return node.setOut(0, node.wrap(node.emit("select", {node.irOf(x)}, {{"dim", axis}, {"index", ids.front()}})));
  ir::Value* y = node.emit("slice", {node.irOf(x)},
                           {{"dim", axis}, {"start", ids.front()}, {"end", ids.back() + 1}, {"step", int64_t{1}}});
  return node.setOut(0, node.wrap(y));
}

}  // namespace

void addTensorConverters(ConverterTable& table) {
  table.add("Constant", constant);
  table.add("Identity", [](NodeContext& node) { node.setOut(0, node.req(0)); });
  table.add("Cast", castOrCastLike);
  table.add("CastLike", castOrCastLike);
  table.add("Concat", concat);
  table.add("Split", split);
  table.add("Slice", slice);
  table.add("Pad", pad);
  table.add("Gather", gather);
}

}  // namespace edgeopt::onnx_import::detail
