// Layer ops added for EfficientNet, RegNet, YOLO and decoders: interpolate,
// conv_transpose2d, layer_norm, group_norm, stochastic_depth, against the
// direct ATen call, with shape functions checked by runOp.
#include <edgeopt/ir/op_registry.h>

#include "ir_test_util.h"

#include <any>

using namespace edgeopt;
using namespace edgeopt::ir;
using Catch::Matchers::Contains;
using edgeopt::test::runOp;

namespace {
at::Tensor r(std::vector<int64_t> shape) { return at::randn(shape, at::kFloat); }
bool same(const at::Tensor& a, const at::Tensor& b) { return a.sizes() == b.sizes() && at::allclose(a, b, 1e-5, 1e-6); }
int64_t macsOf(const std::string& op, const std::vector<Shape>& shapes, Attrs attrs) {
  Graph g;
  std::vector<Value*> in;
  for (size_t i = 0; i < shapes.size(); ++i) in.push_back(g.input("in" + std::to_string(i)));
  Node* n = g.call(op, in, std::move(attrs));
  g.output({n->output()});
  propagateShapes(g, shapes, [](const std::string&) { return ParamInfo{}; });
  return std::any_cast<int64_t>(n->meta().at("macs"));
}
// ATen's by-scale kernels (what F.interpolate(scale_factor=...) calls).
at::Tensor nearestByScale(const at::Tensor& x, std::vector<double> s) {
  return at::upsample_nearest2d(x, c10::nullopt, at::ArrayRef<double>(s));
}
at::Tensor bilinearByScale(const at::Tensor& x, std::vector<double> s) {
  return at::upsample_bilinear2d(x, c10::nullopt, false, at::ArrayRef<double>(s));
}
}  // namespace

TEST_CASE("ops: interpolate nearest and bilinear, by size and by scale factor", "[ir][ops]") {
  at::manual_seed(21);
  at::Tensor x = r({2, 3, 5, 6});
  CHECK(same(runOp("interpolate", {x}, {{"scale_factor", Doubles{2.0, 2.0}}}),
             nearestByScale(x, {2.0, 2.0})));
  CHECK(same(runOp("interpolate", {x}, {{"scale_factor", 2}}), at::upsample_nearest2d(x, {10, 12})));
  CHECK(same(runOp("interpolate", {x}, {{"size", Ints{7, 9}}}), at::upsample_nearest2d(x, {7, 9})));
  CHECK(same(runOp("interpolate", {x}, {{"size", 4}, {"mode", "bilinear"}}),
             at::upsample_bilinear2d(x, {4, 4}, false)));
  CHECK(same(runOp("interpolate", {x}, {{"size", Ints{11, 13}}, {"mode", "bilinear"}, {"align_corners", true}}),
             at::upsample_bilinear2d(x, {11, 13}, true)));
  // A non-integer scale: floor(5 * 1.7) x floor(6 * 1.7), coordinates mapped with 1/1.7.
  at::Tensor by_scale = runOp("interpolate", {x}, {{"scale_factor", 1.7}, {"mode", "bilinear"}});
  CHECK(by_scale.sizes().vec() == Shape{2, 3, 8, 10});
  CHECK(same(by_scale, bilinearByScale(x, {1.7, 1.7})));
  CHECK_FALSE(same(by_scale, at::upsample_bilinear2d(x, {8, 10}, false)));  // the two spellings differ here
  CHECK(same(runOp("interpolate", {x},
                   {{"scale_factor", 1.7}, {"mode", "bilinear"}, {"recompute_scale_factor", true}}),
             at::upsample_bilinear2d(x, {8, 10}, false)));
  CHECK(same(runOp("interpolate", {x}, {{"scale_factor", Doubles{0.5, 1.5}}, {"mode", "nearest"}}),
             nearestByScale(x, {0.5, 1.5})));
  // Integer scales: size and scale agree, which is what surgery's size -> scale rewrite relies on.
  CHECK(same(runOp("interpolate", {x}, {{"scale_factor", 2.0}, {"mode", "bilinear"}}),
             runOp("interpolate", {x}, {{"size", Ints{10, 12}}, {"mode", "bilinear"}})));

  REQUIRE_THROWS_WITH(runOp("interpolate", {x}), Contains("needs exactly one of 'size' and 'scale_factor'"));
  REQUIRE_THROWS_WITH(runOp("interpolate", {x}, {{"size", 4}, {"scale_factor", 2.0}}),
                      Contains("needs exactly one of 'size' and 'scale_factor'"));
  REQUIRE_THROWS_WITH(runOp("interpolate", {x}, {{"size", 4}, {"mode", "bicubic"}}),
                      Contains("mode 'bicubic' is not one of nearest, bilinear"));
  REQUIRE_THROWS_WITH(runOp("interpolate", {x}, {{"size", 4}, {"align_corners", true}}),
                      Contains("align_corners is only for mode 'bilinear'"));
  REQUIRE_THROWS_WITH(runOp("interpolate", {r({2, 3, 5})}, {{"size", 4}}), Contains("input must be NCHW"));
}

TEST_CASE("ops: conv_transpose2d with stride, padding, output_padding, groups, dilation", "[ir][ops]") {
  at::manual_seed(22);
  at::Tensor x = r({2, 4, 5, 6}), w = r({4, 3, 3, 2}), b = r({6});
  Attrs attrs{{"stride", Ints{2, 3}},
              {"padding", Ints{1, 0}},
              {"output_padding", Ints{1, 2}},
              {"groups", 2},
              {"dilation", Ints{2, 1}}};
  CHECK(same(runOp("conv_transpose2d", {x, w, b}, attrs),
             at::conv_transpose2d(x, w, b, {2, 3}, {1, 0}, {1, 2}, 2, {2, 1})));
  at::Tensor w1 = r({4, 8, 2, 2});
  CHECK(same(runOp("conv_transpose2d", {x, w1}, {{"stride", 2}}), at::conv_transpose2d(x, w1, {}, 2)));
  CHECK(same(runOp("conv_transpose2d", {x, w1}), at::conv_transpose2d(x, w1)));
  // Every input element meets out/groups * kH * kW weights.
  CHECK(macsOf("conv_transpose2d", {{2, 4, 5, 6}, {4, 3, 3, 2}, {6}}, attrs) == 2 * 4 * 5 * 6 * 3 * 3 * 2);
  CHECK(macsOf("conv_transpose2d", {{1, 4, 5, 6}, {4, 8, 2, 2}}, {{"stride", 2}}) == 4 * 5 * 6 * 8 * 2 * 2);
  REQUIRE_THROWS_WITH(runOp("conv_transpose2d", {x, r({3, 3, 3, 3})}), Contains("expects 3"));
  REQUIRE_THROWS_WITH(runOp("conv_transpose2d", {x, w1}, {{"stride", 2}, {"output_padding", 2}}),
                      Contains("output_padding must be smaller than stride or dilation"));
}

TEST_CASE("ops: layer_norm and group_norm", "[ir][ops]") {
  at::manual_seed(23);
  at::Tensor x = r({2, 6, 4, 5}) * 3 + 1;
  at::Tensor w = r({4, 5}), b = r({4, 5});
  CHECK(same(runOp("layer_norm", {x, w, b}, {{"normalized_shape", Ints{4, 5}}}), at::layer_norm(x, {4, 5}, w, b)));
  CHECK(same(runOp("layer_norm", {x}, {{"normalized_shape", Ints{5}}, {"eps", 1e-3}}),
             at::layer_norm(x, {5}, {}, {}, 1e-3)));
  at::Tensor cw = r({6}), cb = r({6});
  CHECK(same(runOp("group_norm", {x, cw, cb}, {{"num_groups", 3}}), at::group_norm(x, 3, cw, cb)));
  CHECK(same(runOp("group_norm", {x}, {{"num_groups", 6}, {"eps", 1e-3}}), at::group_norm(x, 6, {}, {}, 1e-3)));
  // Same in training: no running statistics.
  CHECK(same(runOp("group_norm", {x, cw, cb}, {{"num_groups", 2}}, /*training=*/true), at::group_norm(x, 2, cw, cb)));
  REQUIRE_THROWS_WITH(runOp("layer_norm", {x}, {{"normalized_shape", Ints{6, 4}}}),
                      Contains("normalized_shape [6, 4] is not the trailing dims of [2, 6, 4, 5]"));
  REQUIRE_THROWS_WITH(runOp("layer_norm", {x, r({5})}, {{"normalized_shape", Ints{4, 5}}}),
                      Contains("input 1 has shape [5], expected [4, 5]"));
  REQUIRE_THROWS_WITH(runOp("group_norm", {x}, {{"num_groups", 4}}), Contains("num_groups=4 does not divide 6"));
}

TEST_CASE("ops: stochastic_depth is identity in eval, drops rows in training, reproducibly", "[ir][ops]") {
  at::Tensor x = r({400, 3, 2, 2}).abs() + 0.5;
  CHECK(same(runOp("stochastic_depth", {x}, {{"p", 0.5}, {"mode", "row"}}), x));
  CHECK(same(runOp("stochastic_depth", {x}, {{"p", 0.0}}, /*training=*/true), x));

  at::manual_seed(24);
  at::Tensor y = runOp("stochastic_depth", {x}, {{"p", 0.25}, {"mode", "row"}}, /*training=*/true);
  // torchvision.ops.stochastic_depth, row mode, from the same seed.
  at::manual_seed(24);
  at::Tensor noise = at::empty({400, 1, 1, 1}).bernoulli_(0.75).div_(0.75);
  CHECK(same(y, x * noise));
  at::Tensor kept = (y != 0).flatten(1);
  CHECK(at::equal(kept.all(1), kept.any(1)));  // each row is kept or dropped whole
  double dropped = 1.0 - kept.all(1).to(at::kDouble).mean().item<double>();
  CHECK(dropped > 0.15);
  CHECK(dropped < 0.35);
  CHECK(same(y.masked_select(y != 0), x.masked_select(y != 0) / 0.75));

  at::Tensor batch = runOp("stochastic_depth", {x}, {{"p", 0.5}, {"mode", "batch"}}, /*training=*/true);
  CHECK((same(batch, at::zeros_like(x)) || same(batch, x * 2)));
  CHECK(same(runOp("stochastic_depth", {x}, {{"p", 1.0}}, /*training=*/true), at::zeros_like(x)));
  REQUIRE_THROWS_WITH(runOp("stochastic_depth", {x}, {{"p", 1.5}}), Contains("p must be in [0, 1]"));
  REQUIRE_THROWS_WITH(runOp("stochastic_depth", {x}, {{"mode", "col"}}),
                      Contains("mode 'col' is not one of row, batch"));
}

TEST_CASE("ops: conv2d at batch 1 runs oneDNN where ATen would pick its slow native kernel", "[ir][ops]") {
  at::manual_seed(22);
  // A pruned resnet18's layer4 conv: 358 * 7 * 7 = 17542 input elements, under
  // LibTorch 1.13's oneDNN threshold (20480), 5.6 M multiply-accumulates.
  at::Tensor x = r({1, 358, 7, 7}), w = r({358, 358, 3, 3}), b = r({358});
  const Attrs attrs{{"padding", 1}};
  at::Tensor onednn = at::mkldnn_convolution(x, w, b, {1, 1}, {1, 1}, {1, 1}, 1);
  at::Tensor aten = at::conv2d(x, w, b, {1, 1}, {1, 1});
  REQUIRE_FALSE(at::equal(onednn, aten));  // the two kernels sum in other orders: the check below can tell them apart
  {
    at::NoGradGuard no_grad;
    CHECK(at::equal(runOp("conv2d", {x, w, b}, attrs), onednn));
  }
  CHECK(edgeopt::test::maxAbsDiff(onednn, aten) < 1e-3);  // sums of 3222 products of N(0, 1) values, |y| ~ 57
  // Recording autograd (a weight that wants gradients): at::conv2d, as before.
  at::Tensor wg = w.clone().requires_grad_(true);
  CHECK(at::equal(runOp("conv2d", {x, wg, b}, attrs), aten));
  // Below 2^19 multiply-accumulates oneDNN's per-call cost loses: at::conv2d (16 -> 16 at 8x8, 3x3: 147 k).
  at::NoGradGuard no_grad;
  at::Tensor xs = r({1, 16, 8, 8}), ws = r({16, 16, 3, 3});
  CHECK(at::equal(runOp("conv2d", {xs, ws}, attrs), at::conv2d(xs, ws, {}, {1, 1}, {1, 1})));
}
