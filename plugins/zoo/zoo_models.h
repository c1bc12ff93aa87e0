#pragma once
// The built-in model zoo, written with ir::ModelBuilder. Node and parameter
// names equal torchvision's state_dict keys, so torchvision weights load by
// name (GraphModule::loadStateDict).
//
// Models:
//   mobilenet_v2  torchvision structure and init. Small-input variant: when
//                 input_size <= 64 (28-64 px images), the stem conv
//                 (features.0.0) and the first stride-2 stage (features.2)
//                 use stride 1, so the last feature map is input/8 instead
//                 of input/32. Parameter shapes and names are unchanged.
//   mobilenet_v3_large, mobilenet_v3_small  torchvision structure and init.
//   resnet18/34/50/101  torchvision structure and init.
//   (input_size only changes mobilenet_v2.)
//   simple_cnn    two conv-BN-ReLU blocks and a linear head, for fast tests.
// width_mult scales channel counts (MobileNetV2's rule; rounded for others).
#include <edgeopt/graph_module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace edgeopt {

struct ZooOptions {
  int64_t num_classes = 1000;
  double width_mult = 1.0;
  int64_t in_channels = 3;
  int64_t input_size = 224;  // H = W of the images the model will see
};

// InputError for an unknown name (listing the known ones) or bad options.
std::shared_ptr<GraphModule> buildZooModel(const std::string& name, const ZooOptions& options);
std::vector<std::string> zooModelNames();

namespace zoo {
std::shared_ptr<GraphModule> buildMobileNetV2(const ZooOptions& o);
std::shared_ptr<GraphModule> buildMobileNetV3(bool large, const ZooOptions& o);
std::shared_ptr<GraphModule> buildResNet(int depth, const ZooOptions& o);  // 18, 34, 50, 101
std::shared_ptr<GraphModule> buildSimpleCnn(const ZooOptions& o);
// torchvision's _make_divisible: round to a multiple of `divisor`, never
// more than 10 % below v.
int64_t makeDivisible(double v, int64_t divisor = 8);
}  // namespace zoo

}  // namespace edgeopt
