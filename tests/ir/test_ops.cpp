// Every registered op kernel against the direct ATen call, with the op's
// shape function checked against the kernel's output (runOp).
#include <edgeopt/ir/op_registry.h>

#include "ir_test_util.h"

using namespace edgeopt;
using namespace edgeopt::ir;
using edgeopt::test::runOp;

namespace {
at::Tensor r(std::vector<int64_t> shape) { return at::randn(shape, at::kFloat); }
bool same(const at::Tensor& a, const at::Tensor& b) { return a.sizes() == b.sizes() && at::allclose(a, b, 1e-6, 1e-6); }
}  // namespace

TEST_CASE("ops: conv2d and linear", "[ir][ops]") {
  at::manual_seed(1);
  at::Tensor x = r({2, 4, 9, 7}), w = r({6, 2, 3, 3}), b = r({6});
  Attrs attrs{{"stride", Ints{2, 1}}, {"padding", Ints{1, 2}}, {"dilation", Ints{1, 2}}, {"groups", 2}};
  CHECK(same(runOp("conv2d", {x, w, b}, attrs), at::conv2d(x, w, b, {2, 1}, {1, 2}, {1, 2}, 2)));
  at::Tensor w1 = r({5, 4, 1, 1});
  CHECK(same(runOp("conv2d", {x, w1}), at::conv2d(x, w1)));
  at::Tensor lw = r({3, 7});
  CHECK(same(runOp("linear", {x, lw, r({3}).zero_()}), at::linear(x, lw)));
  CHECK(same(runOp("linear", {x, lw}), at::linear(x, lw)));
}

TEST_CASE("ops: batch_norm in eval and training", "[ir][ops]") {
  at::manual_seed(2);
  at::Tensor x = r({4, 3, 5, 5}), w = r({3}), b = r({3});
  at::Tensor mean = r({3}), var = at::rand({3}) + 0.5, count = at::zeros({}, at::kLong);
  Attrs attrs{{"eps", 1e-3}, {"momentum", 0.2}};
  CHECK(same(runOp("batch_norm", {x, w, b, mean, var, count}, attrs),
             at::batch_norm(x, w, b, mean, var, false, 0.2, 1e-3, true)));
  CHECK(count.item<int64_t>() == 0);

  at::Tensor ref_mean = mean.clone(), ref_var = var.clone();
  at::Tensor expected = at::batch_norm(x, w, b, ref_mean, ref_var, true, 0.2, 1e-3, true);
  CHECK(same(runOp("batch_norm", {x, w, b, mean, var, count}, attrs, /*training=*/true), expected));
  CHECK(same(mean, ref_mean));  // running stats updated in place, like nn.BatchNorm2d
  CHECK(same(var, ref_var));
  CHECK(count.item<int64_t>() == 1);
}

TEST_CASE("ops: activations", "[ir][ops]") {
  at::manual_seed(3);
  at::Tensor x = r({2, 3, 4}) * 4;
  CHECK(same(runOp("relu", {x}), at::relu(x)));
  CHECK(same(runOp("relu6", {x}), at::clamp(x, 0, 6)));
  CHECK(same(runOp("hardtanh", {x}, {{"min_val", -2.0}, {"max_val", 3.0}}), at::clamp(x, -2, 3)));
  CHECK(same(runOp("hardswish", {x}), at::hardswish(x)));
  CHECK(same(runOp("hardsigmoid", {x}), at::clamp(x / 6 + 0.5, 0, 1)));
  CHECK(same(runOp("sigmoid", {x}), 1 / (1 + at::exp(-x))));
  CHECK(same(runOp("silu", {x}), x * at::sigmoid(x)));
  CHECK(same(runOp("gelu", {x}), at::gelu(x)));
  CHECK(same(runOp("gelu", {x}, {{"approximate", "tanh"}}), at::gelu(x, "tanh")));
  CHECK(same(runOp("tanh", {x}), at::tanh(x)));
  CHECK(same(runOp("leaky_relu", {x}, {{"negative_slope", 0.2}}), at::where(x > 0, x, x * 0.2)));
  CHECK(same(runOp("softmax", {x}, {{"dim", 1}}), at::softmax(x, 1)));
  CHECK(same(runOp("softmax", {x}), at::softmax(x, -1)));
}

TEST_CASE("ops: arithmetic, tensor-tensor with broadcasting and tensor-scalar", "[ir][ops]") {
  at::manual_seed(4);
  at::Tensor a = r({2, 3, 4, 4}), b = r({1, 3, 1, 1});
  CHECK(same(runOp("add", {a, b}), a + b));
  CHECK(same(runOp("sub", {a, b}), a - b));
  CHECK(same(runOp("mul", {a, b}), a * b));
  CHECK(same(runOp("div", {a, b}), a / b));
  CHECK(same(runOp("add", {a}, {{"other", 1.5}}), a + 1.5));
  CHECK(same(runOp("sub", {a}, {{"other", 2}}), a - 2));
  CHECK(same(runOp("mul", {a}, {{"other", 0.5}}), a * 0.5));
  CHECK(same(runOp("div", {a}, {{"other", 4.0}}), a / 4));
  REQUIRE_THROWS_WITH(runOp("add", {a, r({2, 5})}), Catch::Matchers::Contains("do not broadcast"));
}

TEST_CASE("ops: cat, flatten, reshape, identity, dropout", "[ir][ops]") {
  at::manual_seed(5);
  at::Tensor a = r({2, 3, 4, 5}), b = r({2, 1, 4, 5});
  CHECK(same(runOp("cat", {a, b, a}, {{"dim", 1}}), at::cat({a, b, a}, 1)));
  CHECK(same(runOp("cat", {a, a}, {{"dim", -1}}), at::cat({a, a}, -1)));
  CHECK(same(runOp("flatten", {a}, {{"start_dim", 1}}), a.reshape({2, 60})));
  CHECK(same(runOp("flatten", {a}), a.reshape({120})));
  CHECK(same(runOp("flatten", {a}, {{"start_dim", 1}, {"end_dim", 2}}), a.reshape({2, 12, 5})));
  CHECK(same(runOp("reshape", {a}, {{"shape", Ints{-1, 10}}}), a.reshape({12, 10})));
  CHECK(same(runOp("identity", {a}), a));
  CHECK(same(runOp("dropout", {a}, {{"p", 0.5}}), a));  // eval: identity
  at::Tensor ones = at::ones({1000});
  at::Tensor dropped = runOp("dropout", {ones}, {{"p", 0.5}}, /*training=*/true);
  double zeros = (dropped == 0).sum().item<double>();
  CHECK(zeros > 400);
  CHECK(zeros < 600);
  CHECK(same(dropped.masked_select(dropped != 0), at::full({1000 - static_cast<int64_t>(zeros)}, 2.0)));
}

TEST_CASE("ops: pools and mean", "[ir][ops]") {
  at::manual_seed(6);
  at::Tensor x = r({2, 3, 11, 10});
  Attrs mp{{"kernel_size", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"padding", Ints{1, 1}}};
  CHECK(same(runOp("max_pool2d", {x}, mp), at::max_pool2d(x, {3, 3}, {2, 2}, {1, 1})));
  Attrs ceil{{"kernel_size", 3}, {"stride", 2}, {"ceil_mode", true}};
  CHECK(same(runOp("max_pool2d", {x}, ceil), at::max_pool2d(x, {3, 3}, {2, 2}, {0, 0}, {1, 1}, true)));
  CHECK(same(runOp("max_pool2d", {x}, {{"kernel_size", 2}}), at::max_pool2d(x, {2, 2})));
  Attrs ap{{"kernel_size", 3}, {"stride", 2}, {"padding", 1}, {"count_include_pad", false}};
  CHECK(same(runOp("avg_pool2d", {x}, ap), at::avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, false, false)));
  CHECK(same(runOp("avg_pool2d", {x}, {{"kernel_size", 2}, {"ceil_mode", true}}),
             at::avg_pool2d(x, {2, 2}, {2, 2}, {0, 0}, true)));
  CHECK(same(runOp("adaptive_avg_pool2d", {x}, {{"output_size", Ints{1, 1}}}), x.mean({2, 3}, true)));
  CHECK(same(runOp("adaptive_avg_pool2d", {x}, {{"output_size", Ints{3, 2}}}), at::adaptive_avg_pool2d(x, {3, 2})));
  CHECK(same(runOp("mean", {x}, {{"dim", Ints{-2, -1}}}), x.mean({2, 3})));
  CHECK(same(runOp("mean", {x}, {{"dim", Ints{1}}, {"keepdim", true}}), x.mean({1}, true)));
  CHECK(same(runOp("mean", {x}), x.mean()));
}

TEST_CASE("ops: every registered op has a kernel, a shape function", "[ir][ops]") {
  const auto& reg = OpRegistry::instance();
  // clang-format off
  std::vector<std::string> expected{
      "adaptive_avg_pool2d", "add", "avg_pool2d", "batch_norm", "bias_quant", "bn_fold_weight", "cat", "chunk",
      "clamp", "conv2d", "conv_bn_qat", "conv_transpose2d", "div", "dropout", "erf", "exp", "expand", "fake_quant",
      "flatten", "full_like", "gelu", "group_norm", "hardsigmoid", "hardswish", "hardtanh", "identity", "index_select",
      "interpolate", "layer_norm", "leaky_relu", "linear", "masked_fill", "matmul", "max_pool2d", "mean", "mul", "ne",
      "norm", "pad", "permute", "pow", "relu", "relu6", "reshape", "roll", "select", "sigmoid", "silu", "slice",
      "slice_scatter", "softmax", "split", "sqrt", "stochastic_depth", "sub", "tanh", "transpose", "unsqueeze"};
  // clang-format on
  CHECK(reg.names() == expected);
  REQUIRE_THROWS_WITH(reg.get("nope"), Catch::Matchers::StartsWith("unknown op 'nope' (known: adaptive_avg_pool2d,"));
  OpRegistry local;
  local.add(reg.get("relu"));
  REQUIRE_THROWS_WITH(local.add(reg.get("relu")), "op registry: op 'relu' is registered twice");
}
