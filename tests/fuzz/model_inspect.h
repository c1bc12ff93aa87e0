#pragma once
// What edgeopt-inspect does with a model file through its model source (the
// built-in plugin loaded once into its own registries), for the regression
// tests of the model-file harnesses.
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/summary.h>
#include <edgeopt/model_loader.h>
#include <edgeopt/plugin_host.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

namespace edgeopt::test {

// The model source plugins `plugin` (torchscript, onnx_import) registers.
inline Registries& modelSourceRegistries(const std::string& plugin) {
  static Registries registries;
  static PluginHost host(registries);
  host.load(builtinPluginDir() + "/libedgeopt_" + plugin + ".so");
  return registries;
}

// Loads `path` and counts MACs for its recorded input shape; the error it
// fails with (checked to be a model-file error, exit code 5), "" if none.
inline std::string inspectModelError(const std::string& path, const std::string& plugin,
                                     std::shared_ptr<GraphModule>* loaded = nullptr) {
  try {
    auto model = loadModelSpec(path, modelSourceRegistries(plugin));
    if (!model->exampleInputShapes().empty()) ir::summarize(*model, model->exampleInputShapes()[0]);
    if (loaded) *loaded = model;
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::Input);
    return e.what();
  }
  return "";
}

}  // namespace edgeopt::test
