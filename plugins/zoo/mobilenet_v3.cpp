// torchvision.models.mobilenet_v3_large / mobilenet_v3_small, name for name:
// SE blocks are adaptive_avg_pool2d -> conv -> relu -> conv -> hardsigmoid -> mul.
#include "zoo_models.h"

#include <edgeopt/ir/builder.h>

namespace edgeopt::zoo {
namespace {

using ir::Conv2dOptions;
using ir::ModelBuilder;
using ir::Value;

constexpr double kBnEps = 0.001, kBnMomentum = 0.01;  // MobileNetV3's norm_layer

struct BlockConfig {
  int64_t in, kernel, expanded, out;
  bool se, hardswish;
  int64_t stride;
};

enum class Act { None, ReLU, Hardswish };

// Conv2dNormActivation: children 0 (conv), 1 (BN), 2 (activation, if any).
Value* convBnAct(ModelBuilder& b, const std::string& name, Value* x, int64_t in, int64_t out, int64_t kernel,
                 int64_t stride, int64_t groups, Act act) {
  auto s = b.module(name, "Conv2dNormActivation");
  x = b.conv2d("0", x, Conv2dOptions(in, out, kernel).stride(stride).padding((kernel - 1) / 2).groups(groups).bias(false));
  x = b.batchNorm2d("1", x, out, kBnEps, kBnMomentum);
  if (act == Act::ReLU) return b.relu("2", x);
  if (act == Act::Hardswish) return b.hardswish("2", x);
  return x;
}

Value* squeezeExcitation(ModelBuilder& b, const std::string& name, Value* x, int64_t channels, int64_t squeeze) {
  auto s = b.module(name, "SqueezeExcitation");
  Value* scale = b.adaptiveAvgPool2d("avgpool", x, {1, 1});
  scale = b.conv2d("fc1", scale, Conv2dOptions(channels, squeeze, 1));
  scale = b.relu("activation", scale);
  scale = b.conv2d("fc2", scale, Conv2dOptions(squeeze, channels, 1));
  scale = b.hardsigmoid("scale_activation", scale);
  return b.functional("mul", {scale, x});
}

Value* invertedResidual(ModelBuilder& b, const std::string& name, Value* x, const BlockConfig& c) {
  auto s = b.module(name, "InvertedResidual");
  Act act = c.hardswish ? Act::Hardswish : Act::ReLU;
  Value* y = x;
  {
    auto block = b.module("block", "Sequential");
    int index = 0;
    if (c.expanded != c.in) y = convBnAct(b, std::to_string(index++), y, c.in, c.expanded, 1, 1, 1, act);
    y = convBnAct(b, std::to_string(index++), y, c.expanded, c.expanded, c.kernel, c.stride, c.expanded, act);
    if (c.se) y = squeezeExcitation(b, std::to_string(index++), y, c.expanded, makeDivisible(c.expanded / 4));
    y = convBnAct(b, std::to_string(index++), y, c.expanded, c.out, 1, 1, 1, Act::None);
  }
  return (c.stride == 1 && c.in == c.out) ? b.add(y, x) : y;
}

}  // namespace

std::shared_ptr<GraphModule> buildMobileNetV3(bool large, const ZooOptions& o) {
  // torchvision's (input, kernel, expanded, out, use_se, use_hs, stride) tables.
  const std::vector<BlockConfig> large_cfg = {
      {16, 3, 16, 16, false, false, 1},    {16, 3, 64, 24, false, false, 2},    {24, 3, 72, 24, false, false, 1},
      {24, 5, 72, 40, true, false, 2},     {40, 5, 120, 40, true, false, 1},    {40, 5, 120, 40, true, false, 1},
      {40, 3, 240, 80, false, true, 2},    {80, 3, 200, 80, false, true, 1},    {80, 3, 184, 80, false, true, 1},
      {80, 3, 184, 80, false, true, 1},    {80, 3, 480, 112, true, true, 1},    {112, 3, 672, 112, true, true, 1},
      {112, 5, 672, 160, true, true, 2},   {160, 5, 960, 160, true, true, 1},   {160, 5, 960, 160, true, true, 1}};
  const std::vector<BlockConfig> small_cfg = {
      {16, 3, 16, 16, true, false, 2},  {16, 3, 72, 24, false, false, 2}, {24, 3, 88, 24, false, false, 1},
      {24, 5, 96, 40, true, true, 2},   {40, 5, 240, 40, true, true, 1},  {40, 5, 240, 40, true, true, 1},
      {40, 5, 120, 48, true, true, 1},  {48, 5, 144, 48, true, true, 1},  {48, 5, 288, 96, true, true, 2},
      {96, 5, 576, 96, true, true, 1},  {96, 5, 576, 96, true, true, 1}};
  std::vector<BlockConfig> cfg = large ? large_cfg : small_cfg;
  for (auto& c : cfg) {
    c.in = makeDivisible(c.in * o.width_mult);
    c.expanded = makeDivisible(c.expanded * o.width_mult);
    c.out = makeDivisible(c.out * o.width_mult);
  }
  const int64_t last_conv = 6 * cfg.back().out;
  const int64_t last_channel = makeDivisible((large ? 1280 : 1024) * o.width_mult);

  ModelBuilder b;
  Value* x = b.input("x");
  {
    auto features = b.module("features", "Sequential");
    x = convBnAct(b, "0", x, o.in_channels, cfg.front().in, 3, 2, 1, Act::Hardswish);
    for (size_t i = 0; i < cfg.size(); ++i) x = invertedResidual(b, std::to_string(i + 1), x, cfg[i]);
    x = convBnAct(b, std::to_string(cfg.size() + 1), x, cfg.back().out, last_conv, 1, 1, 1, Act::Hardswish);
  }
  x = b.adaptiveAvgPool2d("avgpool", x, {1, 1});
  x = b.functional("flatten", {x}, {{"start_dim", int64_t{1}}, {"end_dim", int64_t{-1}}});
  {
    auto classifier = b.module("classifier", "Sequential");
    x = b.linear("0", x, last_conv, last_channel, true, ir::LinearInit::Normal001);
    x = b.hardswish("1", x);
    x = b.dropout("2", x, 0.2);
    x = b.linear("3", x, last_channel, o.num_classes, true, ir::LinearInit::Normal001);
  }
  b.output({x});
  return b.finish();
}

}  // namespace edgeopt::zoo
