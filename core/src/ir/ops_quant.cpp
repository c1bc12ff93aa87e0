// Quantization ops (quant/quantize.h documents them):
//   fake_quant      observer + EdgeOpt's fake-quantize kernels (quant/fake_quant.h),
//                   optionally with the ReLU/ReLU6 before it folded in (fused_activation)
//   bn_fold_weight  w * gamma / sqrt(running_var + eps)
//   conv_bn_qat     torch.ao ConvBn2d QAT semantics (BN folding simulated)
//   bias_quant      a bias on the int32 grid of input scale * weight scale
// Export: fake_quant is QuantizeLinear -> DequantizeLinear (a constant input,
// i.e. a weight, becomes an integer initializer + DequantizeLinear; 16-bit
// grids use com.microsoft's Q/DQ); conv_bn_qat is Conv with the folded bias
// (inference form). TorchScript: torch.fake_quantize_per_{tensor,channel}_affine
// with the buffers (observers are not emitted) and the folded conv.
#include "ops_common.h"

#include <edgeopt/quant/fake_quant.h>
#include <edgeopt/quant/qparams.h>

#include <cmath>
#include <optional>

namespace edgeopt::quant {

ConvBnQatInputs ConvBnQatInputs::of(const ir::Node& n) {
  ConvBnQatInputs c;
  if (n.getOr<bool>("has_bias", false)) c.bias = c.count++;
  if (n.getOr<bool>("has_num_batches_tracked", false)) c.num_batches_tracked = c.count++;
  if (n.getOr<bool>("has_bias_quant", false)) {
    c.input_scale = c.count++;
    c.weight_scale = c.count++;
    c.enabled = c.count++;
  }
  return c;
}

}  // namespace edgeopt::quant

namespace edgeopt::ir::ops {
namespace {

using namespace edgeopt::quant;

int64_t flag(const at::Tensor& t) { return t.item<int64_t>(); }

// ---- fake_quant ----------------------------------------------------------

// The fused activation as its own op computes it (fake-quantization off).
at::Tensor applyActivation(const at::Tensor& x, const std::optional<FusedClamp>& clamp) {
  if (!clamp) return x;
  return std::isinf(clamp->hi) ? at::relu(x) : at::hardtanh(x, clamp->lo, clamp->hi);
}

Tensors fakeQuantKernel(const Node& n, const Tensors& in, const ExecContext& ctx) {
  const int64_t mode = flag(in[kObserverMode]);
  if (mode == 2 || (mode == 1 && ctx.training)) observe(n, in);
  at::Tensor x = in[kX];
  const std::optional<FusedClamp> clamp = fusedClampOf(n);
  if (flag(in[kFakeQuantEnabled]) == 0) return {applyActivation(x, clamp)};
  // Pruned weights: exact zeros stay zero and get no gradient.
  if (n.getOr<bool>("preserve_zeros", false)) x = x * x.ne(0);
  const int64_t qmin = n.get<int64_t>("quant_min"), qmax = n.get<int64_t>("quant_max");
  const int64_t axis = n.getOr<int64_t>("axis", -1);
  if (axis < 0) {
    const at::Tensor &scale = in[kScale], &zero_point = in[kZeroPoint];
    const float s = scale.scalar_type() == at::kFloat ? *scale.data_ptr<float>() : scale.item<float>();
    const int64_t z = zero_point.scalar_type() == at::kInt ? *zero_point.data_ptr<int32_t>() : zero_point.item<int64_t>();
    return {fakeQuantizePerTensor(x, s, z, qmin, qmax, clamp)};
  }
  return {fakeQuantizePerChannel(x, in[kScale], in[kZeroPoint], axis, qmin, qmax)};
}

std::vector<Shape> fakeQuantShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  const int64_t axis = n.getOr<int64_t>("axis", -1);
  check(n, n.hasAttr("quant_min") && n.hasAttr("quant_max"), "needs attributes quant_min and quant_max");
  check(n, n.get<int64_t>("quant_min") < n.get<int64_t>("quant_max"), "quant_min must be below quant_max");
  const int64_t channels = axis < 0 ? 1 : x.at(normalizeDim(n, axis, x.size()));
  for (size_t i = kScale; i <= kMaxVal; ++i)
    check(n, in[i] == Shape{channels}, "input " + std::to_string(i) + " has shape " + formatShape(in[i]) +
                                           ", expected [" + std::to_string(channels) + "]");
  for (size_t i = kObserverMode; i <= kFakeQuantEnabled; ++i)
    check(n, numel(in[i]) == 1, "input " + std::to_string(i) + " must hold one value");
  if (n.getOr<std::string>("observer", "") == "histogram")
    check(n, in.size() == kHistogramRange + 1 && in[kHistogramRange] == Shape{2},
          "histogram observers need histogram and histogram_range inputs");
  return {x};
}

struct OnnxQType {
  at::ScalarType dtype;
  std::string domain;  // "" or com.microsoft (16-bit)
  int64_t min, max;
};

OnnxQType onnxQType(OnnxEmitContext& ctx, int64_t qmin, int64_t qmax) {
  if (qmin >= 0 && qmax <= 255) return {at::kByte, "", 0, 255};
  if (qmin >= -128 && qmax <= 127) return {at::kChar, "", -128, 127};
  if (qmin >= -32768 && qmax <= 32767) {
    ctx.graph.extraOpsets()["com.microsoft"] = 1;
    return {at::kShort, "com.microsoft", -32768, 32767};
  }
  ctx.fail("no ONNX integer type holds the grid [" + std::to_string(qmin) + ", " + std::to_string(qmax) + "]");
}

void fakeQuantOnnx(OnnxEmitContext& ctx) {
  const Node& n = ctx.node;
  const at::Tensor* scale = ctx.constantInput(kScale);
  const at::Tensor* zero_point = ctx.constantInput(kZeroPoint);
  const at::Tensor* enabled = ctx.constantInput(kFakeQuantEnabled);
  if (!scale || !zero_point || !enabled) ctx.fail("scale, zero_point and fake_quant_enabled must be module buffers");
  // A fused ReLU/ReLU6 is exported as the op it was (Relu, Clip) before Q/DQ.
  std::string x = ctx.inputs[0];
  if (const std::optional<FusedClamp> clamp = fusedClampOf(n)) {
    const std::string act = flag(*enabled) == 0 ? ctx.outputs[0] : ctx.temp(std::isinf(clamp->hi) ? "relu" : "relu6");
    if (std::isinf(clamp->hi)) ctx.add("Relu", {x}, {act});
    else ctx.add("Clip", {x, ctx.scalar("min", clamp->lo), ctx.scalar("max", clamp->hi)}, {act});
    if (flag(*enabled) == 0) return;
    x = act;
  } else if (flag(*enabled) == 0) {
    ctx.add("Identity", {x}, {ctx.outputs[0]});
    return;
  }
  const int64_t qmin = n.get<int64_t>("quant_min"), qmax = n.get<int64_t>("quant_max");
  const int64_t axis = n.getOr<int64_t>("axis", -1);
  const OnnxQType t = onnxQType(ctx, qmin, qmax);
  at::Tensor s = scale->detach().to(at::kFloat), zp = zero_point->detach().to(at::kInt);
  const std::string scale_name = ctx.graph.addInitializer(n.name() + "/scale", axis < 0 ? s.reshape({}) : s);
  const std::string zp_name =
      ctx.graph.addInitializer(n.name() + "/zero_point", (axis < 0 ? zp.reshape({}) : zp).to(t.dtype));
  auto qdq = [&](const std::string& op, const std::string& in, const std::string& out) {
    OnnxNode& node = ctx.add(op, {in, scale_name, zp_name}, {out});
    node.domain = t.domain;
    if (axis >= 0) node.attr("axis", axis);
  };
  if (const at::Tensor* w = ctx.constantInput(kX)) {
    // A weight: integers as the kernel's fake-quantization rounds them.
    at::NoGradGuard no_grad;
    at::Tensor x = w->detach().to(at::kFloat);
    at::Tensor fq = axis < 0 ? at::fake_quantize_per_tensor_affine(x, s, zp, qmin, qmax)
                             : at::fake_quantize_per_channel_affine(x, s, zp, axis, qmin, qmax);
    Shape view(static_cast<size_t>(x.dim()), 1);
    if (axis >= 0) view[static_cast<size_t>(axis)] = -1;
    at::Tensor q = at::round(fq / s.reshape(view)) + zp.reshape(view);
    const std::string q_name = ctx.graph.addInitializer(n.name() + "/quantized", q.to(t.dtype));
    qdq("DequantizeLinear", q_name, ctx.outputs[0]);
    return;
  }
  const std::string q = ctx.temp("quantized");
  const bool narrow = qmin > t.min || qmax < t.max;
  const std::string dq = narrow ? ctx.temp("dequantized") : ctx.outputs[0];
  qdq("QuantizeLinear", x, q);
  qdq("DequantizeLinear", q, dq);
  if (narrow) {  // a grid narrower than the ONNX type (e.g. 4-bit): clip to it
    if (axis >= 0) ctx.fail("per-channel activation quantizers with a narrow grid can't be exported");
    const float sc = s.item<float>();
    const int64_t z = zp.item<int64_t>();
    ctx.add("Clip", {dq, ctx.scalar("min", float(qmin - z) * sc), ctx.scalar("max", float(qmax - z) * sc)},
            {ctx.outputs[0]});
  }
}

std::string fakeQuantScript(ScriptEmitContext& ctx) {
  const Node& n = ctx.node;
  const std::string qmin = script::integer(n.get<int64_t>("quant_min"));
  const std::string qmax = script::integer(n.get<int64_t>("quant_max"));
  const int64_t axis = n.getOr<int64_t>("axis", -1);
  const auto& in = ctx.inputs;
  std::string x = in[kX];
  if (const std::optional<FusedClamp> clamp = fusedClampOf(n))
    x = std::isinf(clamp->hi) ? "torch.relu(" + x + ")" : "torch.hardtanh(" + x + ", 0.0, 6.0)";
  const std::string activation = x;
  if (n.getOr<bool>("preserve_zeros", false)) x = "(" + x + " * torch.ne(" + x + ", 0))";
  std::string fq = axis < 0 ? ctx.call("torch.fake_quantize_per_tensor_affine", {x, in[kScale], in[kZeroPoint], qmin, qmax})
                            : ctx.call("torch.fake_quantize_per_channel_affine",
                                       {x, in[kScale], in[kZeroPoint], script::integer(axis), qmin, qmax});
  // The enable flag stays a buffer: Python can switch fake-quantization off.
  return "(" + fq + " if bool(torch.ne(" + in[kFakeQuantEnabled] + ", 0).any()) else " + activation + ")";
}

// ---- bn_fold_weight ------------------------------------------------------

at::Tensor channelView(const at::Tensor& t, int64_t rank, int64_t dim) {
  std::vector<int64_t> view(static_cast<size_t>(rank), 1);
  view[static_cast<size_t>(dim)] = -1;
  return t.reshape(view);
}

Tensors bnFoldWeightKernel(const Node& n, const Tensors& in, const ExecContext&) {
  const at::Tensor factor = in[kFoldGamma] / at::sqrt(in[kFoldRunningVar] + n.getOr<double>("eps", 1e-5));
  return {in[kFoldWeight] * channelView(factor, in[kFoldWeight].dim(), 0)};
}

std::vector<Shape> bnFoldWeightShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& w = in[kFoldWeight];
  check(n, !w.empty() && in[kFoldGamma] == Shape{w[0]} && in[kFoldRunningVar] == Shape{w[0]},
        "gamma and running_var must have shape [" + (w.empty() ? "?" : std::to_string(w[0])) + "]");
  return {w};
}

std::string scaleFactorOnnx(OnnxEmitContext& ctx, size_t gamma, size_t var) {
  std::string var_eps = ctx.temp("var_eps"), std_dev = ctx.temp("std"), factor = ctx.temp("scale_factor");
  ctx.add("Add", {ctx.inputs[var], ctx.scalar("eps", float(ctx.node.getOr<double>("eps", 1e-5)))}, {var_eps});
  ctx.add("Sqrt", {var_eps}, {std_dev});
  ctx.add("Div", {ctx.inputs[gamma], std_dev}, {factor});
  return factor;
}

void bnFoldWeightOnnx(OnnxEmitContext& ctx) {
  const std::string factor = scaleFactorOnnx(ctx, kFoldGamma, kFoldRunningVar), shaped = ctx.temp("scale_factor_4d");
  Ints view(ctx.inputRank(kFoldWeight), 1);
  view[0] = -1;
  ctx.add("Reshape", {factor, ctx.ints("shape", view)}, {shaped});
  ctx.add("Mul", {ctx.inputs[kFoldWeight], shaped}, {ctx.outputs[0]});
}

std::string scaleFactorScript(ScriptEmitContext& ctx, size_t gamma, size_t var) {
  return "(" + ctx.inputs[gamma] + " / torch.sqrt(" + ctx.inputs[var] + " + " +
         script::number(ctx.node.getOr<double>("eps", 1e-5)) + "))";
}

// ---- bias_quant ------------------------------------------------------------
// bias_quant(bias, input_scale, weight_scale, enabled): the bias on the int32
// grid of scale input_scale * weight_scale (per output channel), as integer
// backends and the QDQ export (int32 + DequantizeLinear) hold it; `enabled` is
// the weight quantizer's fake_quant_enabled (off: the float bias).

constexpr int64_t kInt32Min = -2147483648LL, kInt32Max = 2147483647LL;

at::Tensor biasScale(const at::Tensor& input_scale, const at::Tensor& weight_scale, int64_t channels) {
  return (input_scale.detach().to(at::kFloat) * weight_scale.detach().to(at::kFloat)).expand({channels}).contiguous();
}

at::Tensor quantizeBias(const at::Tensor& b, const at::Tensor& input_scale, const at::Tensor& weight_scale,
                        const at::Tensor& enabled) {
  if (flag(enabled) == 0) return b;
  return at::fake_quantize_per_channel_affine(b, biasScale(input_scale, weight_scale, b.size(0)),
                                              at::zeros({b.size(0)}, at::kInt), 0, kInt32Min, kInt32Max);
}

// A constant bias as an int32 initializer + DequantizeLinear into `out`.
void biasOnnx(OnnxEmitContext& ctx, const at::Tensor& b, const at::Tensor& s_in, const at::Tensor& s_w,
              const at::Tensor& enabled, const std::string& out) {
  at::NoGradGuard no_grad;
  const std::string name = ctx.node.name();
  if (flag(enabled) == 0) {
    ctx.add("Identity", {ctx.graph.addInitializer(name + "/bias", b.detach().to(at::kFloat))}, {out});
    return;
  }
  const at::Tensor scale = biasScale(s_in, s_w, b.size(0));
  const at::Tensor q = at::round(quantizeBias(b.detach().to(at::kFloat), s_in, s_w, enabled) / scale).to(at::kInt);
  ctx.add("DequantizeLinear", {ctx.graph.addInitializer(name + "/bias_quantized", q),
                               ctx.graph.addInitializer(name + "/bias_scale", scale),
                               ctx.graph.addInitializer(name + "/bias_zero_point", at::zeros({b.size(0)}, at::kInt))},
          {out})
      .attr("axis", int64_t{0});
}

// dtype=3 is torch.int32 (Module::define resolves no torch.<dtype> names).
std::string biasScript(const std::string& b, const std::string& s_in, const std::string& s_w, const std::string& enabled) {
  return "(torch.fake_quantize_per_channel_affine(" + b + ", (" + s_in + " * " + s_w + ").expand_as(" + b +
         "), torch.zeros_like(" + b + ", dtype=3), 0, " + script::integer(kInt32Min) + ", " + script::integer(kInt32Max) +
         ") if bool(torch.ne(" + enabled + ", 0).any()) else " + b + ")";
}

void biasQuantOnnx(OnnxEmitContext& ctx) {
  const at::Tensor *b = ctx.constantInput(0), *s_in = ctx.constantInput(1), *s_w = ctx.constantInput(2);
  const at::Tensor* enabled = ctx.constantInput(3);
  if (!b || !s_in || !s_w || !enabled) ctx.fail("bias, scales and enable flag must be module tensors");
  biasOnnx(ctx, *b, *s_in, *s_w, *enabled, ctx.outputs[0]);
}

// ---- conv_bn_qat ----------------------------------------------------------
// Inputs: ConvBnQatInput and ConvBnQatInputs (quant/qparams.h).

at::Tensor convOf(const Node& n, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return at::conv2d(x, w, b, expand(n, "stride", 2, 1), expand(n, "padding", 2, 0), expand(n, "dilation", 2, 1),
                    n.getOr<int64_t>("groups", 1));
}

// beta + (bias - mean) * gamma / sqrt(var + eps), on the int32 grid if asked.
at::Tensor foldedBias(const Node& n, const Tensors& in, const at::Tensor& factor) {
  const ConvBnQatInputs c = ConvBnQatInputs::of(n);
  at::Tensor shift = c.bias ? in[c.bias] - in[kConvBnRunningMean] : -in[kConvBnRunningMean];
  at::Tensor b = in[kConvBnBeta] + shift * factor;
  return c.input_scale ? quantizeBias(b, in[c.input_scale], in[c.weight_scale], in[c.enabled]) : b;
}

Tensors convBnQatKernel(const Node& n, const Tensors& in, const ExecContext& ctx) {
  const ConvBnQatInputs c = ConvBnQatInputs::of(n);
  const at::Tensor &x = in[kConvBnX], &w = in[kConvBnWeight], &gamma = in[kConvBnGamma], &beta = in[kConvBnBeta];
  const at::Tensor &mean = in[kConvBnRunningMean], &var = in[kConvBnRunningVar];
  const double eps = n.getOr<double>("eps", 1e-5);
  const at::Tensor factor = gamma / at::sqrt(var + eps);  // from the running variance before this batch
  if (ctx.training && flag(in[kConvBnFrozen]) == 0) {
    // torch.ao's conv(x, w_q) / factor, with the division moved onto the
    // (small) weight: the same values, no extra activation-sized tensor.
    at::Tensor y = convOf(n, x, w / channelView(factor, 4, 0), at::Tensor());
    if (c.bias) y = y + channelView(in[c.bias], 4, 1);
    y = at::batch_norm(y, gamma, beta, mean, var, true, n.getOr<double>("momentum", 0.1), eps, true);
    if (c.num_batches_tracked) {
      at::NoGradGuard no_grad;
      in[c.num_batches_tracked].add_(1);
    }
    return {y};
  }
  return {convOf(n, x, w, foldedBias(n, in, factor))};
}

std::vector<Shape> convBnQatShape(const Node& n, const std::vector<Shape>& in) {
  const Shape &x = in[kConvBnX], &w = in[kConvBnWeight];
  check(n, x.size() == 4 && w.size() == 4, "input and weight must be 4-D");
  const int64_t groups = n.getOr<int64_t>("groups", 1);
  check(n, x[1] == w[1] * groups, "input channels " + std::to_string(x[1]) + " don't match weight " + formatShape(w));
  for (size_t i = kConvBnGamma; i <= kConvBnRunningVar; ++i)
    check(n, in[i] == Shape{w[0]}, "BN input " + std::to_string(i) + " has shape " + formatShape(in[i]));
  check(n, in.size() == ConvBnQatInputs::of(n).count,
        "input count doesn't match has_bias/has_num_batches_tracked/has_bias_quant");
  return {conv2dOutputShape(n, x, w)};
}

// Inference form: Conv(x, w, folded bias), the bias computed here from the
// module's tensors (an int32 initializer + DequantizeLinear with bias quant).
void convBnQatOnnx(OnnxEmitContext& ctx) {
  const Node& n = ctx.node;
  const ConvBnQatInputs c = ConvBnQatInputs::of(n);
  Tensors in(c.count);
  for (size_t i = kConvBnGamma; i < c.count; ++i) {
    const at::Tensor* t = ctx.constantInput(i);
    if (!t) ctx.fail("the BN parameters, bias and scales must be module tensors");
    in[i] = t->detach();
  }
  at::NoGradGuard no_grad;
  const at::Tensor factor = in[kConvBnGamma] / at::sqrt(in[kConvBnRunningVar] + n.getOr<double>("eps", 1e-5));
  std::string bias = ctx.temp("bias");
  if (c.input_scale) {
    const at::Tensor& mean = in[kConvBnRunningMean];
    biasOnnx(ctx, in[kConvBnBeta] + (c.bias ? in[c.bias] - mean : -mean) * factor, in[c.input_scale],
             in[c.weight_scale], in[c.enabled], bias);
  } else {
    bias = ctx.graph.addInitializer(n.name() + "/bias", foldedBias(n, in, factor));
  }
  OnnxNode& conv = ctx.add("Conv", {ctx.inputs[kConvBnX], ctx.inputs[kConvBnWeight], bias}, {ctx.outputs[0]});
  conv.attr("strides", expand(n, "stride", 2, 1))
      .attr("pads", onnxPads2d(expand(n, "padding", 2, 0)))
      .attr("dilations", expand(n, "dilation", 2, 1))
      .attr("group", n.getOr<int64_t>("groups", 1));
  if (auto w = ctx.inputShape(kConvBnWeight)) conv.attr("kernel_shape", Ints{(*w)[2], (*w)[3]});
}

std::string convBnQatScript(ScriptEmitContext& ctx) {
  const Node& n = ctx.node;
  const ConvBnQatInputs c = ConvBnQatInputs::of(n);
  const std::string& mean = ctx.inputs[kConvBnRunningMean];
  const std::string shift = c.bias ? "(" + ctx.inputs[c.bias] + " - " + mean + ")" : "(-" + mean + ")";
  std::string bias = "(" + ctx.inputs[kConvBnBeta] + " + " + shift + " * " +
                     scaleFactorScript(ctx, kConvBnGamma, kConvBnRunningVar) + ")";
  if (c.input_scale) bias = biasScript(bias, ctx.inputs[c.input_scale], ctx.inputs[c.weight_scale], ctx.inputs[c.enabled]);
  return ctx.call("torch.conv2d", {ctx.inputs[kConvBnX], ctx.inputs[kConvBnWeight], bias,
                                   script::ints(expand(n, "stride", 2, 1)), script::ints(expand(n, "padding", 2, 0)),
                                   script::ints(expand(n, "dilation", 2, 1)),
                                   script::integer(n.getOr<int64_t>("groups", 1))});
}

}  // namespace

void registerQuantOps(OpRegistry& r) {
  r.add(OpDef("fake_quant")
            .setArity(kFakeQuantEnabled + 1, kHistogramRange + 1)
            .setKernel(fakeQuantKernel)
            .setShape(fakeQuantShape)
            .setChannels([](const Node& n, const std::vector<Shape>&) {
              // Per-tensor quantization treats every channel alike; per-channel state would need slicing too.
              return n.getOr<int64_t>("axis", -1) < 0 ? ChannelFlow::same() : ChannelFlow::barrier();
            })
            .setOnnx(fakeQuantOnnx)
            .setTorchScript(fakeQuantScript));
  r.add(OpDef("bn_fold_weight")
            .setArity(kFoldRunningVar + 1, kFoldRunningVar + 1)
            .setKernel(bnFoldWeightKernel)
            .setShape(bnFoldWeightShape)
            .setOnnx(bnFoldWeightOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) {
              return ctx.inputs[kFoldWeight] + " * torch.reshape(" +
                     scaleFactorScript(ctx, kFoldGamma, kFoldRunningVar) + ", [-1, 1, 1, 1])";
            }));
  r.add(OpDef("bias_quant")
            .setArity(4, 4)
            .setKernel([](const Node&, const Tensors& in, const ExecContext&) {
              return Tensors{quantizeBias(in[0], in[1], in[2], in[3])};
            })
            .setShape([](const Node& n, const std::vector<Shape>& in) {
              check(n, in[0].size() == 1 && numel(in[1]) >= 1 && numel(in[2]) >= 1, "bias must be 1-D");
              return std::vector<Shape>{in[0]};
            })
            .setOnnx(biasQuantOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) {
              return biasScript(ctx.inputs[0], ctx.inputs[1], ctx.inputs[2], ctx.inputs[3]);
            }));
  // The fixed inputs, then at most bias, num_batches_tracked and the three bias-quant inputs.
  r.add(OpDef("conv_bn_qat")
            .setArity(kConvBnFixedInputs, kConvBnFixedInputs + 5)
            .setKernel(convBnQatKernel)
            .setShape(convBnQatShape)
            .setMacs(conv2dMacs)
            .setOnnx(convBnQatOnnx)
            .setTorchScript(convBnQatScript));
}

}  // namespace edgeopt::ir::ops
