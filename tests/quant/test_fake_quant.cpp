// fake_quant numerics against hand-computed values: quantization parameters
// (affine, symmetric, power-of-2, 4-bit, 16-bit, range_max), the kernel per
// tensor and per channel, straight-through gradients and pruned zeros.
#include "quant_test_util.h"

using namespace edgeopt;
using namespace edgeopt::test;

namespace {

ir::Attrs grid(int64_t qmin, int64_t qmax, ir::Attrs extra = {}) {
  extra.emplace("quant_min", qmin);
  extra.emplace("quant_max", qmax);
  extra.emplace("observer", "fixed");
  return extra;
}

void checkValues(const at::Tensor& got, std::vector<float> expected) {
  REQUIRE(got.numel() == static_cast<int64_t>(expected.size()));
  at::Tensor g = got.contiguous();
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(g.data_ptr<float>()[i] == Approx(expected[i]).margin(1e-6));
  }
}

}  // namespace

TEST_CASE("qparams: affine, symmetric, power-of-2, 4-bit, 16-bit, range_max by hand", "[quant][numerics]") {
  using quant::computeQParams;
  using quant::QParamSpec;
  // uint8 affine over [-1, 3]: scale 4/255, zero point 0 - round(-1 / scale) = round(63.75) = 64.
  auto [s1, z1] = computeQParams(-1, 3, QParamSpec{0, 255, false, false, 0});
  CHECK(s1 == Approx(4.0 / 255).epsilon(1e-6));
  CHECK(z1 == 64);
  // int8 symmetric over [-2, 1]: scale 2 / 127.5, zero point 0.
  auto [s2, z2] = computeQParams(-2, 1, QParamSpec{-128, 127, true, false, 0});
  CHECK(s2 == Approx(2.0 / 127.5).epsilon(1e-6));
  CHECK(z2 == 0);
  // Symmetric power of 2 (TIDL: 128 steps per side): 2 / 128 = 2^-6; 2.1 / 128 -> 2^-5.
  auto [s3, z3] = computeQParams(-2, 1, QParamSpec{-128, 127, true, true, 0});
  CHECK(s3 == 0.015625f);
  CHECK(computeQParams(-2.1, 1, QParamSpec{-128, 127, true, true, 0}).first == 0.03125f);
  CHECK(z3 == 0);
  // Affine power of 2 over [0, 6]: 6/255 = 2^-5.41 -> 2^-5, zero point 0.
  auto [s4, z4] = computeQParams(0, 6, QParamSpec{0, 255, false, true, 0});
  CHECK(s4 == 0.03125f);
  CHECK(z4 == 0);
  // Affine power of 2 over [-1, 6]: scale 7/255 -> 2^-5, zero point round(1 / 2^-5) = 32.
  auto [s5, z5] = computeQParams(-1, 6, QParamSpec{0, 255, false, true, 0});
  CHECK(s5 == 0.03125f);
  CHECK(z5 == 32);
  // 4-bit symmetric [-8, 7] over [-1, 0.5]: scale 1 / 7.5.
  auto [s6, z6] = computeQParams(-1, 0.5, QParamSpec{-8, 7, true, false, 0});
  CHECK(s6 == Approx(1 / 7.5).epsilon(1e-6));
  CHECK(z6 == 0);
  // range_max 4 clips [-10, 10] to [-4, 4]: 4-bit scale 4 / 7.5.
  auto [s7, z7] = computeQParams(-10, 10, QParamSpec{-8, 7, true, false, 4});
  CHECK(s7 == Approx(4 / 7.5).epsilon(1e-6));
  // 16-bit affine on the int16 grid over [0, 1]: scale 1/65535, zero point -32768.
  auto [s8, z8] = computeQParams(0, 1, QParamSpec{-32768, 32767, false, false, 0});
  CHECK(s8 == Approx(1.0 / 65535).epsilon(1e-6));
  CHECK(z8 == -32768);
  // Nothing observed: scale 1, zero point clamp(0).
  auto [s9, z9] = computeQParams(std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                                 QParamSpec{0, 255, false, false, 0});
  CHECK(s9 == 1.0f);
  CHECK(z9 == 0);
  // A range without width keeps a positive scale (float32 epsilon).
  CHECK(computeQParams(0, 0, QParamSpec{0, 255, false, false, 0}).first > 0);
}

TEST_CASE("fake_quant per tensor: uint8 affine rounding and clamping by hand", "[quant][numerics]") {
  auto s = FakeQuantState::make(1, 0.1, 10);
  // q = clamp(round(x / 0.1) + 10, 0, 255); y = (q - 10) * 0.1
  at::Tensor y = runFakeQuant(floats({-1.26f, -0.04f, 0.06f, 0.14f, 24.64f, 30.f}), s, grid(0, 255));
  checkValues(y, {-1.0f, 0.0f, 0.1f, 0.1f, 24.5f, 24.5f});
}

TEST_CASE("fake_quant per channel (axis 0): int8 symmetric by hand", "[quant][numerics]") {
  auto s = FakeQuantState::make(2);
  s.scale = floats({0.5f, 0.01f});
  s.zero_point = at::zeros({2}, at::kInt);
  at::Tensor w = floats({1.3f, -0.2f, 70.f, 0.013f, -0.026f, 2.0f}).reshape({2, 3});
  at::Tensor y = runFakeQuant(w, s, grid(-128, 127, {{"axis", int64_t{0}}}));
  checkValues(y.reshape(-1), {1.5f, 0.f, 63.5f, 0.01f, -0.03f, 1.27f});
}

TEST_CASE("fake_quant 4-bit and 16-bit grids by hand", "[quant][numerics]") {
  auto s4 = FakeQuantState::make(1, 0.25, 0);
  checkValues(runFakeQuant(floats({-3.f, -1.9f, 0.3f, 1.8f, 5.f}), s4, grid(-8, 7)), {-2.f, -2.f, 0.25f, 1.75f, 1.75f});
  auto s16 = FakeQuantState::make(1, 0.001, 0);
  checkValues(runFakeQuant(floats({-40.f, 0.0123f, 33.f}), s16, grid(-32768, 32767)), {-32.768f, 0.012f, 32.767f});
}

TEST_CASE("fake_quant power-of-2: observed scale is 2^k and outputs are multiples of it", "[quant][numerics]") {
  auto s = FakeQuantState::make(1, 1.0, 0, /*mode=*/2);
  ir::Attrs attrs = {{"quant_min", int64_t{-128}}, {"quant_max", int64_t{127}}, {"symmetric", true},
                     {"power_of_2", true},          {"observer", "minmax"}};
  at::Tensor x = floats({-0.7f, 0.33f, 2.9f, 1.01f});
  at::Tensor y = runFakeQuant(x, s, attrs);
  // max |x| = 2.9 -> 2.9 / 128 = 0.0227 -> 2^-5.
  CHECK(s.scale.item<float>() == 0.03125f);
  CHECK(s.min_val.item<float>() == -0.7f);
  CHECK(s.max_val.item<float>() == 2.9f);
  checkValues(y, {-0.6875f, 0.34375f, 2.90625f, 1.0f});
}

TEST_CASE("fake_quant: observer modes and the enable switch", "[quant][numerics]") {
  ir::Attrs attrs = {{"quant_min", int64_t{0}}, {"quant_max", int64_t{255}}, {"observer", "minmax"}};
  auto s = FakeQuantState::make(1, 1.0, 0, /*mode=*/1);  // training only
  runFakeQuant(floats({0.f, 1.f}), s, attrs, /*training=*/false);
  CHECK(s.scale.item<float>() == 1.0f);  // eval forward: not observed
  runFakeQuant(floats({0.f, 1.f}), s, attrs, /*training=*/true);
  CHECK(s.scale.item<float>() == Approx(1.0 / 255).epsilon(1e-6));
  s.observer_mode.fill_(0);
  runFakeQuant(floats({-5.f, 5.f}), s, attrs, true);
  CHECK(s.max_val.item<float>() == 1.0f);  // frozen
  s.enabled.fill_(0);
  at::Tensor x = floats({0.1234f, 7.f});
  CHECK(runFakeQuant(x, s, attrs).equal(x));
}

TEST_CASE("fake_quant: straight-through gradient inside the range, zero outside, pruned zeros get none",
          "[quant][numerics]") {
  auto s = FakeQuantState::make(1, 0.1, 0);
  at::Tensor x = floats({-1.f, 0.f, 0.5f, 12.7f, 30.f}).requires_grad_();
  at::Tensor y = runFakeQuant(x, s, grid(-128, 127, {{"preserve_zeros", true}}));
  y.sum().backward();
  // -1, 0.5, 12.7 are inside [-12.8, 12.7]; 30 is clipped; 0 is a pruned weight.
  checkValues(x.grad(), {1.f, 0.f, 1.f, 1.f, 0.f});
  CHECK(y[1].item<float>() == 0.f);
}
