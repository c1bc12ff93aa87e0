#pragma once
// The Rewriter: the one tracked path through which passes, surgery rules,
// pruning and quantizer placement change a GraphModule (MLIR's
// PatternRewriter, torch.fx's subgraph_rewriter).
//
//   Rewriter rw(module);
//   // replace `act` by a relu with the same name, scope and inputs:
//   rw.replaceOpWithNewOp(act, "relu", {act->input(0)});
//   // replace a matched subgraph ending in `root` by a new block:
//   rw.replaceWithBlock(root, "Sequential", [&](ir::ModelBuilder& b) {
//     return b.conv2d("0", x, ir::Conv2dOptions(c, c, 3).padding(1));   // torchvision init
//   });
//   // drop a node and route its users to `x`:
//   rw.replaceOp(se_mul, {x});
//
// Every change is counted: `changed()` tells a driver whether anything
// happened (graph mutations through the graph's version, tensor edits through
// a counter), so the "changes iff returns true" contract is checked for every
// pattern. Erasing a node also erases the Param nodes it leaves unused and the
// module tensors no Param names any more.
#include <edgeopt/ir/builder.h>
#include <edgeopt/ir/graph.h>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

namespace edgeopt {

class GraphModule;

class Rewriter {
 public:
  explicit Rewriter(GraphModule& module);
  GraphModule& module() { return module_; }
  ir::Graph& graph();

  // ---- Nodes ------------------------------------------------------------
  [[nodiscard]] ir::InsertPoint insertingBefore(ir::Node* n);
  [[nodiscard]] ir::InsertPoint insertingAfter(ir::Node* n);
  // A Call node at the current insertion point; `like` (optional) gives it
  // its scope and module type.
  ir::Node* createOp(const std::string& op, std::vector<ir::Value*> inputs, ir::Attrs attrs,
                     const std::string& name_hint, const ir::Node* like = nullptr, size_t num_outputs = 1);
  // Points every use of op's outputs at `values` (one per output), then
  // erases `op` and what it leaves unused.
  void replaceOp(ir::Node* op, const std::vector<ir::Value*>& values);
  // Replaces `op` by a new `target` call with `inputs` and `attrs`, placed
  // where `op` was, keeping its name, scope and module type; `module_type`
  // retypes a leaf module call (Hardswish -> ReLU), scope included.
  ir::Node* replaceOpWithNewOp(ir::Node* op, const std::string& target, std::vector<ir::Value*> inputs,
                               ir::Attrs attrs = {}, const std::string& module_type = "");
  // Replaces the subgraph whose single result is output 0 of `root` by the
  // block `build` creates with a ModelBuilder working in this module, before
  // `root`, as a module named like `root` of type `block_type` (so
  // b.conv2d("0", ...) makes "<root>.0" with "<root>.0.weight"; fresh
  // parameters are initialised as torchvision initialises that layer type,
  // and tensor names are made unique). The block must not read root's output.
  // The old nodes left unused (the replaced subgraph) are erased.
  using BlockBuilder = std::function<ir::Value*(ir::ModelBuilder& b)>;
  ir::Value* replaceWithBlock(ir::Node* root, const std::string& block_type, const BlockBuilder& build);
  // Only the uses whose user `filter` accepts, when given (a new node that
  // reads `from` and replaces it keeps its own input).
  void replaceAllUsesWith(ir::Value* from, ir::Value* to, const std::function<bool(ir::Node*)>& filter = {});
  // Erases `n` (which must have no users), then the Param nodes it leaves
  // unused and their tensors.
  void eraseNode(ir::Node* n);
  // Erases `root` and, going backwards, every Call node that becomes unused
  // (stopping at nodes others still read): removes a dead subgraph.
  void eraseDeadChain(ir::Node* root);
  // The same node under a new name (the old name must be free of others).
  ir::Node* renameNode(ir::Node* n, const std::string& name);
  void setInput(ir::Node* n, size_t i, ir::Value* v);
  void addInput(ir::Node* n, ir::Value* v);
  void setAttr(ir::Node* n, const std::string& key, ir::AttrValue v);
  void removeAttr(ir::Node* n, const std::string& key);

  // ---- Tensors ----------------------------------------------------------
  // A new parameter (or buffer) registered on the module under a name based on
  // `name_hint` that is free, and its Param node before `at`.
  ir::Value* createParameter(const std::string& name_hint, const at::Tensor& t, ir::Node* at,
                             bool requires_grad = true);
  ir::Value* createBuffer(const std::string& name_hint, const at::Tensor& t, ir::Node* at);
  void setTensor(const std::string& name, const at::Tensor& t);
  // Erases every Param node without uses and the tensors no Param names.
  void eraseUnusedParams();

  // ---- Bookkeeping ------------------------------------------------------
  // Returns false; records why when a listener is attached (cheap otherwise).
  bool notifyMatchFailure(const ir::Node& n, const std::string& reason);
  void setFailureListener(std::function<void(const ir::Node&, const std::string&)> l) { listener_ = std::move(l); }
  // A token for "the state now"; changedSince(token) says whether anything
  // changed after it.
  uint64_t changeToken() const;
  bool changedSince(uint64_t token) const { return changeToken() != token; }
  // Nodes erased since clearErased(): drivers skip them in their snapshot.
  bool wasErased(const ir::Node* n) const { return erased_.count(n) != 0; }
  void clearErased() { erased_.clear(); }

 private:
  GraphModule& module_;
  std::unordered_set<const ir::Node*> erased_;
  std::function<void(const ir::Node&, const std::string&)> listener_;
  uint64_t tensor_changes_ = 0;
};

// The module tensor a Param-produced value names; an undefined tensor for a
// computed value.
at::Tensor paramTensor(const GraphModule& m, const ir::Value* v);

}  // namespace edgeopt
