#pragma once
// Shape propagation: from the graph input shapes, writes every Value's shape
// and, on each Call node, meta["macs"] and meta["params"] (int64_t: elements
// of the Param inputs that are parameters, not buffers). Uses the registry's shape functions, so no tensor is
// computed. A failure is a RuntimeFailure carrying the node's printed line.
#include <edgeopt/ir/graph.h>

#include <functional>
#include <string>
#include <vector>

namespace edgeopt {
class GraphModule;
}

namespace edgeopt::ir {

struct ParamInfo {
  Shape shape;
  bool is_buffer = false;  // buffers (BN running stats) don't count as parameters
};
using ParamShapeLookup = std::function<ParamInfo(const std::string& tensor_name)>;

void propagateShapes(Graph& graph, const std::vector<Shape>& input_shapes, const ParamShapeLookup& param_shape);
// Param shapes from the module's tensors.
void propagateShapes(GraphModule& module, const std::vector<Shape>& input_shapes);

}  // namespace edgeopt::ir
