// Fake-quantization kernels (quant/fake_quant.h): one pass writes the output
// and a one-byte gradient code; the backward reads only the code.
//
// Gradient code per element: bit 0 = inside the fused clamp (outside, the
// gradient is +0, as relu/hardtanh backward write), bit 1 = on the grid
// (inside but clamped by the grid: dy * 0, as LibTorch's dy * mask gives).
//
// The loops are plain C++ that GCC vectorizes at -O3 on any x86-64 (SSE2):
// rounding uses the 1.5 * 2^23 trick instead of std::nearbyint, which is a
// libm call per element without SSE4.1.
#include <edgeopt/error.h>
#include <edgeopt/ir/graph.h>
#include <edgeopt/quant/fake_quant.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

namespace edgeopt::quant {
namespace {

constexpr int64_t kGrain = 1 << 15;            // elements per parallel task
constexpr int64_t kMaxGridMagnitude = 1 << 20;  // the rounding trick is exact below 2^22

// Round half to even, as std::nearbyint in the default rounding mode: exact
// for |t| < 2^22; larger values are returned as they are, and only reach grids
// far narrower than that, where they clamp either way.
inline float roundHalfEven(float t) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: t + kMagic has unit spacing
  const float r = (t + kMagic) - kMagic;
  return std::fabs(t) < 4194304.0f ? r : t;
}

struct Grid {
  float scale, inv_scale, zero_point, quant_min, quant_max;
  Grid(float s, int64_t zp, int64_t qmin, int64_t qmax)
      : scale(s), inv_scale(1.0f / s), zero_point(static_cast<float>(zp)),
        quant_min(static_cast<float>(qmin)), quant_max(static_cast<float>(qmax)) {}
};

// Elements [begin, end) of x into y and code; kClamp folds clamp(x, lo, hi) in.
// Branch-free so that GCC vectorizes it (restrict: the byte code could alias).
template <bool kClamp, bool kCode>
__attribute__((always_inline)) inline void quantizeLoop(const float* __restrict x, float* __restrict y,
                                                        uint8_t* __restrict code, int64_t begin, int64_t end, Grid g,
                                                        float lo, float hi) {
  for (int64_t i = begin; i < end; ++i) {
    const float v = x[i];
    const float c = kClamp ? std::min(std::max(v, lo), hi) : v;
    const float r = roundHalfEven(c * g.inv_scale) + g.zero_point;
    y[i] = (std::min(std::max(r, g.quant_min), g.quant_max) - g.zero_point) * g.scale;
    if (kCode) {
      const uint8_t on_grid = (r >= g.quant_min) & (r <= g.quant_max);
      const uint8_t inside = kClamp ? static_cast<uint8_t>((v > lo) & (v < hi)) : uint8_t{1};
      code[i] = static_cast<uint8_t>(inside | ((inside & on_grid) << 1));
    }
  }
}

// AVX2 clones, chosen at load time on CPUs that have it (the default clone is
// SSE2): 8 floats per instruction instead of 4. Not FMA: contracting
// c * inv_scale into the rounding's add would skip a rounding step and change
// results.
#define EDGEOPT_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))

EDGEOPT_VECTOR_CLONES void quantizeWithCode(const float* x, float* y, uint8_t* code, int64_t begin, int64_t end,
                                            Grid g) {
  quantizeLoop<false, true>(x, y, code, begin, end, g, 0.0f, 0.0f);
}
EDGEOPT_VECTOR_CLONES void quantizeOnly(const float* x, float* y, int64_t begin, int64_t end, Grid g) {
  quantizeLoop<false, false>(x, y, nullptr, begin, end, g, 0.0f, 0.0f);
}
EDGEOPT_VECTOR_CLONES void clampQuantizeWithCode(const float* x, float* y, uint8_t* code, int64_t begin, int64_t end,
                                                 Grid g, float lo, float hi) {
  quantizeLoop<true, true>(x, y, code, begin, end, g, lo, hi);
}
EDGEOPT_VECTOR_CLONES void clampQuantizeOnly(const float* x, float* y, int64_t begin, int64_t end, Grid g, float lo,
                                             float hi) {
  quantizeLoop<true, false>(x, y, nullptr, begin, end, g, lo, hi);
}

template <bool kClamp>
void quantizeRange(const float* x, float* y, uint8_t* code, int64_t begin, int64_t end, Grid g, float lo, float hi) {
  if (kClamp) {
    if (code) clampQuantizeWithCode(x, y, code, begin, end, g, lo, hi);
    else clampQuantizeOnly(x, y, begin, end, g, lo, hi);
  } else {
    if (code) quantizeWithCode(x, y, code, begin, end, g);
    else quantizeOnly(x, y, begin, end, g);
  }
}

// dx = dy * passes, then forced to +0 outside the clamp (bit mask, no branch).
EDGEOPT_VECTOR_CLONES void applyCode(const float* __restrict dy, const uint8_t* __restrict code, float* __restrict dx,
                                     int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    const float r = dy[i] * static_cast<float>(code[i] >> 1);
    uint32_t bits;
    std::memcpy(&bits, &r, sizeof bits);
    bits &= 0u - static_cast<uint32_t>(code[i] & 1);
    std::memcpy(&dx[i], &bits, sizeof bits);
  }
}

bool fastPathApplies(const at::Tensor& x, int64_t qmin, int64_t qmax) {
  return x.device().is_cpu() && x.scalar_type() == at::kFloat && !x.is_quantized() &&
         std::max(std::abs(qmin), std::abs(qmax)) <= kMaxGridMagnitude;
}

// y (and code when `with_code`) for a per-tensor grid.
std::pair<at::Tensor, at::Tensor> perTensorForward(const at::Tensor& input, Grid g, std::optional<FusedClamp> clamp,
                                                   bool with_code) {
  RECORD_FUNCTION("edgeopt::fake_quantize_per_tensor", std::vector<c10::IValue>());  // named in profiles
  // Element-wise, so any dense layout works: a channels-last activation stays
  // channels-last (edgeopt/memory_format.h) instead of costing two reorders.
  const at::Tensor x = input.contiguous(input.suggest_memory_format());
  at::Tensor y = at::empty_like(x);
  at::Tensor code = with_code ? at::empty_like(x, x.options().dtype(at::kByte)) : at::Tensor();
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  uint8_t* cp = with_code ? code.data_ptr<uint8_t>() : nullptr;
  at::parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
    if (clamp) quantizeRange<true>(xp, yp, cp, begin, end, g, clamp->lo, clamp->hi);
    else quantizeRange<false>(xp, yp, cp, begin, end, g, 0.0f, 0.0f);
  });
  return {y, code};
}

// Slices along `axis`: x viewed as [outer, channels, inner], contiguous. A
// channels-last weight keeps its layout for axis 0: dim 0 stays outermost, so
// each output channel is still one block of `inner` elements.
std::pair<at::Tensor, at::Tensor> perChannelForward(const at::Tensor& input, const at::Tensor& scale,
                                                    const at::Tensor& zero_point, int64_t axis, int64_t qmin,
                                                    int64_t qmax, bool with_code) {
  RECORD_FUNCTION("edgeopt::fake_quantize_per_channel", std::vector<c10::IValue>());
  const at::Tensor x = axis == 0 ? input.contiguous(input.suggest_memory_format()) : input.contiguous();
  const at::Tensor s = scale.detach().to(at::kFloat).contiguous();
  const at::Tensor z = zero_point.detach().to(at::kLong).contiguous();
  const int64_t channels = x.size(axis);
  TORCH_CHECK(s.numel() == channels && z.numel() == channels, "fake quantization: ", channels,
              " channels on axis ", axis, " but ", s.numel(), " scales and ", z.numel(), " zero points");
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.size(d);
  for (int64_t d = axis + 1; d < x.dim(); ++d) inner *= x.size(d);
  at::Tensor y = at::empty_like(x);
  at::Tensor code = with_code ? at::empty_like(x, x.options().dtype(at::kByte)) : at::Tensor();
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  uint8_t* cp = with_code ? code.data_ptr<uint8_t>() : nullptr;
  const float* sp = s.data_ptr<float>();
  const int64_t* zp = z.data_ptr<int64_t>();
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1));
  at::parallel_for(0, outer * channels, grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t c = row % channels;
      const int64_t first = row * inner;
      quantizeRange<false>(xp, yp, cp, first, first + inner, Grid(sp[c], zp[c], qmin, qmax), 0.0f, 0.0f);
    }
  });
  return {y, code};
}

at::Tensor gradientFromCode(const at::Tensor& grad, const at::Tensor& code) {
  RECORD_FUNCTION("edgeopt::fake_quantize_backward", std::vector<c10::IValue>());
  // dy element by element in the code's memory order (the forward's layout).
  at::Tensor dy = grad.to(at::kFloat);
  if (dy.strides() != code.strides()) dy = at::empty_like(code, dy.options()).copy_(dy);
  at::Tensor dx = at::empty_like(code, dy.options());
  const float* gp = dy.data_ptr<float>();
  const uint8_t* cp = code.data_ptr<uint8_t>();
  float* dp = dx.data_ptr<float>();
  at::parallel_for(0, code.numel(), kGrain, [&](int64_t b, int64_t e) { applyCode(gp, cp, dp, b, e); });
  return dx;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Saves only the gradient code (one byte per element).
struct PerTensorFakeQuant : torch::autograd::Function<PerTensorFakeQuant> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, double scale, int64_t zero_point, int64_t qmin,
                            int64_t qmax, bool has_clamp, double lo, double hi) {
    std::optional<FusedClamp> clamp;
    if (has_clamp) clamp = FusedClamp{static_cast<float>(lo), static_cast<float>(hi)};
    auto [y, code] = perTensorForward(x, Grid(static_cast<float>(scale), zero_point, qmin, qmax), clamp, true);
    ctx->save_for_backward({code});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor code = ctx->get_saved_variables()[0];
    return {gradientFromCode(grads[0], code), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(),                     at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct PerChannelFakeQuant : torch::autograd::Function<PerChannelFakeQuant> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& scale,
                            const at::Tensor& zero_point, int64_t axis, int64_t qmin, int64_t qmax) {
    auto [y, code] = perChannelForward(x, scale, zero_point, axis, qmin, qmax, true);
    ctx->save_for_backward({code});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor code = ctx->get_saved_variables()[0];
    return {gradientFromCode(grads[0], code), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

bool needsGradient(const at::Tensor& x) { return x.requires_grad() && at::GradMode::is_enabled(); }

std::atomic<bool> libtorch_kernels{false};

}  // namespace

std::optional<FusedClamp> fusedClampOf(const ir::Node& n) {
  const std::string act = n.getOr<std::string>("fused_activation", "");
  if (act.empty()) return std::nullopt;
  if (act == "relu") return FusedClamp{0.0f, std::numeric_limits<float>::infinity()};
  if (act == "relu6") return FusedClamp{0.0f, 6.0f};
  throw RuntimeFailure("fake_quant '" + n.name() + "': unknown fused_activation '" + act + "' (relu or relu6)");
}

void setUseLibTorchKernels(bool on) { libtorch_kernels = on; }
bool useLibTorchKernels() { return libtorch_kernels; }

at::Tensor fakeQuantizePerTensor(const at::Tensor& x, float scale, int64_t zero_point, int64_t quant_min,
                                 int64_t quant_max, std::optional<FusedClamp> clamp) {
  if (libtorch_kernels || !fastPathApplies(x, quant_min, quant_max) || std::abs(zero_point) > kMaxGridMagnitude) {
    const at::Tensor c = !clamp ? x : std::isinf(clamp->hi) ? at::relu(x) : at::hardtanh(x, clamp->lo, clamp->hi);
    return at::fake_quantize_per_tensor_affine(c, scale, zero_point, quant_min, quant_max);
  }
  if (needsGradient(x)) {
    return PerTensorFakeQuant::apply(x, static_cast<double>(scale), zero_point, quant_min, quant_max, clamp.has_value(),
                                     clamp ? clamp->lo : 0.0, clamp ? clamp->hi : 0.0);
  }
  return perTensorForward(x, Grid(scale, zero_point, quant_min, quant_max), clamp, false).first;
}

at::Tensor fakeQuantizePerChannel(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& zero_point,
                                  int64_t axis, int64_t quant_min, int64_t quant_max) {
  bool fast = !libtorch_kernels && fastPathApplies(x, quant_min, quant_max);
  if (fast && zero_point.device().is_cpu() && zero_point.scalar_type() == at::kInt && zero_point.is_contiguous()) {
    const int32_t* z = zero_point.data_ptr<int32_t>();
    for (int64_t i = 0; i < zero_point.numel(); ++i) fast = fast && std::abs(int64_t{z[i]}) <= kMaxGridMagnitude;
  } else {
    fast = false;
  }
  if (!fast) return at::fake_quantize_per_channel_affine(x, scale, zero_point, axis, quant_min, quant_max);
  if (axis < 0) axis += x.dim();
  if (needsGradient(x)) return PerChannelFakeQuant::apply(x, scale, zero_point, axis, quant_min, quant_max);
  return perChannelForward(x, scale, zero_point, axis, quant_min, quant_max, false).first;
}

}  // namespace edgeopt::quant
