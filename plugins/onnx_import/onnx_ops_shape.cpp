// Shape ops on run-time tensors: Shape/Size (constants when the input shape
// is known), Flatten, Reshape, Unsqueeze/Squeeze and Transpose.
#include "onnx_converters.h"

#include <algorithm>
#include <set>

namespace edgeopt::onnx_import::detail {
namespace {

// Reshape to a fully known shape (Unsqueeze/Squeeze/Flatten of non-constants).
void reshapeTo(NodeContext& node, const Shape& out) {
  node.setOut(0, node.wrap(node.emit("reshape", {node.irOf(node.req(0))}, {{"shape", out}})));
}

// x.flatten(1): [N, ...] -> [N, rest], the batch size left free.
void flattenAfterBatch(NodeContext& node, const Val& x) {
  ir::Value* y = node.emit("flatten", {node.irOf(x)}, {{"start_dim", int64_t{1}}, {"end_dim", int64_t{-1}}});
  node.setOut(0, node.wrap(y));
}

// Shape/Size of a run-time tensor (those of constants are folded): known
// input shapes make them constants.
void shapeOrSize(NodeContext& node) {
  const Val& x = node.req(0);
  auto shape = node.shapeOf(x);
  if (!shape) node.fail("needs a known input shape (give the model's input_shape, or --input-shape)");
  Val out;
  int64_t rank = static_cast<int64_t>(shape->size());
  if (node.opType() == "Size") {
    int64_t n = 1;
    for (int64_t d : *shape) n *= d;
    out.constant = at::scalar_tensor(n, at::kLong);
  } else {
    int64_t start = node.attrInt("start", 0), end = node.attrInt("end", rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = std::clamp<int64_t>(start, 0, rank);
    end = std::clamp<int64_t>(end, start, rank);
    out.constant = at::tensor(Ints(shape->begin() + start, shape->begin() + end), at::kLong);
  }
  node.setOut(0, out);
}

void flatten(NodeContext& node) {
  const Val& x = node.req(0);
  auto shape = node.shapeOf(x);
  int64_t axis = node.attrInt("axis", 1);
  if (axis < 0) {
    if (!shape) node.fail("a negative axis needs a known input shape");
    axis += static_cast<int64_t>(shape->size());
  }
  if (axis == 1 && (!shape || shape->size() >= 2))
    return flattenAfterBatch(node, x);
  if (axis == 0) return reshapeTo(node, Shape{1, -1});
  if (!shape) node.fail("needs a known input shape");
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(shape->size()); ++d) (d < axis ? outer : inner) *= (*shape)[d];
  return reshapeTo(node, Shape{outer, inner});
}

void reshape(NodeContext& node) {
  const Val& x = node.req(0);
  Ints shape = node.opset() >= 5 ? node.constInts(node.in(1), "the shape") : node.attrInts("shape").value_or(Ints{});
  if (node.attrInt("allowzero", 0) == 0) {
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] != 0) continue;
      auto xs = node.shapeOf(x);
      if (!xs || i >= xs->size()) node.fail("a 0 in the shape needs a known input shape");
      shape[i] = (*xs)[i];
    }
  }
  // Exporters fold x.view(x.size(0), ...) to the traced batch size: keep the
  // batch free (-1) when the target keeps the input's first dim.
  auto xs = node.shapeOf(x);
  const bool keeps_batch = xs && !xs->empty() && !shape.empty() && shape[0] == (*xs)[0] && (*xs)[0] > 0;
  // x.reshape(x.shape[0], C, -1): the -1 resolved from the known input
  // shape first, so that the batch can be the one left free.
  if (keeps_batch && std::count(shape.begin() + 1, shape.end(), int64_t{-1}) == 1 &&
      std::all_of(xs->begin(), xs->end(), [](int64_t d) { return d > 0; })) {
    int64_t numel = 1, known = 1;
    for (int64_t d : *xs) numel *= d;
    bool overflow = false;  // the file's shape may multiply past 2^63; reshape's shape function refuses it
    for (int64_t d : shape) overflow = overflow || __builtin_mul_overflow(known, d == -1 ? 1 : d, &known);
    if (!overflow && known > 0 && numel % known == 0)
      *std::find(shape.begin() + 1, shape.end(), int64_t{-1}) = numel / known;
  }
  if (keeps_batch && std::count(shape.begin(), shape.end(), int64_t{-1}) == 0) {
    if (shape.size() == 2 && xs->size() >= 2)
      return flattenAfterBatch(node, x);
    shape[0] = -1;
  }
  return node.setOut(0, node.wrap(node.emit("reshape", {node.irOf(x)}, {{"shape", shape}})));
}

void unsqueezeOrSqueeze(NodeContext& node) {
  const std::string& op = node.opType();
  const Val& x = node.req(0);
  auto shape = node.shapeOf(x);
  if (!shape) node.fail("needs a known input shape");
  Ints axes;
  if (node.opset() >= 13) {
    if (const Val* a = node.in(1)) axes = node.constInts(a, "axes");
  } else if (auto a = node.attrInts("axes")) {
    axes = *a;
  }
  // The spec makes an axis out of [-rank, rank) or given twice an error; a
  // file's axes are checked here so they cannot index past the shape.
  auto normalizedAxes = [&](int64_t rank) {
    std::set<int64_t> set;
    for (int64_t a : axes) {
      if (a < -rank || a >= rank)
        node.fail("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
      if (!set.insert(a < 0 ? a + rank : a).second) node.fail("axis " + std::to_string(a) + " is given twice");
    }
    return set;
  };
  Shape out;
  if (op == "Unsqueeze") {
    const int64_t rank = static_cast<int64_t>(shape->size() + axes.size());
    const std::set<int64_t> at_axes = normalizedAxes(rank);
    for (int64_t d = 0, k = 0; d < rank; ++d) out.push_back(at_axes.count(d) ? 1 : (*shape)[k++]);
  } else {
    const int64_t rank = static_cast<int64_t>(shape->size());
    const std::set<int64_t> drop = normalizedAxes(rank);
    for (int64_t d = 0; d < rank; ++d)
      if (!(axes.empty() ? (*shape)[d] == 1 : drop.count(d) != 0)) out.push_back((*shape)[d]);
  }
  return reshapeTo(node, out);
}

void transpose(NodeContext& node) {
  const Val& x = node.req(0);
  Ints perm = node.attrInts("perm").value_or(Ints{});
  if (perm.empty()) {
    auto rank = node.rankOf(x);
    if (!rank) node.fail("needs a known input rank");
    for (int64_t d = *rank - 1; d >= 0; --d) perm.push_back(d);
  }
  return node.setOut(0, node.wrap(node.emit("permute", {node.irOf(x)}, {{"dims", perm}})));
}

}  // namespace

void addShapeConverters(ConverterTable& table) {
  table.add("Shape", shapeOrSize);
  table.add("Size", shapeOrSize);
  table.add("Flatten", flatten);
  table.add("Reshape", reshape);
  table.add("Unsqueeze", unsqueezeOrSqueeze);
  table.add("Squeeze", unsqueezeOrSqueeze);
  table.add("Transpose", transpose);
}

}  // namespace edgeopt::onnx_import::detail
