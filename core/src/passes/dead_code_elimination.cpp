// dce: removes op calls whose results nobody uses, then Param nodes nobody
// reads and the module tensors they named. Graph inputs and the output stay.
#include "passes.h"

#include <edgeopt/graph_module.h>

namespace edgeopt::passes {

void eraseUnusedParam(GraphModule& module, ir::Node* param) {
  const std::string tensor = param->target();
  module.graph().erase(param);
  for (ir::Node* n : module.graph().nodes())
    if (n->opcode() == ir::Opcode::Param && n->target() == tensor) return;
  if (module.hasTensor(tensor)) module.removeTensor(tensor);
}

namespace {

bool unused(const ir::Node* n) {
  for (ir::Value* v : n->outputs())
    if (v->hasUses()) return false;
  return true;
}

class DeadCodeElimination : public Pass {
 public:
  PassResult run(GraphModule& module) override {
    bool modified = false;
    auto nodes = module.graph().nodes();
    // Reverse order: erasing a user first makes its producers dead in the same sweep.
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      ir::Node* n = *it;
      if (!unused(n)) continue;
      if (n->opcode() == ir::Opcode::Call) {
        module.graph().erase(n);
        modified = true;
      } else if (n->opcode() == ir::Opcode::Param) {
        eraseUnusedParam(module, n);
        modified = true;
      }
    }
    return {modified};
  }
};

}  // namespace

std::unique_ptr<Pass> createDeadCodeElimination(const Options&) { return std::make_unique<DeadCodeElimination>(); }

}  // namespace edgeopt::passes
