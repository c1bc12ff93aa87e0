#include "zoo_models.h"

#include <edgeopt/error.h>

#include <functional>
#include <map>

namespace edgeopt {
namespace {

using Builder = std::function<std::shared_ptr<GraphModule>(const ZooOptions&)>;

const std::map<std::string, Builder>& builders() {
  static const std::map<std::string, Builder> table = {
      {"mobilenet_v2", zoo::buildMobileNetV2},
      {"mobilenet_v3_large", [](const ZooOptions& o) { return zoo::buildMobileNetV3(true, o); }},
      {"mobilenet_v3_small", [](const ZooOptions& o) { return zoo::buildMobileNetV3(false, o); }},
      {"resnet18", [](const ZooOptions& o) { return zoo::buildResNet(18, o); }},
      {"resnet34", [](const ZooOptions& o) { return zoo::buildResNet(34, o); }},
      {"resnet50", [](const ZooOptions& o) { return zoo::buildResNet(50, o); }},
      {"resnet101", [](const ZooOptions& o) { return zoo::buildResNet(101, o); }},
      {"simple_cnn", zoo::buildSimpleCnn},
      {"efficientnet_b0", zoo::buildEfficientNetB0},
      {"regnet_x_800mf", zoo::buildRegNetX800MF},
      {"yolov5n", [](const ZooOptions& o) { return zoo::buildYoloV5(0.33, 0.25, o); }},
      {"yolov5s", [](const ZooOptions& o) { return zoo::buildYoloV5(0.33, 0.50, o); }},
  };
  return table;
}

}  // namespace

std::vector<std::string> zooModelNames() {
  std::vector<std::string> out;
  for (auto& [name, _] : builders()) out.push_back(name);
  return out;
}

std::shared_ptr<GraphModule> buildZooModel(const std::string& name, const ZooOptions& o) {
  auto it = builders().find(name);
  if (it == builders().end()) {
    std::string known;
    for (auto& n : zooModelNames()) known += (known.empty() ? "" : ", ") + n;
    throw InputError("zoo: unknown model '" + name + "' (known: " + known + ")");
  }
  if (o.num_classes < 1 || o.in_channels < 1 || o.input_size < 1 || !(o.width_mult > 0))
    throw InputError("zoo: num_classes, in_channels, input_size and width_mult must be positive");
  auto model = it->second(o);
  // Detectors may set their own; classifiers take one NCHW image.
  if (model->exampleInputShapes().empty()) model->setExampleInputShapes({{1, o.in_channels, o.input_size, o.input_size}});
  return model;
}

namespace zoo {

int64_t makeDivisible(double v, int64_t divisor) {
  int64_t rounded = static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor;
  int64_t out = std::max(divisor, rounded);
  if (out < 0.9 * v) out += divisor;
  return out;
}

}  // namespace zoo
}  // namespace edgeopt
