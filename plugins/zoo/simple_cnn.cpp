// A tiny CNN for fast tests and examples: two conv-BN-ReLU blocks, pooling
// and a linear classifier (about 5K parameters at width_mult 1). Inputs
// larger than 64 px get a stride-2 first conv; the parameters are the same.
#include "zoo_models.h"

#include <edgeopt/ir/builder.h>

#include <cmath>

namespace edgeopt::zoo {

std::shared_ptr<GraphModule> buildSimpleCnn(const ZooOptions& o) {
  using ir::Conv2dOptions;
  const int64_t c1 = std::max<int64_t>(1, std::lround(16 * o.width_mult));
  const int64_t c2 = std::max<int64_t>(1, std::lround(32 * o.width_mult));
  ir::ModelBuilder b;
  ir::Value* x = b.input("x");
  {
    auto features = b.module("features", "Sequential");
    const int64_t stem_stride = o.input_size <= 64 ? 1 : 2;
    x = b.conv2d("0", x, Conv2dOptions(o.in_channels, c1, 3).stride(stem_stride).padding(1).bias(false));
    x = b.batchNorm2d("1", x, c1);
    x = b.relu("2", x);
    x = b.maxPool2d("3", x, 2, 2);
    x = b.conv2d("4", x, Conv2dOptions(c1, c2, 3).padding(1).bias(false));
    x = b.batchNorm2d("5", x, c2);
    x = b.relu("6", x);
  }
  x = b.adaptiveAvgPool2d("avgpool", x, {1, 1});
  x = b.flatten("flatten", x);
  x = b.linear("classifier", x, c2, o.num_classes);
  b.output({x});
  return b.finish();
}

}  // namespace edgeopt::zoo
