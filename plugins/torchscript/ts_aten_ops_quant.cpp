// Fake quantization, as EdgeOpt's TorchScript export of a quantized model
// writes it (ops_quant.cpp's emitters) and torch.ao's FakeQuantize calls it:
//   fake_quantize_per_tensor_affine(x, scale, zero_point, quant_min, quant_max)
//   fake_quantize_per_channel_affine(x, scale, zero_point, axis, quant_min, quant_max)
// with scale and zero_point the buffers of a fake-quantizer module P (P.scale,
// P.zero_point, P.min_val, P.max_val, P.observer_mode, P.fake_quant_enabled)
// -> the IR's fake_quant on those buffers, observers fixed (the export runs
// none). A per-channel fake-quantization on the int32 grid with zero points
// zeros_like(b) is the export's quantized bias -> bias_quant.
#include <edgeopt/quant/qparams.h>

#include <limits>

#include "ts_aten_ops.h"

namespace edgeopt::torchscript::detail {
namespace {

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The quantizer module's six buffers, or empty when `scale`/`zero_point` are not P.scale/P.zero_point.
std::vector<ir::Value*> quantizerBuffers(OpContext& c, const SVal& scale, const SVal& zero_point, std::string& prefix) {
  if (!scale.isTensor() || !zero_point.isTensor()) return {};
  const std::string& s = scale.cell->param;
  if (!endsWith(s, ".scale") || zero_point.cell->param != s.substr(0, s.size() - 6) + ".zero_point") return {};
  prefix = s.substr(0, s.size() - 6);
  std::vector<ir::Value*> buffers;
  const auto& suffixes = quant::fakeQuantBufferSuffixes();
  for (size_t i = quant::kScale; i <= quant::kFakeQuantEnabled; ++i) {
    ir::Value* v = c.moduleTensor(prefix + "." + suffixes[i - quant::kScale]);
    if (!v) return {};
    buffers.push_back(v);
  }
  return buffers;
}

bool isZerosLike(ir::Value* v) {
  const ir::Node* p = v ? v->producer() : nullptr;
  return p && p->opcode() == ir::Opcode::Call && p->target() == "full_like" && p->get<double>("value") == 0.0;
}

void fakeQuantize(OpContext& c) {
  const bool per_channel = c.base == "fake_quantize_per_channel_affine";
  const size_t q = per_channel ? 4 : 3;
  auto axis = per_channel ? asInt(c.in[3]) : std::optional<int64_t>(-1);
  auto qmin = asInt(c.in[q]), qmax = asInt(c.in[q + 1]);
  if (!axis || !qmin || !qmax) return c.fail("axis, quant_min and quant_max must be constants");
  ir::Value* x = c.tensorAt(0);
  if (!x) return c.fail("input is not a tensor");
  std::string prefix;
  std::vector<ir::Value*> buffers = quantizerBuffers(c, c.in[1], c.in[2], prefix);
  if (!buffers.empty()) {
    std::vector<ir::Value*> inputs{x};
    inputs.insert(inputs.end(), buffers.begin(), buffers.end());
    const bool weight = *axis >= 0 || endsWith(prefix, "weight_quant");
    return c.done(c.emit("fake_quant", inputs,
                         {{"quant_min", *qmin},
                          {"quant_max", *qmax},
                          {"axis", *axis},
                          {"observer", std::string("fixed")},
                          {"role", std::string(weight ? "weight" : "activation")}}));
  }
  if (per_channel && *axis == 0 && *qmin == std::numeric_limits<int32_t>::min() &&
      *qmax == std::numeric_limits<int32_t>::max() && isZerosLike(c.tensorAt(2))) {
    // bias_quant(b, input_scale, weight_scale, enabled) quantizes on input_scale * weight_scale:
    // the scale as it is, times one, always enabled (the branch was taken).
    ir::Value* scale = c.tensorAt(1);
    ir::Value* one = c.valueOf(SVal::constant(at::ones({1}, at::kFloat)));
    ir::Value* enabled = c.valueOf(SVal::constant(at::ones({1}, at::kLong)));
    if (!scale) return c.fail("scale is not a tensor");
    return c.done(c.emit("bias_quant", {x, scale, one, enabled}));
  }
  return c.fail(
      "scales and zero points other than the buffers of a fake-quantizer module (P.scale, P.zero_point, "
      "P.min_val, P.max_val, P.observer_mode, P.fake_quant_enabled) or an int32 bias grid");
}

}  // namespace

void addQuantOps(AtenOpTable& table) {
  table.add("fake_quantize_per_tensor_affine", fakeQuantize);
  table.add("fake_quantize_per_channel_affine", fakeQuantize);
}

}  // namespace edgeopt::torchscript::detail
