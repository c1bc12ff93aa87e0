#pragma once
// Helpers for the importer tests: fixtures from make_importer_fixtures.py and
// model sources loaded from the built plugins, as edgeopt-run loads them.
#include <edgeopt/config.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/model_source.h>
#include <edgeopt/plugin_host.h>

#include "python_fixtures.h"
#include "tensor_compare.h"
#include "test_support.h"

#include <ATen/ATen.h>
#include <torch/serialize.h>

#include <filesystem>
#include <memory>
#include <string>

namespace edgeopt::test {

// make_importer_fixtures.py's output folder (run once per script version).
inline std::string importerFixtureDir() {
  static const std::string dir =
      pythonFixtureDir(std::string(EDGEOPT_SOURCE_DIR) + "/tests/importers/make_importer_fixtures.py",
                       std::string(EDGEOPT_TEST_WORK_DIR) + "/fixtures");
  return dir;
}

inline c10::Dict<c10::IValue, c10::IValue> loadPickle(const std::string& path) {
  std::string bytes = readFile(path);
  return torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
}

// The built-in plugins, loaded once into their own registries.
inline Registries& importerRegistries() {
  static Registries reg;
  static bool loaded = [] {
    PluginHost host(reg);
    for (const char* name : {"torchscript", "onnx_import"}) {
      std::string file = builtinPluginDir() + "/libedgeopt_" + name + ".so";
      if (std::filesystem::exists(file)) host.load(file);
    }
    return true;
  }();
  (void)loaded;
  return reg;
}

// Validates `yaml` (the recipe's model: map without `source`) against the
// source's schema, then loads the model.
inline std::shared_ptr<GraphModule> loadModel(const std::string& source, const std::string& yaml) {
  const auto* entry = importerRegistries().of<ModelSource>().find(source);
  if (!entry) throw std::runtime_error("no model source '" + source + "'");
  Options o = entry->factory.options.validate(ConfigNode::parse(yaml, "model.yaml"), "model", {}, "/");
  return entry->factory.create(o)->load();
}

}  // namespace edgeopt::test
