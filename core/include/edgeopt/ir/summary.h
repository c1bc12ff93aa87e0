#pragma once
// A torchinfo-like model summary: one row per op call with its output shape,
// parameter count (elements of its Param inputs) and MACs (see MacsFn).
#include <edgeopt/ir/graph.h>

#include <cstdint>
#include <string>
#include <vector>

namespace edgeopt {
class GraphModule;
}

namespace edgeopt::ir {

struct LayerSummary {
  std::string name;        // node name ("features.0.0")
  std::string op;          // "conv2d"
  std::string moduleType;  // "Conv2d", "" for a functional call
  Shape outputShape;       // first output
  int64_t params = 0;
  int64_t macs = 0;
};

struct ModelSummary {
  Shape inputShape;
  std::vector<LayerSummary> layers;
  std::vector<Shape> outputShapes;
  int64_t totalParams = 0;      // all parameters of the module (not buffers)
  int64_t trainableParams = 0;  // those with requires_grad
  int64_t totalMacs = 0;
  int64_t bufferElements = 0;
};

// Runs shape propagation (writes shapes and meta into the graph).
ModelSummary summarize(GraphModule& module, const Shape& input_shape);
std::string formatSummary(const ModelSummary& summary);

}  // namespace edgeopt::ir
