#pragma once
// Graph helpers shared by the quantization sources (internal to core/src/quant).
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/graph.h>

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace edgeopt::quant::detail {

bool isCall(const ir::Node* n, const std::string& op);
// Call nodes calling `op`, in graph order.
std::vector<ir::Node*> callsOf(const ir::Graph& g, const std::string& op);
// The tensors a node's inputs read, Params resolved (edgeopt::paramTensor: the
// kernel's view of buffers; other inputs are undefined tensors).
std::vector<at::Tensor> inputTensors(const GraphModule& m, const ir::Node& n);

}  // namespace edgeopt::quant::detail
