#pragma once
// The built-in model zoo, written with ir::ModelBuilder. Node and parameter
// names equal torchvision's state_dict keys, so torchvision weights load by
// name (GraphModule::loadStateDict).
//
// Models (classifiers take [N, in_channels, H, W] and return [N, num_classes]):
//   mobilenet_v2  torchvision structure and init.
//   mobilenet_v3_large, mobilenet_v3_small  torchvision structure and init.
//   resnet18/34/50/101  torchvision structure and init.
//   efficientnet_b0  torchvision structure and init; stochastic depth as
//                 stochastic_depth nodes (p up to 0.2, "row" mode).
//   regnet_x_800mf  torchvision structure and init.
//   simple_cnn    two conv-BN-ReLU blocks and a linear head, for fast tests.
//   yolov5n, yolov5s  a YOLOv5-style detector with ultralytics' names
//                 (yolo.cpp documents it); returns the three raw head maps
//                 [N, 3 * (5 + num_classes), H / s, W / s], s = 8, 16, 32.
//                 Pass num_classes (COCO: 80); input_size must be a multiple of 32.
//
// Small-input variant: when input_size <= 64 (28-64 px images such as MNIST
// or CIFAR), the classifiers drop two stride-2 steps, so the last feature map
// is input/8 instead of input/32 (32 px -> 4x4). Parameter names and shapes
// are unchanged, so torchvision weights still load:
//   mobilenet_v2     stem conv features.0.0 and the first stride-2 stage
//                    (features.2) use stride 1
//   efficientnet_b0  stem conv features.0.0 and the first stride-2 stage
//                    (features.2) use stride 1
//   regnet_x_800mf   stem conv stem.0 and trunk_output.block1 use stride 1
//   resnet*          conv1 uses stride 1 and the max pool is left out
//   simple_cnn       is built for small inputs; above 64 px its first conv
//                    (features.0) has stride 2
// mobilenet_v3_* and the yolov5 models ignore input_size (yolov5 checks it).
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
std::shared_ptr<GraphModule> buildEfficientNetB0(const ZooOptions& o);
std::shared_ptr<GraphModule> buildRegNetX800MF(const ZooOptions& o);
// ultralytics' depth and width multiples: 0.33/0.25 (n), 0.33/0.5 (s).
std::shared_ptr<GraphModule> buildYoloV5(double depth_multiple, double width_multiple, const ZooOptions& o);
// torchvision's _make_divisible: round to a multiple of `divisor`, never
// more than 10 % below v.
int64_t makeDivisible(double v, int64_t divisor = 8);
}  // namespace zoo

}  // namespace edgeopt
