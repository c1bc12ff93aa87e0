#pragma once
// Loads a model named on a command line, through the registered model sources:
//   path/model.edgeopt   EdgeOpt checkpoint   (model source "checkpoint")
//   path/model.pt        TorchScript file     (model source "torchscript")
//   path/model.onnx      ONNX file            (model source "onnx_import")
//   zoo:mobilenet_v2     built-in zoo model   (model source "zoo")
#include <edgeopt/registry.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace edgeopt {

class GraphModule;

std::shared_ptr<GraphModule> loadModelSpec(const std::string& spec, const Registries& registries = edgeopt::registries());

// The same with a command line's --input-shape: a source that takes an
// `input_shape` option (torchscript, onnx_import) gets it, as a recipe's
// `model: {input_shape: ...}` would give it; the others (checkpoint, zoo)
// ignore it. Empty: none given.
std::shared_ptr<GraphModule> loadModelSpec(const std::string& spec, const std::vector<int64_t>& input_shape,
                                           const Registries& registries = edgeopt::registries());

// Whether the model source `source` takes an `input_shape` option.
bool modelSourceTakesInputShape(const std::string& source, const Registries& registries = edgeopt::registries());

}  // namespace edgeopt
