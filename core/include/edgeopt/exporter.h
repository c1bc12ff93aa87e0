#pragma once
// Exporters write a GraphModule in some format (EdgeOpt checkpoint, ONNX,
// TorchScript, ...). The `export` stage picks them by name.
#include <edgeopt/registry.h>

#include <string>

namespace edgeopt {

class GraphModule;

class Exporter {
 public:
  virtual ~Exporter() = default;
  // File extension including the dot (".onnx").
  virtual std::string extension() const = 0;
  // Writes `model` to `path`. Must not leave a partial file behind: write to a
  // temporary and rename (see atomicWrite in fileutil.h).
  virtual void write(const GraphModule& model, const std::string& path) = 0;
};

}  // namespace edgeopt
