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
// The module tensor behind a Param-produced value (undefined tensor otherwise).
at::Tensor paramTensor(const GraphModule& m, const ir::Value* v);
// The tensors a node's inputs read, Params resolved (the kernel's view of
// buffers; other inputs are undefined tensors).
std::vector<at::Tensor> inputTensors(const GraphModule& m, const ir::Node& n);
// Replaces `n` by an identical node called `name` (after the old name is free).
ir::Node* renameNode(ir::Graph& g, ir::Node* n, const std::string& name);
// Erases Param nodes without users and the module tensors no Param names any more.
void eraseUnusedParams(GraphModule& m);
// A tensor name based on `hint` that the module doesn't use yet.
std::string freeTensorName(const GraphModule& m, const std::string& hint);

}  // namespace edgeopt::quant::detail
