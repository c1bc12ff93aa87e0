// Keeping a pruned weight's zeros through later training (kept_zeros.h).
#include <edgeopt/prune/kept_zeros.h>

#include <edgeopt/graph_module.h>
#include <edgeopt/passes/rewriter.h>

#include <ATen/ATen.h>

#include <set>
#include <string>

namespace edgeopt::prune {

void markKeepZeros(Rewriter& rw, ir::Node* param) { rw.setAttr(param, kKeepZerosAttr, true); }

KeptZeros::KeptZeros(GraphModule& module) {
  std::set<std::string> seen;
  for (ir::Node* n : module.graph().nodes()) {
    if (n->opcode() != ir::Opcode::Param || !n->getOr<bool>(kKeepZerosAttr, false)) continue;
    if (!seen.insert(n->target()).second) continue;
    const at::Tensor& w = module.tensor(n->target());
    const at::Tensor zero = w.eq(0);
    const int64_t count = zero.sum().item<int64_t>();
    if (count == 0) continue;  // e.g. channels that were removed physically
    kept_.emplace_back(w, zero.logical_not().to(w.dtype()));
    zeros_ += count;
  }
}

void KeptZeros::apply() {
  at::NoGradGuard no_grad;
  for (auto& [w, keep] : kept_) w.mul_(keep);
}

}  // namespace edgeopt::prune
