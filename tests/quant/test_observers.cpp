// Observer ranges on known data: min/max, moving average, per-channel
// current ranges, histogram growth, percentile range shrink and MSE search.
#include "quant_test_util.h"

using namespace edgeopt;
using namespace edgeopt::test;

namespace {

ir::Attrs observed(const std::string& observer, ir::Attrs extra = {}) {
  extra.emplace("quant_min", int64_t{0});
  extra.emplace("quant_max", int64_t{255});
  extra.emplace("observer", observer);
  return extra;
}

}  // namespace

TEST_CASE("minmax observer keeps the running extremes", "[quant][observer]") {
  auto s = FakeQuantState::make(1, 1.0, 0, 2);
  runFakeQuant(floats({0.f, 0.25f, 1.f}), s, observed("minmax"));
  runFakeQuant(floats({-2.f, 0.5f}), s, observed("minmax"));
  CHECK(s.min_val.item<float>() == -2.f);
  CHECK(s.max_val.item<float>() == 1.f);
  // [-2, 1] affine uint8: scale 3/255, zero point round(2 / scale) = 170.
  CHECK(s.scale.item<float>() == Approx(3.0 / 255).epsilon(1e-6));
  CHECK(s.zero_point.item<int32_t>() == 170);
}

TEST_CASE("moving-average observer: first batch sets, later batches move by the averaging constant",
          "[quant][observer]") {
  auto s = FakeQuantState::make(1, 1.0, 0, 2);
  ir::Attrs attrs = observed("moving_average", {{"averaging_constant", 0.01}});
  runFakeQuant(floats({0.f, 1.f}), s, attrs);
  runFakeQuant(floats({-1.f, 3.f}), s, attrs);
  CHECK(s.min_val.item<float>() == Approx(-0.01).margin(1e-7));
  CHECK(s.max_val.item<float>() == Approx(1.02).margin(1e-6));
}

TEST_CASE("per-channel current observer: each row's own range, every forward", "[quant][observer]") {
  auto s = FakeQuantState::make(2, 1.0, 0, 2);
  ir::Attrs attrs = {{"quant_min", int64_t{-128}}, {"quant_max", int64_t{127}}, {"symmetric", true},
                     {"axis", int64_t{0}},         {"observer", "current"}};
  runFakeQuant(floats({1.f, -4.f, 2.f, 0.5f, 0.1f, -0.2f}).reshape({2, 3}), s, attrs);
  CHECK(s.min_val[0].item<float>() == -4.f);
  CHECK(s.max_val[1].item<float>() == 0.5f);
  CHECK(s.scale[0].item<float>() == Approx(4 / 127.5).epsilon(1e-6));
  CHECK(s.scale[1].item<float>() == Approx(0.5 / 127.5).epsilon(1e-6));
  runFakeQuant(floats({1.f, -1.f, 0.f, 0.f, 0.f, 2.f}).reshape({2, 3}), s, attrs);
  CHECK(s.min_val[0].item<float>() == -1.f);  // current, not running
  CHECK(s.max_val[1].item<float>() == 2.f);
}

TEST_CASE("per-channel observers: the row loop (contiguous weights) equals the tensor path bit for bit",
          "[quant][observer]") {
  at::manual_seed(8);
  for (const char* kind : {"current", "minmax", "moving_average"}) {
    INFO(kind);
    auto fast = FakeQuantState::make(6, 1.0, 0, 2), generic = FakeQuantState::make(6, 1.0, 0, 2);
    ir::Attrs attrs = {{"quant_min", int64_t{-128}}, {"quant_max", int64_t{127}}, {"symmetric", true},
                       {"axis", int64_t{0}},         {"observer", kind},       {"averaging_constant", 0.3}};
    for (int step = 0; step < 4; ++step) {
      const at::Tensor strided = (at::randn({5, 6}) * (step + 1)).t();  // [6, 5], not contiguous: the tensor path
      const at::Tensor y_fast = runFakeQuant(strided.contiguous(), fast, attrs);
      const at::Tensor y_generic = runFakeQuant(strided, generic, attrs);
      CHECK(at::equal(y_fast, y_generic));
    }
    CHECK(at::equal(fast.min_val.view(at::kInt), generic.min_val.view(at::kInt)));
    CHECK(at::equal(fast.max_val.view(at::kInt), generic.max_val.view(at::kInt)));
    CHECK(at::equal(fast.scale.view(at::kInt), generic.scale.view(at::kInt)));
    CHECK(at::equal(fast.zero_point, generic.zero_point));
  }
}

TEST_CASE("per-channel observers: channels-last weights give the contiguous result bit for bit", "[quant][observer]") {
  at::manual_seed(9);
  auto cl = FakeQuantState::make(6, 1.0, 0, 2), plain = FakeQuantState::make(6, 1.0, 0, 2);
  ir::Attrs attrs = {{"quant_min", int64_t{-128}},
                     {"quant_max", int64_t{127}},
                     {"symmetric", true},
                     {"axis", int64_t{0}},
                     {"observer", "minmax"}};
  for (int step = 0; step < 3; ++step) {
    const at::Tensor w = at::randn({6, 5, 3, 3}) * (step + 1);
    const at::Tensor y_cl = runFakeQuant(w.contiguous(at::MemoryFormat::ChannelsLast), cl, attrs);
    CHECK(at::equal(y_cl, runFakeQuant(w, plain, attrs)));
  }
  CHECK(at::equal(cl.scale.view(at::kInt), plain.scale.view(at::kInt)));
  CHECK(at::equal(cl.zero_point, plain.zero_point));
}

TEST_CASE("histogram observer: bins cover the data, grow by exact doubling, keep every count", "[quant][observer]") {
  auto s = FakeQuantState::make(1, 1.0, 0, 2);
  ir::Attrs attrs = observed("histogram", {{"shrink_percentile", 0.0}});
  runFakeQuant(at::linspace(0, 1, 1000), s, attrs);
  CHECK(s.histogram_range[0].item<float>() == 0.f);
  CHECK(s.histogram_range[1].item<float>() == 1.f);
  runFakeQuant(floats({-3.f, 0.5f}), s, attrs);
  // [0, 1] doubles left to [-1, 1], then [-3, 1].
  CHECK(s.histogram_range[0].item<float>() == -3.f);
  CHECK(s.histogram_range[1].item<float>() == 1.f);
  CHECK(s.histogram.sum().item<double>() == 1002.0);
  CHECK(s.min_val.item<float>() == Approx(-3.0).margin(2e-3));
  CHECK(s.max_val.item<float>() == Approx(1.0).margin(2e-3));
}

TEST_CASE("percentile range shrink drops rare outliers that min/max keeps", "[quant][observer]") {
  at::manual_seed(0);
  at::Tensor x = at::cat({at::rand({20000}), floats({100.f})});
  auto minmax = FakeQuantState::make(1, 1.0, 0, 2);
  runFakeQuant(x, minmax, observed("minmax"));
  CHECK(minmax.max_val.item<float>() == 100.f);
  auto hist = FakeQuantState::make(1, 1.0, 0, 2);
  runFakeQuant(x, hist, observed("histogram", {{"shrink_percentile", 0.01}}));
  CHECK(hist.max_val.item<float>() == Approx(1.0).margin(0.06));
  // The per-batch shrink of the moving-average observer (sampled) agrees.
  auto ema = FakeQuantState::make(1, 1.0, 0, 2);
  runFakeQuant(x, ema, observed("moving_average", {{"shrink_percentile", 0.01}}));
  CHECK(ema.max_val.item<float>() < 1.5f);
  CHECK(ema.min_val.item<float>() < 0.01f);
}

TEST_CASE("MSE range search beats the full range on heavy-tailed data (4-bit grid)", "[quant][observer]") {
  at::manual_seed(1);
  // Laplace(0, 1): the optimal 4-bit clip is near 5, the maximum near 11.
  const at::Tensor u = at::rand({100000}).clamp_min(1e-7);
  const at::Tensor x = -at::log(u) * at::sign(at::rand({100000}) - 0.5);
  auto s = FakeQuantState::make(1, 1.0, 0, 2);
  ir::Attrs attrs = {{"quant_min", int64_t{-8}},   {"quant_max", int64_t{7}}, {"symmetric", true},
                     {"observer", "histogram"}, {"range_search", "mse"}};
  runFakeQuant(x, s, attrs);
  const quant::QParamSpec spec{-8, 7, true, false, 0};
  auto [lo, hi] = quant::mseRange(s.histogram, s.histogram_range[0].item<double>(),
                                  s.histogram_range[1].item<double>(), spec);
  const double amax = x.abs().max().item<double>();
  auto error = [&](double a, double b) {
    auto [scale, zp] = quant::computeQParams(a, b, spec);
    at::Tensor y = at::fake_quantize_per_tensor_affine(x, scale, zp, -8, 7);
    return (y - x).pow(2).mean().item<double>();
  };
  const double full = error(-amax, amax), searched = error(lo, hi);
  INFO("mse full range " << full << ", searched [" << lo << ", " << hi << "] " << searched << ", max |x| " << amax);
  CHECK(std::max(-lo, hi) < 0.8 * amax);
  CHECK(searched < 0.5 * full);
  // finalizeQuantizer applies the search to the buffers.
  ir::Graph g;
  std::vector<ir::Value*> in;
  for (int i = 0; i < 9; ++i) in.push_back(g.input("i" + std::to_string(i)));
  ir::Node* n = g.call("fake_quant", in, attrs, "fq");
  quant::finalizeQuantizer(*n, {x, s.scale, s.zero_point, s.min_val, s.max_val, s.observer_mode, s.enabled,
                                s.histogram, s.histogram_range});
  CHECK(s.max_val.item<double>() == Approx(hi).margin(1e-4));
  CHECK(s.scale.item<float>() == Approx(std::max(-lo, hi) / 7.5).epsilon(1e-5));
}
