// Each built-in surgery rule on a tiny graph: lint, exact op counts, numbers
// where the rewrite is exact, and a "does not fire" twin.
#include "surgery_test_util.h"

#include <edgeopt/ir/builder.h>

using namespace edgeopt;
using namespace edgeopt::test;
using ir::Conv2dOptions;
using ir::Value;

namespace {

std::shared_ptr<GraphModule> finish(ir::ModelBuilder& b, Value* y, ir::Shape input) {
  b.output({y});
  auto m = b.finish();
  m->setExampleInputShapes({std::move(input)});
  return m;
}

// conv -> act for every activation the table turns into ReLU.
std::shared_ptr<GraphModule> activationChain() {
  ir::ModelBuilder b;
  Value* x = b.conv2d("conv", b.input(), Conv2dOptions(3, 4, 3).padding(1));
  x = b.relu6("a6", x);
  x = b.leaf("gelu", "GELU", "gelu", {x});
  x = b.silu("silu", x);
  x = b.hardswish("hswish", x);
  x = b.hardsigmoid("hsig", x);
  x = b.leaf("leaky", "LeakyReLU", "leaky_relu", {x}, {{"negative_slope", 0.1}});
  x = b.leaf("clip", "Hardtanh", "hardtanh", {x}, {{"min_val", -1.0}, {"max_val", 1.0}});  // not ReLU6
  return finish(b, x, {1, 3, 8, 8});
}

}  // namespace

TEST_CASE("each <act>_to_relu rule replaces its activation by a ReLU of the same name", "[surgery]") {
  auto m = activationChain();
  const std::vector<std::pair<std::string, std::string>> rules = {
      {"relu6_to_relu", "a6"},       {"gelu_to_relu", "gelu"},           {"silu_to_relu", "silu"},
      {"hardswish_to_relu", "hswish"}, {"hardsigmoid_to_relu", "hsig"}, {"leaky_relu_to_relu", "leaky"}};
  for (const auto& [rule, node] : rules) {
    INFO(rule);
    CHECK(applyRule(*m, rule) == std::vector<std::string>{node});
    ir::Node* n = m->graph().findNode(node);
    REQUIRE(n != nullptr);
    CHECK(n->target() == "relu");
    CHECK(n->moduleType() == "ReLU");
    CHECK(n->scope().back() == ir::ScopeEntry{node, "ReLU"});  // type: selectors see the new module
  }
  CHECK(countOps(*m, "relu") == 6);
  // Does not fire: hardtanh(-1, 1) is not ReLU6, and a second run finds nothing.
  CHECK(applyRule(*m, "relu6_to_relu").empty());
  CHECK(countOps(*m, "hardtanh") == 1);
  // The model still runs and every activation is now max(x, 0) before the clip.
  const at::Tensor x = at::randn({2, 3, 8, 8});
  const at::Tensor conv = at::conv2d(x, m->tensor("conv.weight"), m->tensor("conv.bias"), 1, 1);
  CHECK(maxDiff(evalOutput(*m, x), at::clamp(at::relu(conv), -1, 1)) == 0.0);
}

TEST_CASE("se_to_identity removes squeeze-excitation blocks exactly, and leaves other multiplies", "[surgery]") {
  ir::ModelBuilder b;
  Value* x = b.conv2d("conv", b.input(), Conv2dOptions(3, 8, 3).padding(1));
  Value* gate;
  {
    auto s = b.module("se", "SqueezeExcitation");
    gate = b.adaptiveAvgPool2d("avgpool", x, {1, 1});
    gate = b.conv2d("fc1", gate, Conv2dOptions(8, 2, 1));
    gate = b.relu("activation", gate);
    gate = b.conv2d("fc2", gate, Conv2dOptions(2, 8, 1));
    gate = b.hardsigmoid("scale_activation", gate);
    gate = b.functional("mul", {gate, x});  // torchvision writes scale * input
  }
  Value* other = b.functional("mul", {gate, b.sigmoid("plain_gate", gate)});  // x * sigmoid(x): no pool, not SE
  auto m = finish(b, other, {1, 3, 8, 8});
  const int64_t params_before = static_cast<int64_t>(m->namedParameters().size());

  const auto replaced = applyRule(*m, "se_to_identity");
  REQUIRE(replaced.size() == 1);
  CHECK(replaced[0].rfind("se.", 0) == 0);
  CHECK(countOps(*m, "mul") == 1);
  CHECK(countOps(*m, "adaptive_avg_pool2d") == 0);
  CHECK(countOps(*m, "hardsigmoid") == 0);
  CHECK(countOps(*m, "conv2d") == 1);
  CHECK(static_cast<int64_t>(m->namedParameters().size()) == params_before - 4);  // fc1/fc2 weight and bias
  CHECK_FALSE(m->hasTensor("se.fc1.weight"));
  const at::Tensor in = at::randn({2, 3, 8, 8});
  const at::Tensor conv = at::conv2d(in, m->tensor("conv.weight"), m->tensor("conv.bias"), 1, 1);
  CHECK(maxDiff(evalOutput(*m, in), conv * at::sigmoid(conv)) == 0.0);
  CHECK(applyRule(*m, "se_to_identity").empty());
}

TEST_CASE("maxpool_k5plus_to_3x3 is exact for stride 1 and 2, padding k/2 and 0", "[surgery]") {
  struct Case {
    int64_t k, stride, pad, pools;
  };
  for (Case c : {Case{5, 1, 2, 2}, Case{9, 1, 4, 4}, Case{13, 1, 6, 6}, Case{5, 2, 2, 2}, Case{7, 3, 0, 3}}) {
    INFO("k " << c.k << " stride " << c.stride << " padding " << c.pad);
    ir::ModelBuilder b;
    Value* y = b.maxPool2d("pool", b.input(), c.k, c.stride, c.pad);
    auto m = finish(b, y, {1, 2, 17, 16});
    const at::Tensor x = at::randn({2, 2, 17, 16});
    const at::Tensor before = evalOutput(*m, x);
    CHECK(applyRule(*m, "maxpool_k5plus_to_3x3") == std::vector<std::string>{"pool"});
    CHECK(countOps(*m, "max_pool2d") == c.pools);
    for (ir::Node* n : m->graph().nodes())
      if (n->opcode() == ir::Opcode::Call) CHECK(n->get<ir::Ints>("kernel_size") == ir::Ints{3, 3});
    CHECK(m->graph().findNode("pool")->get<ir::Ints>("stride") == ir::Ints{c.stride, c.stride});
    CHECK(maxDiff(evalOutput(*m, x), before) == 0.0);
  }
  // Does not fire: even or small kernels, padding that is neither k/2 nor 0.
  for (auto [k, pad] : std::vector<std::pair<int64_t, int64_t>>{{4, 2}, {3, 1}, {5, 1}}) {
    ir::ModelBuilder b;
    auto m = finish(b, b.maxPool2d("pool", b.input(), k, 1, pad), {1, 2, 16, 16});
    CHECK(applyRule(*m, "maxpool_k5plus_to_3x3").empty());
  }
}

TEST_CASE("avgpool_k5plus_to_3x3 chains 3x3 average pools (a triangular-weighted approximation)", "[surgery]") {
  ir::ModelBuilder b;
  Value* y = b.leaf("pool", "AvgPool2d", "avg_pool2d", {b.input()},
                    {{"kernel_size", ir::Ints{5, 5}}, {"stride", ir::Ints{1, 1}}, {"padding", ir::Ints{0, 0}}});
  auto m = finish(b, y, {1, 1, 9, 9});
  const at::Tensor x = at::randn({1, 1, 9, 9});
  const at::Tensor before = evalOutput(*m, x);
  CHECK(applyRule(*m, "avgpool_k5plus_to_3x3").size() == 1);
  CHECK(countOps(*m, "avg_pool2d") == 2);
  // Same shape; each output is the [1 2 3 2 1]^2 / 81 weighted mean of its 5x5 window.
  const at::Tensor w1 = at::tensor({1.f, 2.f, 3.f, 2.f, 1.f});
  const at::Tensor w = (w1.unsqueeze(1) * w1.unsqueeze(0) / 81.0).reshape({1, 1, 5, 5});
  const at::Tensor after = evalOutput(*m, x);
  CHECK(after.sizes() == before.sizes());
  CHECK(maxDiff(after, at::conv2d(x, w)) < 1e-6);
  CHECK(maxDiff(after, before) > 1e-3);  // not the uniform mean: documented as approximate
}

TEST_CASE("resize_size_to_scale is exact for integer and 1/2^n ratios only", "[surgery]") {
  for (const std::string mode : {"nearest", "bilinear"}) {
    ir::ModelBuilder b;
    Value* up = b.leaf("up", "Upsample", "interpolate", {b.input()}, {{"size", ir::Ints{24, 16}}, {"mode", mode}});
    Value* down = b.leaf("down", "Upsample", "interpolate", {up}, {{"size", ir::Ints{6, 4}}, {"mode", mode}});
    Value* odd = b.leaf("odd", "Upsample", "interpolate", {down}, {{"size", ir::Ints{9, 6}}, {"mode", mode}});
    auto m = finish(b, odd, {1, 2, 8, 8});
    const at::Tensor x = at::randn({1, 2, 8, 8});
    const at::Tensor before = evalOutput(*m, x);
    CHECK(applyRule(*m, "resize_size_to_scale") == std::vector<std::string>{"up", "down"});
    CHECK(m->graph().findNode("up")->get<ir::Doubles>("scale_factor") == ir::Doubles{3.0, 2.0});
    CHECK(m->graph().findNode("down")->get<ir::Doubles>("scale_factor") == ir::Doubles{0.25, 0.25});
    CHECK(m->graph().findNode("odd")->hasAttr("size"));  // 6 -> 9 is 1.5: left alone
    CHECK(maxDiff(evalOutput(*m, x), before) == 0.0);
  }
}

TEST_CASE("conv_k6_to_k5 keeps the output size and re-initialises the weight", "[surgery]") {
  for (int64_t size : {64, 63}) {
    ir::ModelBuilder b;
    Value* y = b.conv2d("stem", b.input(), Conv2dOptions(3, 16, 6).stride(2).padding(2));
    auto m = finish(b, y, {1, 3, size, size});
    const at::Tensor x = at::randn({1, 3, size, size});
    const auto shape_before = evalOutput(*m, x).sizes().vec();
    CHECK(applyRule(*m, "conv_k6_to_k5") == std::vector<std::string>{"stem"});
    CHECK(m->tensor("stem.weight").sizes().vec() == std::vector<int64_t>{16, 3, 5, 5});
    CHECK(m->graph().findNode("stem")->get<ir::Ints>("padding") == (size % 2 ? ir::Ints{1, 1} : ir::Ints{2, 2}));
    CHECK(evalOutput(*m, x).sizes().vec() == shape_before);
    CHECK(applyRule(*m, "conv_k6_to_k5").empty());
  }
}

TEST_CASE("conv_k8plus_to_3x3 builds a deterministic 3x3 conv+BN+ReLU stack", "[surgery]") {
  ir::ModelBuilder b;
  Value* y = b.conv2d("big", b.input(), Conv2dOptions(4, 8, 9).stride(2).padding(4));
  y = b.conv2d("dw", y, Conv2dOptions(8, 8, 11).padding(5).groups(8));
  y = b.conv2d("k7", y, Conv2dOptions(8, 8, 7).padding(3));  // k = 7 stays
  auto m = finish(b, y, {1, 4, 32, 32});
  const at::Tensor x = at::randn({1, 4, 32, 32});
  const auto shape_before = evalOutput(*m, x).sizes().vec();
  CHECK(applyRule(*m, "conv_k8plus_to_3x3") == std::vector<std::string>{"big", "dw"});
  CHECK(countOps(*m, "conv2d") == 4 + 5 + 1);
  CHECK(countOps(*m, "batch_norm") == 3 + 4);
  CHECK(countOps(*m, "relu") == 3 + 4);
  CHECK(m->tensor("big.0.weight").sizes().vec() == std::vector<int64_t>{8, 4, 3, 3});
  CHECK(m->tensor("big.9.weight").sizes().vec() == std::vector<int64_t>{8, 8, 3, 3});
  CHECK(m->graph().findNode("big.9")->get<ir::Ints>("stride") == ir::Ints{2, 2});
  CHECK(m->tensor("dw.12.weight").sizes().vec() == std::vector<int64_t>{8, 1, 3, 3});
  CHECK(evalOutput(*m, x).sizes().vec() == shape_before);
}

TEST_CASE("focus_to_reshape turns YOLOv5's Focus slicing into reshape/permute/reshape, exactly", "[surgery]") {
  auto slice = [](ir::ModelBuilder& b, Value* x, int64_t dim, int64_t start) {
    return b.functional("slice", {x}, {{"dim", dim}, {"start", start}, {"step", int64_t{2}}});
  };
  for (bool yolo_order : {true, false}) {
    ir::ModelBuilder b;
    Value* x = b.input();
    std::vector<Value*> parts;
    const std::vector<std::pair<int64_t, int64_t>> order =
        yolo_order ? std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {1, 0}, {0, 1}, {1, 1}}
                   : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    for (auto [row, col] : order) parts.push_back(slice(b, slice(b, x, 2, row), 3, col));
    Value* y = b.functional("cat", parts, {{"dim", int64_t{1}}});
    auto m = finish(b, y, {1, 3, 8, 12});
    const at::Tensor in = at::randn({2, 3, 8, 12});
    const at::Tensor before = evalOutput(*m, in);
    CHECK(applyRule(*m, "focus_to_reshape").size() == 1);
    CHECK(countOps(*m, "slice") == 0);
    CHECK(countOps(*m, "cat") == 0);
    CHECK(countOps(*m, "reshape") == 2);
    CHECK(countOps(*m, "permute") == 1);
    CHECK(maxDiff(evalOutput(*m, in), before) == 0.0);
  }
}

TEST_CASE("input_permute_to_nchw drops a leading NHWC->NCHW permute, so the model takes NCHW", "[surgery]") {
  ir::ModelBuilder b;
  Value* x = b.functional("permute", {b.input()}, {{"dims", ir::Ints{0, 3, 1, 2}}});
  Value* y = b.conv2d("conv", x, Conv2dOptions(3, 4, 3));
  auto m = finish(b, y, {1, 10, 12, 3});
  const at::Tensor nhwc = at::randn({2, 10, 12, 3});
  const at::Tensor before = evalOutput(*m, nhwc);
  CHECK(applyRule(*m, "input_permute_to_nchw").size() == 1);
  CHECK(countOps(*m, "permute") == 0);
  CHECK(m->exampleInputShapes() == std::vector<ir::Shape>{{1, 3, 10, 12}});
  CHECK(maxDiff(evalOutput(*m, nhwc.permute({0, 3, 1, 2}).contiguous()), before) == 0.0);
  CHECK(applyRule(*m, "input_permute_to_nchw").empty());
}

TEST_CASE("layernorm_to_batchnorm turns a channel LayerNorm (permute, LN, permute) into BatchNorm2d", "[surgery]") {
  ir::ModelBuilder b;
  Value* x = b.conv2d("conv", b.input(), Conv2dOptions(3, 6, 3).padding(1));
  Value* y;
  {
    auto s = b.module("norm", "LayerNorm2d");
    y = b.functional("permute", {x}, {{"dims", ir::Ints{0, 2, 3, 1}}});
    Value* w = b.parameter("weight", at::rand({6}) + 0.5);
    Value* bias = b.parameter("bias", at::randn({6}));
    y = b.functional("layer_norm", {y, w, bias}, {{"normalized_shape", ir::Ints{6}}, {"eps", 1e-6}});
    y = b.functional("permute", {y}, {{"dims", ir::Ints{0, 3, 1, 2}}});
  }
  Value* other = b.functional("permute", {y}, {{"dims", ir::Ints{0, 2, 3, 1}}});  // NHWC output: not a LN
  auto m = finish(b, other, {1, 3, 8, 8});
  const at::Tensor gamma = m->tensor("norm.weight").clone(), beta = m->tensor("norm.bias").clone();
  CHECK(applyRule(*m, "layernorm_to_batchnorm").size() == 1);
  CHECK(countOps(*m, "layer_norm") == 0);
  CHECK(countOps(*m, "batch_norm") == 1);
  CHECK(countOps(*m, "permute") == 1);
  CHECK_FALSE(m->hasTensor("norm.weight"));
  ir::Node* bn = nullptr;
  for (ir::Node* n : m->graph().nodes())
    if (n->opcode() == ir::Opcode::Call && n->target() == "batch_norm") bn = n;
  REQUIRE(bn != nullptr);
  CHECK(bn->get<double>("eps") == 1e-6);
  // Fresh running stats (0, 1): eval output is gamma * conv / sqrt(1 + eps) + beta, per channel.
  const at::Tensor in = at::randn({2, 3, 8, 8});
  const at::Tensor conv = at::conv2d(in, m->tensor("conv.weight"), m->tensor("conv.bias"), 1, 1);
  const at::Tensor want = (conv * gamma.reshape({1, 6, 1, 1}) / std::sqrt(1 + 1e-6) + beta.reshape({1, 6, 1, 1}))
                              .permute({0, 2, 3, 1});
  CHECK(maxDiff(evalOutput(*m, in), want) < 1e-5);
}

TEST_CASE("convnext_block_to_lite replaces a ConvNeXt block by TI's lite block", "[surgery]") {
  const int64_t c = 8;
  ir::ModelBuilder b;
  Value* x = b.conv2d("stem", b.input(), Conv2dOptions(3, c, 3).padding(1));
  for (int i = 0; i < 2; ++i) {
    auto s = b.module("stage." + std::to_string(i), "CNBlock");
    Value* y;
    {
      auto blk = b.module("block", "Sequential");
      y = b.conv2d("0", x, Conv2dOptions(c, c, 7).padding(3).groups(c));
      y = b.leaf("1", "Permute", "permute", {y}, {{"dims", ir::Ints{0, 2, 3, 1}}});
      {
        auto ln = b.module("2", "LayerNorm");
        y = b.functional("layer_norm", {y, b.parameter("weight", at::ones({c})), b.parameter("bias", at::zeros({c}))},
                         {{"normalized_shape", ir::Ints{c}}, {"eps", 1e-6}});
      }
      y = b.linear("3", y, c, 4 * c);
      y = b.leaf("4", "GELU", "gelu", {y});
      y = b.linear("5", y, 4 * c, c);
      y = b.leaf("6", "Permute", "permute", {y}, {{"dims", ir::Ints{0, 3, 1, 2}}});
    }
    y = b.functional("mul", {b.parameter("layer_scale", at::full({c, 1, 1}, 1e-6)), y});
    if (i == 0) y = b.leaf("stochastic_depth", "StochasticDepth", "stochastic_depth", {y}, {{"p", 0.1}, {"mode", "row"}});
    x = b.add(y, x);
  }
  auto m = finish(b, x, {1, 3, 16, 16});
  const at::Tensor in = at::randn({2, 3, 16, 16});
  const auto shape_before = evalOutput(*m, in).sizes().vec();
  CHECK(applyRule(*m, "convnext_block_to_lite").size() == 2);  // with and without stochastic depth
  for (const char* gone : {"layer_norm", "linear", "gelu", "permute", "mul", "stochastic_depth"}) {
    INFO(gone);
    CHECK(countOps(*m, gone) == 0);
  }
  CHECK(countOps(*m, "conv2d") == 1 + 2 * 4);
  CHECK(countOps(*m, "batch_norm") == 2 * 4);
  CHECK(countOps(*m, "relu") == 2 * 3);
  CHECK(countOps(*m, "add") == 2);
  CHECK(m->tensor("stage.0.add.block.0.conv.weight").sizes().vec() == std::vector<int64_t>{c, 1, 5, 5});
  CHECK(m->tensor("stage.0.add.block.1.conv.weight").sizes().vec() == std::vector<int64_t>{c, 1, 3, 3});
  CHECK(m->tensor("stage.0.add.block.2.conv.weight").sizes().vec() == std::vector<int64_t>{4 * c, c, 1, 1});
  CHECK(m->tensor("stage.0.add.block.3.weight").sizes().vec() == std::vector<int64_t>{c, 4 * c, 1, 1});
  CHECK(evalOutput(*m, in).sizes().vec() == shape_before);
  // It trains: gradients reach the new block's first conv.
  m->train();
  m->forward({in})[0].sum().backward();
  CHECK(m->tensor("stage.0.add.block.0.conv.weight").grad().abs().sum().item<double>() > 0);
}
