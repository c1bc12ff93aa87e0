// The "zoo" model source: builds a zoo model (zoo_models.h) from recipe options.
//   model:
//     kind: zoo
//     name: mobilenet_v2
//     num_classes: 10
//     input_size: 32     # <= 64 selects the small-input variant (zoo_models.h)
#include <edgeopt/model_source.h>
#include <edgeopt/options.h>
#include <edgeopt/plugin.h>

#include "zoo_models.h"

namespace {

class ZooModelSource : public edgeopt::ModelSource {
 public:
  ZooModelSource(std::string name, edgeopt::ZooOptions options) : name_(std::move(name)), options_(options) {}
  std::shared_ptr<edgeopt::GraphModule> load() override { return edgeopt::buildZooModel(name_, options_); }

 private:
  std::string name_;
  edgeopt::ZooOptions options_;
};

edgeopt::OptionSchema zooSchema() {
  using edgeopt::OptionType;
  edgeopt::OptionSchema s;
  s.add("name", OptionType::String).required().choices(edgeopt::zooModelNames()).help("model architecture");
  s.add("num_classes", OptionType::Int)
      .defaultValue(int64_t{1000})
      .range(1, 1e6)
      .help("classifier outputs (detectors: object classes)");
  s.add("width_mult", OptionType::Float).defaultValue(1.0).range(0.05, 8.0).help("channel width multiplier");
  s.add("in_channels", OptionType::Int).defaultValue(int64_t{3}).range(1, 1024).help("input image channels");
  s.add("input_size", OptionType::Int)
      .defaultValue(int64_t{224})
      .range(1, 16384)
      .help("input height = width; classifiers use fewer strides at <= 64");
  return s;
}

void registerZoo(edgeopt::PluginRegistrar& r) {
  r.add<edgeopt::ModelSource>(
      "zoo", {"built-in models with torchvision names and structure", zooSchema(),
              [](const edgeopt::Options& o) -> std::unique_ptr<edgeopt::ModelSource> {
                edgeopt::ZooOptions z;
                z.num_classes = o.get<int64_t>("num_classes");
                z.width_mult = o.get<double>("width_mult");
                z.in_channels = o.get<int64_t>("in_channels");
                z.input_size = o.get<int64_t>("input_size");
                return std::make_unique<ZooModelSource>(o.get<std::string>("name"), z);
              }});
}

}  // namespace

EDGEOPT_PLUGIN("0.1.0", "built-in model zoo", registerZoo)
