// QuantizeLinear / DequantizeLinear (the QDQ format, as EdgeOpt's qdq_onnx
// exporter, onnxruntime's quantizer and TIDL write it) read back as a
// quantized model:
//   QuantizeLinear(x) -> DequantizeLinear   an activation fake_quant (per tensor or per axis),
//   DequantizeLinear(integer constant)      a float weight (the grid values) -> weight fake_quant,
//   DequantizeLinear(int32 constant)        a float constant (a bias on the int32 grid).
// The fake_quant nodes hold the file's scales and zero points as buffers,
// observers fixed (observer_mode 0): the model computes what the file does,
// and QAT can go on from it. 16-bit grids may come in com.microsoft's domain.
#include <edgeopt/quant/qparams.h>

#include "onnx_converters.h"

namespace edgeopt::onnx_import::detail {
namespace {

struct Grid {
  int64_t min, max;
};

std::optional<Grid> gridOf(c10::ScalarType zero_point_type) {
  switch (zero_point_type) {
    case at::kByte:
      return Grid{0, 255};
    case at::kChar:
      return Grid{-128, 127};
    case at::kShort:
      return Grid{-32768, 32767};
    default:
      return std::nullopt;
  }
}

// Scale and zero point of a Q/DQ node: constants, per tensor (scalars) or
// per axis (1-D); a missing zero point is uint8 0.
struct QParams {
  at::Tensor scale, zero_point;  // float [C], int32 [C]
  int64_t axis = -1;             // -1: per tensor
  c10::ScalarType type = at::kByte;
};

QParams qparamsOf(const NodeContext& node, int64_t rank) {
  const Val& s = node.req(1);
  if (!s.isConst()) node.fail("the scale must be a constant");
  const Val* z = node.in(2);
  if (z && !z->isConst()) node.fail("the zero point must be a constant");
  QParams q;
  q.scale = s.constant.to(at::kFloat).flatten().contiguous();
  q.type = z ? z->constant.scalar_type() : at::kByte;
  q.zero_point = z ? z->constant.to(at::kInt).flatten().contiguous() : at::zeros_like(q.scale, at::kInt);
  if (q.zero_point.numel() != q.scale.numel()) node.fail("scale and zero point differ in size");
  if (s.constant.dim() > 1) node.fail("a blocked (" + std::to_string(s.constant.dim()) + "-d) scale");
  if (s.constant.dim() == 1 && s.constant.numel() > 1) {
    q.axis = node.attrInt("axis", 1);
    if (q.axis < 0) q.axis += rank;
    if (q.axis < 0 || q.axis >= rank) node.fail("axis " + std::to_string(node.attrInt("axis", 1)) + " out of range");
  }
  if (!(q.scale > 0).all().item<bool>()) node.failInput("scales must be positive");
  return q;
}

// The name a fake_quant and its buffers get: the exporter's "<node>.act_quant/quantized" -> "<node>.act_quant".
std::string baseName(const std::string& onnx_name, const std::string& fallback) {
  std::string s = onnx_name;
  const auto slash = s.rfind('/');
  if (slash != std::string::npos) s = s.substr(0, slash);
  s = sanitize(s);
  return s.empty() ? fallback : s;
}

// fake_quant(x) with the file's qparams as fixed buffers named "<prefix>.scale", ...
ir::Value* fakeQuant(NodeContext& node, ir::Value* x, const QParams& q, const Grid& grid, const std::string& role,
                     const std::string& prefix) {
  const at::Tensor zp = q.zero_point.to(at::kFloat);
  std::vector<at::Tensor> buffers = {q.scale,
                                     q.zero_point,
                                     q.scale * (static_cast<double>(grid.min) - zp),
                                     q.scale * (static_cast<double>(grid.max) - zp),
                                     at::zeros({1}, at::kLong),  // observer_mode: fixed
                                     at::ones({1}, at::kLong)};  // fake_quant_enabled
  std::vector<ir::Value*> inputs{x};
  const auto& suffixes = quant::fakeQuantBufferSuffixes();
  for (size_t i = 0; i < buffers.size(); ++i)
    inputs.push_back(node.paramFrom(buffers[i], prefix + "." + suffixes[i], ParamKind::Buffer));
  return node.emit("fake_quant", inputs,
                   {{"quant_min", grid.min},
                    {"quant_max", grid.max},
                    {"axis", q.axis},
                    {"observer", std::string("fixed")},
                    {"role", role}});
}

void quantizeLinear(NodeContext& node) {
  const Val& x = node.req(0);
  if (x.isConst()) node.fail("quantizing a constant (the file should hold its integers)");
  if (auto t = node.dtypeOf(x); t && *t != at::kFloat) node.fail("quantizing a non-float tensor");
  const QParams q = qparamsOf(node, node.rankOf(x).value_or(0));
  if (q.axis >= 0 && !node.rankOf(x)) node.fail("per-axis quantization of a tensor of unknown rank");
  const auto grid = gridOf(q.type);
  if (!grid) node.fail("zero point type " + std::string(c10::toString(q.type)) + " (8- or 16-bit grids only)");
  Val out;
  out.value = fakeQuant(node, node.irOf(x), q, *grid, "activation", baseName(node.outName(0), node.name()));
  // Integers: only a DequantizeLinear with the same qparams may read them.
  out.quantized = true;
  out.q_scale = q.scale;
  out.q_zero_point = q.zero_point;
  out.q_axis = q.axis;
  node.setOut(0, out);
}

void dequantizeLinear(NodeContext& node) {
  const Val& x = node.req(0);
  if (x.quantized) {
    // The pair QuantizeLinear -> DequantizeLinear is the fake_quant already emitted.
    const QParams q = qparamsOf(node, x.value && x.value->shape() ? static_cast<int64_t>(x.value->shape()->size()) : 0);
    if (q.axis != x.q_axis || !q.scale.equal(x.q_scale) || !q.zero_point.equal(x.q_zero_point))
      node.fail("dequantizes with other scales or zero points than its QuantizeLinear");
    return node.setOut(0, node.wrap(x.value));
  }
  if (!x.isConst()) node.fail("dequantizing a tensor that no QuantizeLinear produced");
  const at::Tensor& ints = x.constant;
  const QParams q = qparamsOf(node, ints.dim());
  if (gridOf(q.type) && q.type != ints.scalar_type()) node.failInput("the zero point's type differs from the input's");
  Shape view(static_cast<size_t>(ints.dim()), 1);
  if (q.axis >= 0) {
    if (ints.size(q.axis) != q.scale.numel()) node.failInput("per-axis scales don't match the input's axis");
    view[static_cast<size_t>(q.axis)] = -1;
  }
  const at::Tensor real = (ints.to(at::kFloat) - q.zero_point.to(at::kFloat).reshape(view)) * q.scale.reshape(view);
  const auto grid = gridOf(ints.scalar_type());
  if (!grid) {  // int32 (a bias): its float values
    Val out;
    out.constant = real;
    return node.setOut(0, out);
  }
  // A weight: the float values (on the grid) as a parameter, fake-quantized
  // with the file's qparams (which gives them back exactly).
  std::string prefix = baseName(node.outName(0), node.name());
  std::string weight_name = prefix;
  const std::string suffix = "_quant";
  if (endsWith(weight_name, suffix))
    weight_name.resize(weight_name.size() - suffix.size());
  else
    weight_name += ".value";
  ir::Value* w = node.paramFrom(real, weight_name, ParamKind::Parameter);
  node.setOut(0, node.wrap(fakeQuant(node, w, q, *grid, "weight", prefix)));
}

}  // namespace

void addQuantConverters(ConverterTable& table) {
  table.add("QuantizeLinear", quantizeLinear);
  table.add("DequantizeLinear", dequantizeLinear);
}

}  // namespace edgeopt::onnx_import::detail
