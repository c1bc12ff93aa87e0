// Ops evaluated with ATen while importing when all their inputs are
// constants: shape arithmetic (Shape, Gather, Concat, Unsqueeze, ...) and
// elementwise math on initializers, so none of it reaches the IR.
#include "onnx_converters.h"
#include "onnx_tensor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace edgeopt::onnx_import::detail {
namespace {

using Tensors = std::vector<at::Tensor>;

int64_t axisOf(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

Tensors div(const ConstInputs& c) {
  if (c.arg(0).is_floating_point()) return Tensors{at::div(c.arg(0), c.arg(1))};
  return Tensors{at::div(c.arg(0), c.arg(1), "trunc").to(c.arg(0).scalar_type())};
}

Tensors min(const ConstInputs& c) {
  at::Tensor r = c.arg(0);
  for (size_t i = 1; i < c.size(); ++i) r = at::minimum(r, c.arg(i));
  return Tensors{r};
}

Tensors max(const ConstInputs& c) {
  at::Tensor r = c.arg(0);
  for (size_t i = 1; i < c.size(); ++i) r = at::maximum(r, c.arg(i));
  return Tensors{r};
}

// The dims [start, end) of the input's shape (opset 15 added start/end).
Tensors shape(const ConstInputs& c) {
  int64_t rank = c.arg(0).dim();
  int64_t start = axisOf(c.node.attrInt("start", 0), rank), end = axisOf(c.node.attrInt("end", rank), rank);
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, start, rank);
  Ints sizes = c.arg(0).sizes().vec();
  return Tensors{at::tensor(Ints(sizes.begin() + start, sizes.begin() + end), at::kLong)};
}

Tensors cast(const ConstInputs& c) {
  auto type = scalarTypeOf(static_cast<int>(c.node.attrInt("to", 1)));
  if (!type) c.node.fail("Cast to an unsupported type");
  return Tensors{c.arg(0).to(*type)};
}

Tensors constantOfShape(const ConstInputs& c) {
  at::Tensor value = at::zeros({1}, at::kFloat);
  if (const auto* a = c.node.attr("value")) value = tensorFromProto(a->t(), c.node.baseDir());
  return Tensors{at::full(toInts(c.arg(0)), value.flatten()[0].item(), value.options())};
}

Tensors range(const ConstInputs& c) {
  return Tensors{
      at::arange(c.arg(0).item(), c.arg(1).item(), c.arg(2).item(), c.arg(0).options()).to(c.arg(0).scalar_type())};
}

Tensors expand(const ConstInputs& c) {
  Ints shape = toInts(c.arg(1));
  return Tensors{c.arg(0).expand(at::infer_size(c.arg(0).sizes(), shape)).contiguous()};
}

Tensors gather(const ConstInputs& c) {
  const at::Tensor& data = c.arg(0);
  int64_t axis = axisOf(c.node.attrInt("axis", 0), data.dim());
  at::Tensor idx = c.arg(1).to(at::kLong);
  idx = at::where(idx < 0, idx + data.size(axis), idx);
  Ints shape(data.sizes().begin(), data.sizes().begin() + axis);
  for (int64_t d : idx.sizes()) shape.push_back(d);
  for (int64_t d = axis + 1; d < data.dim(); ++d) shape.push_back(data.size(d));
  return Tensors{data.index_select(axis, idx.flatten()).reshape(shape)};
}

// Axes are an input from opset 13 on, an attribute before.
Tensors unsqueeze(const ConstInputs& c) {
  Ints axes = c.node.opset() >= 13 ? toInts(c.arg(1)) : c.node.attrInts("axes").value_or(Ints{});
  int64_t rank = c.arg(0).dim() + static_cast<int64_t>(axes.size());
  for (auto& a : axes) a = axisOf(a, rank);
  std::sort(axes.begin(), axes.end());
  at::Tensor r = c.arg(0);
  for (int64_t a : axes) r = r.unsqueeze(a);
  return Tensors{r};
}

Tensors squeeze(const ConstInputs& c) {
  Ints axes;
  if (c.node.opset() >= 13 && c.has(1)) axes = toInts(c.arg(1));
  else if (auto a = c.node.attrInts("axes")) axes = *a;
  at::Tensor r = c.arg(0);
  if (axes.empty()) return Tensors{r.squeeze()};
  for (auto& a : axes) a = axisOf(a, r.dim());
  std::sort(axes.rbegin(), axes.rend());
  for (int64_t a : axes) r = r.squeeze(a);
  return Tensors{r};
}

Tensors concat(const ConstInputs& c) {
  std::vector<at::Tensor> parts;
  for (size_t i = 0; i < c.size(); ++i)
    if (c.has(i)) parts.push_back(c.arg(i));
  return Tensors{at::cat(parts, c.node.attrInt("axis", 0))};
}

// A 0 in the shape keeps the input's dim unless allowzero is set.
Tensors reshape(const ConstInputs& c) {
  Ints shape = toInts(c.arg(1));
  if (c.node.attrInt("allowzero", 0) == 0)
    for (size_t i = 0; i < shape.size(); ++i)
      if (shape[i] == 0) shape[i] = c.arg(0).size(static_cast<int64_t>(i));
  return Tensors{c.arg(0).reshape(shape).contiguous()};
}

Tensors transpose(const ConstInputs& c) {
  Ints perm = c.node.attrInts("perm").value_or(Ints{});
  if (perm.empty())
    for (int64_t d = c.arg(0).dim() - 1; d >= 0; --d) perm.push_back(d);
  return Tensors{c.arg(0).permute(perm).contiguous()};
}

// starts/ends/axes are attributes before opset 10, inputs (with steps) after.
Tensors slice(const ConstInputs& c) {
  Ints starts, ends, axes, steps;
  if (c.node.opset() < 10) {
    starts = c.node.attrInts("starts").value_or(Ints{});
    ends = c.node.attrInts("ends").value_or(Ints{});
    axes = c.node.attrInts("axes").value_or(Ints{});
  } else {
    starts = toInts(c.arg(1));
    ends = toInts(c.arg(2));
    if (c.has(3)) axes = toInts(c.arg(3));
    if (c.has(4)) steps = toInts(c.arg(4));
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps = Ints(starts.size(), 1);
  at::Tensor r = c.arg(0);
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t axis = axisOf(axes[i], r.dim());
    if (steps[i] == 0) c.node.failInput("Slice with step 0");
    if (steps[i] > 0) {
      r = r.slice(axis, starts[i], ends[i], steps[i]);
      continue;
    }
    // A negative step walks down from start (clamped to [0, n - 1]) to end
    // (clamped to [-1, n - 1]), exclusive; ONNX's rule, as torch.onnx writes
    // its index arithmetic on shapes.
    const int64_t n = r.size(axis);
    if (n == 0) continue;
    int64_t start = starts[i] < 0 ? starts[i] + n : starts[i], end = ends[i] < 0 ? ends[i] + n : ends[i];
    start = std::clamp<int64_t>(start, 0, n - 1);
    end = std::clamp<int64_t>(end, -1, n - 1);
    r = start > end ? r.index_select(axis, at::arange(start, end, steps[i], at::kLong)) : r.slice(axis, 0, 0);
  }
  return Tensors{r.contiguous()};
}

// Mod: fmod = 0 takes the divisor's sign (Python's %, integers only), fmod = 1 the dividend's (C's fmod).
Tensors mod(const ConstInputs& c) {
  if (c.node.attrInt("fmod", 0) == 1) return Tensors{at::fmod(c.arg(0), c.arg(1)).to(c.arg(0).scalar_type())};
  if (c.arg(0).is_floating_point()) c.node.fail("Mod of floats needs fmod = 1");
  return Tensors{at::remainder(c.arg(0), c.arg(1)).to(c.arg(0).scalar_type())};
}

// ScatterND without reduction: data with data[indices[i]] = updates[i] (a
// window mask written region by region, as torch.onnx spells x[a:b, c:d] = v).
Tensors scatterNd(const ConstInputs& c) {
  if (c.node.attrString("reduction", "none") != "none") c.node.fail("ScatterND with a reduction");
  at::Tensor out = c.arg(0).clone();
  const at::Tensor idx = c.arg(1).to(at::kLong);
  if (idx.dim() < 1 || idx.size(-1) > out.dim()) c.node.fail("ScatterND indices of a wrong shape");
  const int64_t k = idx.size(-1);
  const at::Tensor flat = idx.reshape({-1, k});
  Ints rest{flat.size(0)};
  for (int64_t d = k; d < out.dim(); ++d) rest.push_back(out.size(d));
  c10::List<c10::optional<at::Tensor>> index;
  for (int64_t d = 0; d < k; ++d) {
    at::Tensor i = flat.select(1, d);
    index.push_back(at::where(i < 0, i + out.size(d), i));
  }
  out.index_put_(index, c.arg(2).reshape(rest).to(out.scalar_type()));
  return Tensors{out};
}

// What a folder allocates, bounded before it runs: file-declared shapes and
// values (ConstantOfShape's shape, Tile's repeats, Range's bounds, Gather's
// indices, broadcasting) make a small file ask for any amount of memory.
// Counts saturate at 2^64 - 1.
uint64_t saturatingMul(uint64_t a, uint64_t b) {
  return a != 0 && b > std::numeric_limits<uint64_t>::max() / a ? std::numeric_limits<uint64_t>::max() : a * b;
}

uint64_t saturatingAdd(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a ? std::numeric_limits<uint64_t>::max() : a + b;
}

// Elements of a shape; 0 for a negative dim (ATen refuses it before allocating).
uint64_t elementsOf(const Ints& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return 0;
    n = saturatingMul(n, static_cast<uint64_t>(d));
  }
  return n;
}

// NumPy broadcasting of `shapes`, each dim the larger of the aligned ones (a
// mismatch fails in ATen, before allocating).
Ints broadcastShape(const std::vector<Ints>& shapes) {
  size_t rank = 0;
  for (const Ints& s : shapes) rank = std::max(rank, s.size());
  Ints out(rank, 1);
  for (const Ints& s : shapes)
    for (size_t i = 0; i < s.size(); ++i) out[rank - s.size() + i] = std::max(out[rank - s.size() + i], s[i]);
  return out;
}

uint64_t rangeElements(const ConstInputs& c) {
  for (size_t i = 0; i < 3; ++i)
    if (!c.has(i) || c.arg(i).numel() != 1) return 0;
  const double start = c.arg(0).item<double>(), limit = c.arg(1).item<double>(), delta = c.arg(2).item<double>();
  const double n = std::ceil((limit - start) / delta);
  if (!std::isfinite(n) || n <= 0) return 0;  // at::arange refuses non-finite bounds and a zero step
  return n >= 1.8e19 ? std::numeric_limits<uint64_t>::max() : static_cast<uint64_t>(n);
}

uint64_t gatherElements(const ConstInputs& c) {
  if (!c.has(0) || !c.has(1)) return 0;
  const Ints data = c.arg(0).sizes().vec();
  const int64_t axis = axisOf(c.node.attrInt("axis", 0), static_cast<int64_t>(data.size()));
  if (axis < 0 || axis >= static_cast<int64_t>(data.size())) return 0;
  Ints out = c.arg(1).sizes().vec();
  for (size_t d = 0; d < data.size(); ++d)
    if (static_cast<int64_t>(d) != axis) out.push_back(data[d]);
  return elementsOf(out);
}

}  // namespace

uint64_t foldedOutputBytes(const ConstInputs& c) {
  const std::string& op = c.node.opType();
  if (!c.has(0)) return 0;  // the folder fails first
  // Most folders make at most their first input's elements (Identity, Reshape
  // and Squeeze a view of them); small integers may come out as floats (Sqrt of uint8).
  uint64_t elements = static_cast<uint64_t>(c.arg(0).numel());
  uint64_t element_size = std::max<uint64_t>(c.arg(0).element_size(), 4);
  uint64_t all_elements = 0, widest = 4;
  std::vector<Ints> shapes;
  for (size_t i = 0; i < c.size(); ++i) {
    if (!c.has(i)) continue;
    all_elements = saturatingAdd(all_elements, static_cast<uint64_t>(c.arg(i).numel()));
    widest = std::max<uint64_t>(widest, c.arg(i).element_size());
    shapes.push_back(c.arg(i).sizes().vec());
  }
  static const std::set<std::string> broadcasting = {"Add",
                                                     "Sub",
                                                     "Mul",
                                                     "Div",
                                                     "Mod",
                                                     "Pow",
                                                     "Min",
                                                     "Max",
                                                     "Equal",
                                                     "Less",
                                                     "Greater",
                                                     "LessOrEqual",
                                                     "GreaterOrEqual",
                                                     "And",
                                                     "Or",
                                                     "Xor",
                                                     "Where"};
  if (op == "ConstantOfShape") {
    elements = elementsOf(toInts(c.arg(0)));
    const auto* value = c.node.attr("value");
    auto type = value ? scalarTypeOf(value->t().data_type()) : std::optional<c10::ScalarType>(at::kFloat);
    element_size = type ? c10::elementSize(*type) : 8;
  } else if (op == "Expand" && c.has(1)) {
    elements = elementsOf(broadcastShape({c.arg(0).sizes().vec(), toInts(c.arg(1))}));
  } else if (op == "Tile" && c.has(1)) {
    // at::repeat: one repeat per dim of the input padded with leading 1s (fewer repeats are refused).
    Ints repeats = toInts(c.arg(1)), sizes = c.arg(0).sizes().vec();
    if (repeats.size() < sizes.size()) return 0;
    elements = elementsOf(sizes);
    for (int64_t r : repeats) {
      if (r < 0) return 0;  // refused too
      elements = saturatingMul(elements, static_cast<uint64_t>(r));
    }
  } else if (op == "Range") {
    elements = rangeElements(c);
  } else if (op == "Gather") {
    elements = gatherElements(c);
  } else if (broadcasting.count(op)) {
    elements = elementsOf(broadcastShape(shapes));
    element_size = widest;
  } else if (op == "Concat") {
    elements = all_elements;
    element_size = widest;
  } else if (op == "Cast") {
    auto type = scalarTypeOf(static_cast<int>(c.node.attrInt("to", 1)));
    element_size = type ? c10::elementSize(*type) : 8;
  } else if (op == "CastLike" && c.has(1)) {
    element_size = c.arg(1).element_size();
  }
  return saturatingMul(elements, element_size);
}

void addConstantFolders(FolderTable& table) {
  using C = const ConstInputs&;
  table.add("Identity", [](C c) { return Tensors{c.arg(0)}; });
  table.add("Neg", [](C c) { return Tensors{at::neg(c.arg(0))}; });
  table.add("Abs", [](C c) { return Tensors{at::abs(c.arg(0))}; });
  table.add("Sqrt", [](C c) { return Tensors{at::sqrt(c.arg(0))}; });
  table.add("Exp", [](C c) { return Tensors{at::exp(c.arg(0))}; });
  table.add("Log", [](C c) { return Tensors{at::log(c.arg(0))}; });
  table.add("Floor", [](C c) { return Tensors{at::floor(c.arg(0))}; });
  table.add("Ceil", [](C c) { return Tensors{at::ceil(c.arg(0))}; });
  table.add("Reciprocal", [](C c) { return Tensors{at::reciprocal(c.arg(0))}; });
  table.add("Not", [](C c) { return Tensors{at::logical_not(c.arg(0))}; });
  // Arithmetic keeps the first operand's dtype, as ONNX's same-type operands do.
  table.add("Add", [](C c) { return Tensors{at::add(c.arg(0), c.arg(1)).to(c.arg(0).scalar_type())}; });
  table.add("Sub", [](C c) { return Tensors{at::sub(c.arg(0), c.arg(1)).to(c.arg(0).scalar_type())}; });
  table.add("Mul", [](C c) { return Tensors{at::mul(c.arg(0), c.arg(1)).to(c.arg(0).scalar_type())}; });
  table.add("Div", div);
  table.add("Mod", mod);
  table.add("ScatterND", scatterNd);
  table.add("Pow", [](C c) { return Tensors{at::pow(c.arg(0), c.arg(1)).to(c.arg(0).scalar_type())}; });
  table.add("Min", min);
  table.add("Max", max);
  table.add("Equal", [](C c) { return Tensors{at::eq(c.arg(0), c.arg(1))}; });
  table.add("Less", [](C c) { return Tensors{at::lt(c.arg(0), c.arg(1))}; });
  table.add("Greater", [](C c) { return Tensors{at::gt(c.arg(0), c.arg(1))}; });
  table.add("LessOrEqual", [](C c) { return Tensors{at::le(c.arg(0), c.arg(1))}; });
  table.add("GreaterOrEqual", [](C c) { return Tensors{at::ge(c.arg(0), c.arg(1))}; });
  table.add("And", [](C c) { return Tensors{at::logical_and(c.arg(0), c.arg(1))}; });
  table.add("Or", [](C c) { return Tensors{at::logical_or(c.arg(0), c.arg(1))}; });
  table.add("Xor", [](C c) { return Tensors{at::logical_xor(c.arg(0), c.arg(1))}; });
  table.add("Where", [](C c) { return Tensors{at::where(c.arg(0), c.arg(1), c.arg(2))}; });
  table.add("Shape", shape);
  table.add("Size", [](C c) { return Tensors{at::scalar_tensor(c.arg(0).numel(), at::kLong)}; });
  table.add("Cast", cast);
  table.add("CastLike", [](C c) { return Tensors{c.arg(0).to(c.arg(1).scalar_type())}; });
  table.add("ConstantOfShape", constantOfShape);
  table.add("Range", range);
  table.add("Expand", expand);
  table.add("Tile", [](C c) { return Tensors{c.arg(0).repeat(toInts(c.arg(1)))}; });
  table.add("Gather", gather);
  table.add("Unsqueeze", unsqueeze);
  table.add("Squeeze", squeeze);
  table.add("Concat", concat);
  table.add("Reshape", reshape);
  table.add("Transpose", transpose);
  table.add("Slice", slice);
}

}  // namespace edgeopt::onnx_import::detail
