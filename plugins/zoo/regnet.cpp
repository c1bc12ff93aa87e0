// torchvision.models.regnet_x_800mf, node for node and name for name:
// stem (3x3 s2 conv, BN, ReLU), trunk_output.block1..4 (AnyStage) of
// ResBottleneckBlocks "block<stage>-<i>": optional proj (1x1 conv + BN),
// f.a (1x1), f.b (3x3 grouped, group width 16, carries the stride),
// f.c (1x1, no activation), then activation(proj(x) + f(x)); avgpool, fc.
// The stage table is torchvision's BlockParams.from_init_params(depth=16,
// w_0=56, w_a=35.73, w_m=2.28, group_width=16): depths 1, 3, 7, 5 and
// widths 64, 128, 288, 672. Init: conv normal(0, sqrt(2 / fan_out)), BN 1/0,
// fc normal(0, 0.01) with zero bias.
#include "zoo_models.h"

#include <edgeopt/ir/builder.h>

namespace edgeopt::zoo {
namespace {

using ir::Conv2dOptions;
using ir::ModelBuilder;
using ir::Value;

// Conv2dNormActivation (or its subclass SimpleStemIN): 0 conv, 1 BN, 2 ReLU (if `act`).
Value* convBnRelu(ModelBuilder& b, const std::string& name, Value* x, int64_t in, int64_t out, int64_t kernel,
                  int64_t stride, int64_t groups, bool act, const std::string& type = "Conv2dNormActivation") {
  auto s = b.module(name, type);
  x = b.conv2d("0", x, Conv2dOptions(in, out, kernel).stride(stride).padding((kernel - 1) / 2).groups(groups).bias(false));
  x = b.batchNorm2d("1", x, out);
  return act ? b.relu("2", x) : x;
}

Value* resBottleneck(ModelBuilder& b, const std::string& name, Value* x, int64_t in, int64_t out, int64_t stride,
                     int64_t group_width) {
  auto s = b.module(name, "ResBottleneckBlock");
  Value* shortcut = x;
  if (in != out || stride != 1) shortcut = convBnRelu(b, "proj", x, in, out, 1, stride, 1, false);
  Value* y;
  {
    auto f = b.module("f", "BottleneckTransform");
    const int64_t groups = out / group_width;  // bottleneck multiplier 1: w_b = out
    y = convBnRelu(b, "a", x, in, out, 1, 1, 1, true);
    y = convBnRelu(b, "b", y, out, out, 3, stride, groups, true);
    y = convBnRelu(b, "c", y, out, out, 1, 1, 1, false);
  }
  return b.relu("activation", b.add(shortcut, y));
}

}  // namespace

std::shared_ptr<GraphModule> buildRegNetX800MF(const ZooOptions& o) {
  struct Stage { int64_t depth, width; };
  const Stage stages[] = {{1, 64}, {3, 128}, {7, 288}, {5, 672}};
  constexpr int64_t kGroupWidth = 16;
  // Small images (28-64 px): no stride in the stem and block1, so the last
  // feature map is input/8 (zoo_models.h).
  const bool small_input = o.input_size <= 64;

  ModelBuilder b;
  Value* x = b.input("x");
  int64_t in = makeDivisible(32 * o.width_mult);
  x = convBnRelu(b, "stem", x, o.in_channels, in, 3, small_input ? 1 : 2, 1, true, "SimpleStemIN");
  {
    auto trunk = b.module("trunk_output", "Sequential");
    for (size_t i = 0; i < std::size(stages); ++i) {
      const std::string stage_name = "block" + std::to_string(i + 1);
      auto stage = b.module(stage_name, "AnyStage");
      // Widths stay multiples of the group width, so groups stay whole.
      const int64_t out = makeDivisible(stages[i].width * o.width_mult, kGroupWidth);
      const int64_t stride = (small_input && i == 0) ? 1 : 2;
      for (int64_t j = 0; j < stages[i].depth; ++j) {
        x = resBottleneck(b, stage_name + "-" + std::to_string(j), x, in, out, j == 0 ? stride : 1, kGroupWidth);
        in = out;
      }
    }
  }
  x = b.adaptiveAvgPool2d("avgpool", x, {1, 1});
  x = b.functional("flatten", {x}, {{"start_dim", int64_t{1}}, {"end_dim", int64_t{-1}}});
  x = b.linear("fc", x, in, o.num_classes, true, ir::LinearInit::Normal001);
  b.output({x});
  return b.finish();
}

}  // namespace edgeopt::zoo
