#pragma once
// Model sources turn the recipe's `model:` section into a GraphModule: the
// built-in zoo, TorchScript files, ONNX files, or a user's plugin.
#include <edgeopt/registry.h>

#include <memory>

namespace edgeopt {

class GraphModule;

class ModelSource {
 public:
  virtual ~ModelSource() = default;
  virtual std::shared_ptr<GraphModule> load() = 0;
};

}  // namespace edgeopt
