// EdgeOpt's fake-quantization kernels (quant/fake_quant.h) against LibTorch's,
// bit for bit, forward and backward: ties at .5 (half to even), the grid's
// clamping edges, fused ReLU/ReLU6 (edges 0 and 6, -0.0), per-channel grids,
// and a whole mobilenet_v2 training step with fused activations and our
// kernels vs unfused activations and LibTorch's kernels.
#include "quant_test_util.h"

#include <edgeopt/quant/fake_quant.h>

#include <cstring>

using namespace edgeopt;
using namespace edgeopt::test;
using quant::FusedClamp;

namespace {

// Same bits (so -0.0 != +0.0), same shape.
bool bitEqual(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes() || a.scalar_type() != at::kFloat || b.scalar_type() != at::kFloat) return false;
  return at::equal(a.contiguous().view(at::kInt), b.contiguous().view(at::kInt));
}

// Restores LibTorch-kernel routing to off when a test ends (also on failure).
struct LibTorchKernels {
  explicit LibTorchKernels(bool on) { quant::setUseLibTorchKernels(on); }
  ~LibTorchKernels() { quant::setUseLibTorchKernels(false); }
};

// Values that hit every case for scale s and zero point z on [qmin, qmax]:
// exact ties k + 0.5 (k even and odd), the last grid points and half a step
// past them, random values spanning twice the grid, zeros of both signs.
at::Tensor probeValues(float s, int64_t z, int64_t qmin, int64_t qmax) {
  std::vector<float> v = {0.0f, -0.0f};
  for (int64_t k = qmin - 3; k <= qmax + 3; k += std::max<int64_t>(1, (qmax - qmin) / 40)) {
    for (float frac : {0.0f, 0.5f, -0.5f, 0.49999997f, 0.50000006f}) v.push_back((float(k - z) + frac) * s);
  }
  for (int64_t edge : {qmin, qmax})
    for (float d : {-0.5f, 0.5f, -0.25f, 0.25f}) v.push_back((float(edge - z) + d) * s);
  at::Tensor random = (at::rand({4099}) * 2 - 0.5) * (float(qmax - qmin) * s) + float(qmin - z) * s;
  return at::cat({at::tensor(v, at::kFloat), random});
}

struct Result {
  at::Tensor y, dx;
};

template <typename F>
Result forwardBackward(const at::Tensor& x, const at::Tensor& dy, F f) {
  at::Tensor leaf = x.detach().clone().requires_grad_(true);
  at::Tensor y = f(leaf);
  y.backward(dy);
  return {y.detach(), leaf.grad()};
}

}  // namespace

TEST_CASE("fake-quant kernel per tensor equals LibTorch bit for bit (ties, edges, 4/8/16 bits)", "[quant][kernels]") {
  at::manual_seed(1);
  struct Case {
    float scale;
    int64_t zero_point, qmin, qmax;
  };
  // Power-of-2 scales make k + 0.5 exact ties; 0.0123f and 1/255 don't.
  const std::vector<Case> cases = {{0.0625f, 37, 0, 255},   {0.0123f, 0, -128, 127}, {1.0f / 255, 128, 0, 255},
                                   {0.25f, 0, -8, 7},       {0.5f, 3, 0, 15},        {1.0f / 4096, -32768, -32768, 32767},
                                   {0.03125f, 0, -127, 127}};
  for (const Case& c : cases) {
    INFO("scale " << c.scale << " zero point " << c.zero_point << " grid [" << c.qmin << ", " << c.qmax << "]");
    const at::Tensor x = probeValues(c.scale, c.zero_point, c.qmin, c.qmax);
    const at::Tensor dy = at::randn_like(x);
    const Result ours = forwardBackward(x, dy, [&](const at::Tensor& t) {
      return quant::fakeQuantizePerTensor(t, c.scale, c.zero_point, c.qmin, c.qmax);
    });
    const Result ref = forwardBackward(x, dy, [&](const at::Tensor& t) {
      return at::fake_quantize_per_tensor_affine(t, c.scale, c.zero_point, c.qmin, c.qmax);
    });
    CHECK(bitEqual(ours.y, ref.y));
    CHECK(bitEqual(ours.dx, ref.dx));
    // Without autograd (eval forwards, export) the values are the same.
    at::NoGradGuard no_grad;
    CHECK(bitEqual(quant::fakeQuantizePerTensor(x, c.scale, c.zero_point, c.qmin, c.qmax), ref.y));
  }
}

TEST_CASE("fake-quant kernel: ties round half to even, by hand", "[quant][kernels]") {
  // scale 1, zero point 0 on [-4, 4]: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, -1.5 -> -2; 4.5 clamps to 4.
  const at::Tensor y = quant::fakeQuantizePerTensor(floats({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 4.5f, -7.0f}), 1.0f, 0, -4, 4);
  CHECK(bitEqual(y, floats({0.0f, 2.0f, 2.0f, 0.0f, -2.0f, 4.0f, -4.0f})));
  // The gradient passes where round(x) is on the grid: round(4.5) = 4 and round(-4.5) = -4 are.
  at::Tensor x = floats({4.5f, 5.5f, -4.5f, -5.0f}).requires_grad_(true);
  quant::fakeQuantizePerTensor(x, 1.0f, 0, -4, 4).sum().backward();
  CHECK(bitEqual(x.grad(), floats({1.0f, 0.0f, 1.0f, 0.0f})));
}

TEST_CASE("fused ReLU/ReLU6 + fake-quant equals relu/hardtanh then LibTorch's fake-quant bit for bit", "[quant][kernels]") {
  at::manual_seed(2);
  const float s = 6.0f / 255;
  std::vector<float> edges = {0.0f, -0.0f, 6.0f, 5.9999995f, 6.0000005f, 1e-8f, -1e-8f, 3.0f * s + 0.5f * s};
  at::Tensor x = at::cat({floats(edges), at::randn({5000}) * 4, at::rand({1000}) * 0.2 - 0.1});
  const at::Tensor dy = at::randn_like(x);
  const std::vector<std::pair<int64_t, FusedClamp>> clamps = {{0, FusedClamp{0.0f, 6.0f}},
                                                               {0, FusedClamp{0.0f, INFINITY}},
                                                               {12, FusedClamp{0.0f, 6.0f}}};  // zp 12: grid below 0
  for (const auto& zp_clamp : clamps) {
    const int64_t zp = zp_clamp.first;  // not a structured binding: lambdas capture it (clang-14)
    const FusedClamp clamp = zp_clamp.second;
    INFO("clamp [" << clamp.lo << ", " << clamp.hi << "] zero point " << zp);
    const float scale = std::isinf(clamp.hi) ? 0.017f : s;
    const Result ours = forwardBackward(x, dy, [&](const at::Tensor& t) {
      return quant::fakeQuantizePerTensor(t, scale, zp, 0, 255, clamp);
    });
    const Result ref = forwardBackward(x, dy, [&](const at::Tensor& t) {
      const at::Tensor a = std::isinf(clamp.hi) ? at::relu(t) : at::hardtanh(t, 0.0, 6.0);
      return at::fake_quantize_per_tensor_affine(a, scale, zp, 0, 255);
    });
    CHECK(bitEqual(ours.y, ref.y));
    CHECK(bitEqual(ours.dx, ref.dx));
  }
}

TEST_CASE("fake-quant kernel per channel equals LibTorch bit for bit (axis 0 and 1)", "[quant][kernels]") {
  at::manual_seed(3);
  const at::Tensor w = at::randn({6, 4, 3, 3}) * 0.3;
  for (int64_t axis : {0, 1}) {
    INFO("axis " << axis);
    const int64_t channels = w.size(axis);
    const at::Tensor scale = at::rand({channels}) * 0.01 + 0.001;
    const at::Tensor zp = at::randint(-3, 4, {channels}, at::kInt);
    // Ties: every 7th element moved onto a half step of its channel.
    at::Tensor x = w.clone();
    at::Tensor halves = (at::round(x / scale.view(axis == 0 ? at::IntArrayRef{-1, 1, 1, 1} : at::IntArrayRef{1, -1, 1, 1})) + 0.5) *
                        scale.view(axis == 0 ? at::IntArrayRef{-1, 1, 1, 1} : at::IntArrayRef{1, -1, 1, 1});
    x.view(-1).slice(0, 0, x.numel(), 7).copy_(halves.reshape(-1).slice(0, 0, x.numel(), 7));
    const at::Tensor dy = at::randn_like(x);
    const Result ours = forwardBackward(x, dy, [&](const at::Tensor& t) {
      return quant::fakeQuantizePerChannel(t, scale, zp, axis, -8, 7);
    });
    const Result ref = forwardBackward(x, dy, [&](const at::Tensor& t) {
      return at::fake_quantize_per_channel_affine(t, scale, zp, axis, -8, 7);
    });
    CHECK(bitEqual(ours.y, ref.y));
    CHECK(bitEqual(ours.dx, ref.dx));
  }
}

// Channels-last training (edgeopt/memory_format.h) hands the kernels NHWC
// activations and weights: the result keeps that layout (no reorder back and
// forth around every quantizer) and holds the same values, forward and backward.
TEST_CASE("fake-quant kernels keep a channels-last layout with the same values bit for bit", "[quant][kernels]") {
  at::manual_seed(4);
  const at::Tensor x = at::randn({2, 6, 5, 5}) * 2;
  const at::Tensor dy = at::randn_like(x);
  const at::Tensor x_cl = x.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor dy_cl = dy.contiguous(at::MemoryFormat::ChannelsLast);
  auto per_tensor = [](const at::Tensor& t) {
    return quant::fakeQuantizePerTensor(t, 0.05f, 3, 0, 255, FusedClamp{0.0f, 6.0f});
  };
  const Result plain = forwardBackward(x, dy, per_tensor);
  const Result cl = forwardBackward(x_cl, dy_cl, per_tensor);
  CHECK(cl.y.is_contiguous(at::MemoryFormat::ChannelsLast));
  CHECK_FALSE(cl.y.is_contiguous());
  CHECK(bitEqual(cl.y, plain.y));
  CHECK(bitEqual(cl.dx, plain.dx));
  // The gradient arriving in the other layout is read in the forward's order.
  const Result mixed = forwardBackward(x_cl, dy, per_tensor);
  CHECK(bitEqual(mixed.dx, plain.dx));

  const at::Tensor scale = at::rand({6}) * 0.01 + 0.001;
  const at::Tensor zp = at::zeros({6}, at::kInt);
  auto per_channel = [&](const at::Tensor& t) { return quant::fakeQuantizePerChannel(t, scale, zp, 0, -128, 127); };
  const at::Tensor w = at::randn({6, 4, 3, 3}) * 0.3, dw = at::randn_like(w);
  const Result w_plain = forwardBackward(w, dw, per_channel);
  const Result w_cl = forwardBackward(w.contiguous(at::MemoryFormat::ChannelsLast),
                                      dw.contiguous(at::MemoryFormat::ChannelsLast), per_channel);
  CHECK(w_cl.y.is_contiguous(at::MemoryFormat::ChannelsLast));
  CHECK(bitEqual(w_cl.y, w_plain.y));
  CHECK(bitEqual(w_cl.dx, w_plain.dx));
}

TEST_CASE("mobilenet_v2 QAT step: fused activations + EdgeOpt kernels == unfused + LibTorch kernels, bit for bit",
          "[quant][kernels]") {
  at::manual_seed(4);
  auto base = zooNet("mobilenet_v2", 32);
  auto fused = base->clone(), unfused = base->clone();
  quant::QuantizeOptions o = presetOptions("WC8_AT8");
  const quant::QuantizerCounts cf = quant::insertQuantizers(*fused, o);
  o.fuse_activations = false;
  const quant::QuantizerCounts cu = quant::insertQuantizers(*unfused, o);
  CHECK(cf.activation == cu.activation);
  CHECK(nodesOf(*fused, "relu6").empty());
  CHECK(nodesOf(*unfused, "relu6").size() == 35);
  const at::Tensor x = at::randn({4, 3, 32, 32});
  const at::Tensor y = at::randint(0, 10, {4}, at::kLong);
  auto step = [&](GraphModule& m, bool libtorch) {
    LibTorchKernels route(libtorch);
    at::manual_seed(5);  // the same dropout mask for both
    m.train();
    for (auto& p : m.parameters()) p.mutable_grad() = at::Tensor();
    at::Tensor logits = m.forward({x})[0];
    at::cross_entropy_loss(logits, y).backward();
    return logits.detach();
  };
  for (int i = 0; i < 2; ++i) {  // the second step uses the ranges the first observed
    INFO("step " << i);
    CHECK(bitEqual(step(*fused, false), step(*unfused, true)));
    const auto pf = fused->namedParameters(), pu = unfused->namedParameters();
    REQUIRE(pf.size() == pu.size());
    int mismatches = 0;
    for (size_t k = 0; k < pf.size(); ++k) mismatches += !bitEqual(pf[k].second.grad(), pu[k].second.grad());
    CHECK(mismatches == 0);
  }
  for (const auto& [name, t] : unfused->stateDict()) {
    INFO(name);
    if (t.scalar_type() == at::kFloat) CHECK(bitEqual(fused->tensor(name), t));
  }
}
