// Pruning masks in the graph (see prune_plugin.h): inserted, refreshed each
// epoch and baked in through the Rewriter.
#include "prune_plugin.h"

#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/passes/rewriter.h>
#include <edgeopt/prune/kept_zeros.h>

#include <ATen/ATen.h>

#include <unordered_set>

namespace edgeopt::prune_plugin {
namespace {

std::string shapeText(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

MaskNames insertMask(GraphModule& module, const std::string& tensor, const at::Tensor& keep,
                     const at::Tensor& importance) {
  ir::Graph& g = module.graph();
  std::vector<ir::Node*> params;
  for (ir::Node* n : g.nodes())
    if (n->opcode() == ir::Opcode::Param && n->target() == tensor && n->output()->hasUses()) params.push_back(n);
  if (params.size() != 1)
    throw RuntimeFailure("pruning: tensor '" + tensor + "' is read through " + std::to_string(params.size()) +
                         " Param nodes, expected one");
  // A handle, not a reference: registering the mask buffers below grows the
  // module's tensor table, and a reference into it would dangle (ASan found it).
  const at::Tensor w = module.tensor(tensor);
  bool broadcasts = keep.sizes() == importance.sizes() && keep.dim() == w.dim();
  for (int64_t d = 0; broadcasts && d < w.dim(); ++d) broadcasts = keep.size(d) == w.size(d) || keep.size(d) == 1;
  if (!broadcasts)
    throw RuntimeFailure("pruning: the mask " + shapeText(keep.sizes()) + " of '" + tensor + "' " +
                         shapeText(w.sizes()) + " does not broadcast to it");
  ir::Node* param = params[0];
  const auto users = param->output()->users();
  const std::unordered_set<ir::Node*> user_set(users.begin(), users.end());
  ir::Node* first = nullptr;
  for (ir::Node* n : g.nodes())
    if (user_set.count(n)) {
      first = n;
      break;
    }

  MaskNames names;
  names.tensor = tensor;
  names.mask = module.uniqueTensorName(tensor + "_prune_mask", {"keep", "importance"});
  names.keep = names.mask + ".keep";
  names.importance = names.mask + ".importance";
  Rewriter rw(module);
  ir::Node* mul;
  {
    auto guard = rw.insertingBefore(first);
    ir::Value* mask = rw.createBuffer(names.mask, at::ones(w.sizes(), w.options().requires_grad(false)), first);
    if (mask->producer()->target() != names.mask) throw RuntimeFailure("pruning: mask name '" + names.mask + "' taken");
    mul = rw.createOp("mul", {param->output(), mask}, {}, tensor + "_prune");
  }
  rw.replaceAllUsesWith(param->output(), mul->output(), [mul](ir::Node* u) { return u != mul; });
  module.registerBuffer(names.keep, keep.detach().to(w.dtype()).clone());
  module.registerBuffer(names.importance, importance.detach().clone());
  names.mul = mul->name();
  return names;
}

std::vector<MaskNames> findMasks(const GraphModule& module) {
  std::vector<MaskNames> out;
  for (ir::Node* n : module.graph().nodes()) {
    if (n->opcode() != ir::Opcode::Call || n->target() != "mul" || n->numInputs() != 2) continue;
    const ir::Node* w = n->input(0)->producer();
    const ir::Node* m = n->input(1)->producer();
    if (w->opcode() != ir::Opcode::Param || m->opcode() != ir::Opcode::Param) continue;
    const std::string& mask = m->target();
    if (!module.isBuffer(mask) || !module.hasTensor(mask + ".keep") || !module.hasTensor(mask + ".importance")) continue;
    out.push_back({w->target(), mask, mask + ".keep", mask + ".importance", n->name()});
  }
  return out;
}

void updateMasks(GraphModule& module, const std::vector<MaskNames>& masks, const PruningParametrization& p,
                 const std::string& p_name, const prune::PruneSchedule& schedule, int64_t epoch,
                 prune::MaskGroups groups) {
  at::NoGradGuard no_grad;
  for (const MaskNames& n : masks) {
    prune::MaskedWeight w{module.tensor(n.importance), module.tensor(n.keep), groups};
    const at::Tensor m = p.multiplier(schedule, epoch, w);
    if (!m.defined() || m.sizes() != w.keep.sizes())
      throw RuntimeFailure("pruning parametrization '" + p_name + "' returned a multiplier of shape " +
                           (m.defined() ? shapeText(m.sizes()) : std::string("(none)")) + " for '" + n.tensor +
                           "', expected " + shapeText(w.keep.sizes()));
    const at::Tensor& mask = module.tensor(n.mask);
    mask.copy_(m.to(mask.dtype()).to(mask.device()).expand_as(mask));
  }
}

void setMasksBinary(GraphModule& module, const std::vector<MaskNames>& masks) {
  at::NoGradGuard no_grad;
  for (const MaskNames& n : masks) {
    const at::Tensor& mask = module.tensor(n.mask);
    mask.copy_(module.tensor(n.keep).to(mask.dtype()).expand_as(mask));
  }
}

void bakeMasks(GraphModule& module, const std::vector<MaskNames>& masks) {
  Rewriter rw(module);
  for (const MaskNames& n : masks) {
    {
      at::NoGradGuard no_grad;
      const at::Tensor& w = module.tensor(n.tensor);
      w.mul_(module.tensor(n.keep).to(w.dtype()).to(w.device()));
    }
    ir::Node* mul = module.graph().findNode(n.mul);
    if (!mul) throw RuntimeFailure("pruning: mask node '" + n.mul + "' is gone");
    prune::markKeepZeros(rw, mul->input(0)->producer());
    rw.replaceAllUsesWith(mul->output(), mul->input(0));
    rw.eraseNode(mul);  // and the mask's Param node and buffer
    module.removeTensor(n.keep);
    module.removeTensor(n.importance);
  }
}

}  // namespace edgeopt::prune_plugin
