// torchvision.models.resnet{18,34,50,101} (v1.5: stride on the 3x3 conv).
#include "zoo_models.h"

#include <edgeopt/error.h>
#include <edgeopt/ir/builder.h>

#include <cmath>

namespace edgeopt::zoo {
namespace {

using ir::Conv2dOptions;
using ir::ModelBuilder;
using ir::Value;

Value* convBn(ModelBuilder& b, const std::string& conv, const std::string& bn, Value* x, int64_t in, int64_t out,
              int64_t kernel, int64_t stride) {
  x = b.conv2d(conv, x, Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
  return b.batchNorm2d(bn, x, out);
}

Value* downsample(ModelBuilder& b, Value* x, int64_t in, int64_t out, int64_t stride) {
  auto s = b.module("downsample", "Sequential");
  return convBn(b, "0", "1", x, in, out, 1, stride);
}

// One residual block; returns the block output and sets `in` to its width.
Value* block(ModelBuilder& b, const std::string& name, Value* x, int64_t& in, int64_t planes, int64_t stride,
             bool bottleneck) {
  auto s = b.module(name, bottleneck ? "Bottleneck" : "BasicBlock");
  const int64_t expansion = bottleneck ? 4 : 1;
  const int64_t out = planes * expansion;
  Value* y;
  if (bottleneck) {
    y = b.relu("relu", convBn(b, "conv1", "bn1", x, in, planes, 1, 1));
    y = b.relu("relu", convBn(b, "conv2", "bn2", y, planes, planes, 3, stride));
    y = convBn(b, "conv3", "bn3", y, planes, out, 1, 1);
  } else {
    y = b.relu("relu", convBn(b, "conv1", "bn1", x, in, planes, 3, stride));
    y = convBn(b, "conv2", "bn2", y, planes, planes, 3, 1);
  }
  Value* identity = (stride != 1 || in != out) ? downsample(b, x, in, out, stride) : x;
  in = out;
  // The block's one ReLU module is called again after the add (node relu_N).
  return b.relu("relu", b.add(y, identity));
}

}  // namespace

std::shared_ptr<GraphModule> buildResNet(int depth, const ZooOptions& o) {
  std::vector<int64_t> blocks;
  bool bottleneck = depth >= 50;
  switch (depth) {
    case 18: blocks = {2, 2, 2, 2}; break;
    case 34: blocks = {3, 4, 6, 3}; break;
    case 50: blocks = {3, 4, 6, 3}; break;
    case 101: blocks = {3, 4, 23, 3}; break;
    default: throw InputError("zoo: resnet depth " + std::to_string(depth) + " is not one of 18, 34, 50, 101");
  }
  auto width = [&](int64_t c) { return std::max<int64_t>(1, std::lround(c * o.width_mult)); };

  // Small images (28-64 px): conv1 without stride and no max pool, so the
  // last feature map is input/8 (zoo_models.h).
  const bool small_input = o.input_size <= 64;

  ModelBuilder b;
  Value* x = b.input("x");
  int64_t in = width(64);
  x = convBn(b, "conv1", "bn1", x, o.in_channels, in, 7, small_input ? 1 : 2);
  x = b.relu("relu", x);
  if (!small_input) x = b.maxPool2d("maxpool", x, 3, 2, 1);
  for (int layer = 0; layer < 4; ++layer) {
    auto s = b.module("layer" + std::to_string(layer + 1), "Sequential");
    int64_t planes = width(64 << layer);
    for (int64_t i = 0; i < blocks[layer]; ++i)
      x = block(b, std::to_string(i), x, in, planes, (i == 0 && layer > 0) ? 2 : 1, bottleneck);
  }
  x = b.adaptiveAvgPool2d("avgpool", x, {1, 1});
  x = b.functional("flatten", {x}, {{"start_dim", int64_t{1}}, {"end_dim", int64_t{-1}}});
  x = b.linear("fc", x, in, o.num_classes, true, ir::LinearInit::TorchDefault);
  b.output({x});
  return b.finish();
}

}  // namespace edgeopt::zoo
