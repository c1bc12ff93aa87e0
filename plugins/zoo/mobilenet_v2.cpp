// torchvision.models.mobilenet_v2, node for node and name for name.
#include "zoo_models.h"

#include <edgeopt/ir/builder.h>

#include <cmath>

namespace edgeopt::zoo {
namespace {

using ir::Conv2dOptions;
using ir::ModelBuilder;
using ir::Value;

// Conv2dNormActivation(in, out, k, stride, groups) with ReLU6: children 0/1/2.
Value* convBnRelu6(ModelBuilder& b, const std::string& name, Value* x, int64_t in, int64_t out, int64_t kernel,
                   int64_t stride = 1, int64_t groups = 1) {
  auto s = b.module(name, "Conv2dNormActivation");
  x = b.conv2d("0", x, Conv2dOptions(in, out, kernel).stride(stride).padding((kernel - 1) / 2).groups(groups).bias(false));
  x = b.batchNorm2d("1", x, out);
  return b.relu6("2", x);
}

Value* invertedResidual(ModelBuilder& b, const std::string& name, Value* x, int64_t in, int64_t out, int64_t stride,
                        int64_t expand_ratio) {
  auto s = b.module(name, "InvertedResidual");
  int64_t hidden = static_cast<int64_t>(std::round(static_cast<double>(in * expand_ratio)));
  bool residual = stride == 1 && in == out;
  Value* y = x;
  {
    auto seq = b.module("conv", "Sequential");
    int index = 0;
    if (expand_ratio != 1) y = convBnRelu6(b, std::to_string(index++), y, in, hidden, 1);
    y = convBnRelu6(b, std::to_string(index++), y, hidden, hidden, 3, stride, hidden);
    y = b.conv2d(std::to_string(index++), y, Conv2dOptions(hidden, out, 1).bias(false));
    y = b.batchNorm2d(std::to_string(index++), y, out);
  }
  return residual ? b.add(x, y) : y;
}

}  // namespace

std::shared_ptr<GraphModule> buildMobileNetV2(const ZooOptions& o) {
  struct Stage { int64_t t, c, n, s; };
  const Stage settings[] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                            {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  // Small images (28-64 px): keep 4x more resolution by not striding in the
  // stem and the first stride-2 stage (see zoo_models.h).
  const bool small_input = o.input_size <= 64;
  int64_t in = makeDivisible(32 * o.width_mult);
  const int64_t last = makeDivisible(1280 * std::max(1.0, o.width_mult));

  ModelBuilder b;
  Value* x = b.input("x");
  {
    auto features = b.module("features", "Sequential");
    x = convBnRelu6(b, "0", x, o.in_channels, in, 3, small_input ? 1 : 2);
    int index = 1;
    bool first_stride2 = true;
    for (const Stage& st : settings) {
      int64_t out = makeDivisible(st.c * o.width_mult);
      int64_t stage_stride = st.s;
      if (st.s == 2 && first_stride2) {
        first_stride2 = false;
        if (small_input) stage_stride = 1;
      }
      for (int64_t i = 0; i < st.n; ++i) {
        x = invertedResidual(b, std::to_string(index++), x, in, out, i == 0 ? stage_stride : 1, st.t);
        in = out;
      }
    }
    x = convBnRelu6(b, std::to_string(index), x, in, last, 1);
  }
  x = b.functional("adaptive_avg_pool2d", {x}, {{"output_size", ir::Ints{1, 1}}});
  x = b.functional("flatten", {x}, {{"start_dim", int64_t{1}}, {"end_dim", int64_t{-1}}});
  {
    auto classifier = b.module("classifier", "Sequential");
    x = b.dropout("0", x, 0.2);
    x = b.linear("1", x, last, o.num_classes, true, ir::LinearInit::Normal001);
  }
  b.output({x});
  return b.finish();
}

}  // namespace edgeopt::zoo
