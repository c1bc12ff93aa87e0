#include <edgeopt/graph_module.h>
#include <edgeopt/model_loader.h>
#include <edgeopt/model_source.h>

#include <filesystem>

namespace edgeopt {

std::shared_ptr<GraphModule> loadModelSpec(const std::string& spec, const Registries& registries) {
  return loadModelSpec(spec, std::vector<int64_t>{}, registries);
}

bool modelSourceTakesInputShape(const std::string& source, const Registries& registries) {
  const auto* entry = registries.of<ModelSource>().find(source);
  return entry && entry->factory.options.find("input_shape") != nullptr;
}

std::shared_ptr<GraphModule> loadModelSpec(const std::string& spec, const std::vector<int64_t>& input_shape,
                                           const Registries& registries) {
  std::string source, key, value;
  const std::string ext = std::filesystem::path(spec).extension().string();
  if (spec.rfind("zoo:", 0) == 0) {
    source = "zoo", key = "name", value = spec.substr(4);
  } else if (ext == ".edgeopt") {
    source = "checkpoint", key = "path", value = spec;
  } else if (ext == ".pt" || ext == ".pth" || ext == ".ts") {
    source = "torchscript", key = "path", value = spec;
  } else if (ext == ".onnx") {
    source = "onnx_import", key = "path", value = spec;
  } else {
    throw UsageError(spec + ": unknown model kind; give a .edgeopt, .pt, .onnx file or zoo:NAME");
  }
  const auto* entry = registries.of<ModelSource>().find(source);
  if (!entry)
    throw PluginError(spec + ": needs the model source '" + source +
                      "', which no loaded plugin provides (see --list-plugins)");
  const SourceLocation where{spec, 0, 0};
  ConfigNode options = ConfigNode::map(where);
  options.set(key, ConfigNode::scalar(value, where));
  if (!input_shape.empty() && modelSourceTakesInputShape(source, registries)) {
    const SourceLocation flag{"--input-shape", 0, 0};
    ConfigNode dims = ConfigNode::sequence(flag);
    for (int64_t d : input_shape) dims.items().push_back(ConfigNode::scalar(std::to_string(d), flag));
    options.set("input_shape", std::move(dims), flag);
  }
  auto model = entry->factory.create(entry->factory.options.validate(options, source, {}, "."))->load();
  if (!model) throw RuntimeFailure(spec + ": model source '" + source + "' returned no model");
  return model;
}

}  // namespace edgeopt
