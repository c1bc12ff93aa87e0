// dce: removes op calls whose results nobody uses, then Param nodes nobody
// reads and the module tensors they named. Graph inputs and the output stay.
#include "passes.h"

#include <edgeopt/graph_module.h>
#include <edgeopt/passes/rewriter.h>

namespace edgeopt::passes {

namespace {

bool unused(const ir::Node* n) {
  for (ir::Value* v : n->outputs())
    if (v->hasUses()) return false;
  return true;
}

class DeadCodeElimination : public Pass {
 public:
  PassResult run(GraphModule& module) override {
    Rewriter rw(module);
    const uint64_t start = rw.changeToken();
    auto nodes = module.graph().nodes();
    // Reverse order: erasing a user first makes its producers dead in the same sweep.
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it)
      if (!rw.wasErased(*it) && (*it)->opcode() == ir::Opcode::Call && unused(*it)) rw.eraseNode(*it);
    rw.eraseUnusedParams();
    return {rw.changedSince(start)};
  }
};

}  // namespace

std::unique_ptr<Pass> createDeadCodeElimination(const Options&) { return std::make_unique<DeadCodeElimination>(); }

}  // namespace edgeopt::passes
