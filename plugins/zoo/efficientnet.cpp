// torchvision.models.efficientnet_b0, node for node and name for name:
// features.0 stem, features.1-7 stages of MBConv blocks (block: expand 1x1,
// depthwise, SqueezeExcitation with SiLU/Sigmoid, project 1x1; a residual
// block adds stochastic_depth(block(x)) + x), features.8 head conv,
// avgpool, classifier (Dropout 0.2, Linear). BatchNorm2d defaults (eps 1e-5,
// momentum 0.1). Stochastic depth probability grows linearly with the block
// index to 0.2 (the last block: 0.2 * 15 / 16).
#include "zoo_models.h"

#include <edgeopt/ir/builder.h>

#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <cmath>

namespace edgeopt::zoo {
namespace {

using ir::Conv2dOptions;
using ir::ModelBuilder;
using ir::Value;

// Conv2dNormActivation: 0 conv, 1 BN, 2 SiLU (if `act`).
Value* convBnSilu(ModelBuilder& b, const std::string& name, Value* x, int64_t in, int64_t out, int64_t kernel,
                  int64_t stride, int64_t groups, bool act) {
  auto s = b.module(name, "Conv2dNormActivation");
  x = b.conv2d("0", x, Conv2dOptions(in, out, kernel).stride(stride).padding((kernel - 1) / 2).groups(groups).bias(false));
  x = b.batchNorm2d("1", x, out);
  return act ? b.silu("2", x) : x;
}

Value* squeezeExcitation(ModelBuilder& b, const std::string& name, Value* x, int64_t channels, int64_t squeeze) {
  auto s = b.module(name, "SqueezeExcitation");
  Value* scale = b.adaptiveAvgPool2d("avgpool", x, {1, 1});
  scale = b.conv2d("fc1", scale, Conv2dOptions(channels, squeeze, 1));
  scale = b.silu("activation", scale);
  scale = b.conv2d("fc2", scale, Conv2dOptions(squeeze, channels, 1));
  scale = b.sigmoid("scale_activation", scale);
  return b.functional("mul", {scale, x});
}

struct MBConv {
  int64_t expand_ratio, kernel, stride, in, out;
};

Value* mbConv(ModelBuilder& b, const std::string& name, Value* x, const MBConv& c, double sd_prob) {
  auto s = b.module(name, "MBConv");
  const int64_t expanded = makeDivisible(static_cast<double>(c.in * c.expand_ratio));
  Value* y = x;
  {
    auto block = b.module("block", "Sequential");
    int index = 0;
    if (expanded != c.in) y = convBnSilu(b, std::to_string(index++), y, c.in, expanded, 1, 1, 1, true);
    y = convBnSilu(b, std::to_string(index++), y, expanded, expanded, c.kernel, c.stride, expanded, true);
    y = squeezeExcitation(b, std::to_string(index++), y, expanded, std::max<int64_t>(1, c.in / 4));
    y = convBnSilu(b, std::to_string(index++), y, expanded, c.out, 1, 1, 1, false);
  }
  if (c.stride != 1 || c.in != c.out) return y;
  y = b.leaf("stochastic_depth", "StochasticDepth", "stochastic_depth", {y}, {{"p", sd_prob}, {"mode", "row"}});
  return b.add(y, x);
}

// EfficientNet's Linear init: U(+-1/sqrt(out_features)) weight, zero bias.
Value* classifierLinear(ModelBuilder& b, const std::string& name, Value* x, int64_t in, int64_t out) {
  std::vector<Value*> inputs{x};
  {
    auto s = b.module(name, "Linear");
    double bound = 1.0 / std::sqrt(static_cast<double>(out));
    inputs.push_back(b.parameter("weight", at::empty({out, in}).uniform_(-bound, bound)));
    inputs.push_back(b.parameter("bias", at::zeros({out})));
  }
  return b.leaf(name, "Linear", "linear", std::move(inputs));
}

}  // namespace

std::shared_ptr<GraphModule> buildEfficientNetB0(const ZooOptions& o) {
  struct Stage { int64_t expand_ratio, kernel, stride, in, out, layers; };
  const Stage settings[] = {{1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},  {6, 5, 2, 24, 40, 2},
                            {6, 3, 2, 40, 80, 3},  {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4},
                            {6, 3, 1, 192, 320, 1}};
  constexpr double kStochasticDepth = 0.2;
  // Small images (28-64 px): no stride in the stem and the first stride-2
  // stage (features.2), so the last feature map is input/8 (zoo_models.h).
  const bool small_input = o.input_size <= 64;
  auto width = [&](int64_t c) { return makeDivisible(c * o.width_mult); };
  int64_t total_blocks = 0;
  for (const Stage& st : settings) total_blocks += st.layers;

  ModelBuilder b;
  Value* x = b.input("x");
  int64_t last_out = 0;
  {
    auto features = b.module("features", "Sequential");
    x = convBnSilu(b, "0", x, o.in_channels, width(settings[0].in), 3, small_input ? 1 : 2, 1, true);
    int64_t block_id = 0;
    for (size_t i = 0; i < std::size(settings); ++i) {
      const Stage& st = settings[i];
      auto stage = b.module(std::to_string(i + 1), "Sequential");
      const int64_t stage_stride = (small_input && i == 1) ? 1 : st.stride;
      for (int64_t j = 0; j < st.layers; ++j) {
        MBConv c{st.expand_ratio, st.kernel, j == 0 ? stage_stride : 1, j == 0 ? width(st.in) : width(st.out),
                 width(st.out)};
        double sd = kStochasticDepth * static_cast<double>(block_id++) / static_cast<double>(total_blocks);
        x = mbConv(b, std::to_string(j), x, c, sd);
      }
    }
    last_out = 4 * width(settings[std::size(settings) - 1].out);
    x = convBnSilu(b, std::to_string(std::size(settings) + 1), x, width(settings[6].out), last_out, 1, 1, 1, true);
  }
  x = b.adaptiveAvgPool2d("avgpool", x, {1, 1});
  x = b.functional("flatten", {x}, {{"start_dim", int64_t{1}}, {"end_dim", int64_t{-1}}});
  {
    auto classifier = b.module("classifier", "Sequential");
    x = b.dropout("0", x, 0.2);
    x = classifierLinear(b, "1", x, last_out, o.num_classes);
  }
  b.output({x});
  return b.finish();
}

}  // namespace edgeopt::zoo
