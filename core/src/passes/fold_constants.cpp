// fold-constants: an op call whose inputs are all constants is computed once
// and replaced by a buffer holding its result. Constants are buffers that no
// op updates in place (batch_norm's running statistics are not constants);
// parameters are trained, so never constants.
#include "passes.h"

#include <edgeopt/graph_module.h>
#include <edgeopt/ir/op_registry.h>
#include <edgeopt/passes/rewriter.h>

#include <ATen/ATen.h>

#include <set>

namespace edgeopt::passes {
namespace {

// Buffers some op mutates: batch_norm's inputs 3.. (running mean/var, count).
std::set<std::string> mutatedBuffers(const ir::Graph& g) {
  std::set<std::string> out;
  for (ir::Node* n : g.nodes())
    if (n->opcode() == ir::Opcode::Call && n->target() == "batch_norm")
      for (size_t i = 3; i < n->numInputs(); ++i) out.insert(n->input(i)->producer()->target());
  return out;
}

class FoldConstants : public Pass {
 public:
  PassResult run(GraphModule& module) override {
    ir::Graph& g = module.graph();
    const std::set<std::string> mutated = mutatedBuffers(g);
    auto isConstant = [&](ir::Value* v) {
      ir::Node* p = v->producer();
      return p->opcode() == ir::Opcode::Param && module.isBuffer(p->target()) && !mutated.count(p->target());
    };
    Rewriter rw(module);
    const uint64_t start = rw.changeToken();
    for (ir::Node* n : g.nodes()) {
      if (n->opcode() != ir::Opcode::Call || n->numInputs() == 0) continue;
      bool all_constant = true;
      for (ir::Value* in : n->inputs()) all_constant = all_constant && isConstant(in);
      if (!all_constant) continue;
      std::vector<at::Tensor> inputs;
      for (ir::Value* in : n->inputs()) inputs.push_back(module.tensor(in->producer()->target()));
      at::NoGradGuard no_grad;
      const auto outputs = ir::OpRegistry::instance().get(n->target()).kernel(*n, inputs, ir::ExecContext{false});
      std::vector<ir::Value*> folded;
      for (size_t i = 0; i < n->numOutputs(); ++i) {
        const std::string hint = n->name() + (n->numOutputs() > 1 ? "_" + std::to_string(i) : "") + "_folded";
        folded.push_back(n->output(i)->hasUses() ? rw.createBuffer(hint, outputs[i].clone(), n) : n->output(i));
      }
      rw.replaceOp(n, folded);
    }
    return {rw.changedSince(start)};
  }
};

}  // namespace

std::unique_ptr<Pass> createFoldConstants(const Options&) { return std::make_unique<FoldConstants>(); }

}  // namespace edgeopt::passes
