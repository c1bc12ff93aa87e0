#pragma once
// Loads a model named on a command line, through the registered model sources:
//   path/model.edgeopt   EdgeOpt checkpoint   (model source "checkpoint")
//   path/model.pt        TorchScript file     (model source "torchscript")
//   path/model.onnx      ONNX file            (model source "onnx_import")
//   zoo:mobilenet_v2     built-in zoo model   (model source "zoo")
#include <edgeopt/registry.h>

#include <memory>
#include <string>

namespace edgeopt {

class GraphModule;

std::shared_ptr<GraphModule> loadModelSpec(const std::string& spec, const Registries& registries = edgeopt::registries());

}  // namespace edgeopt
