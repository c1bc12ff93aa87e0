#pragma once
// The pruning plugin: the `prune` stage (prune_stage.cpp), the built-in
// pruning parametrizations (parametrizations.cpp) and the in-graph masks they
// drive (graph_masks.cpp).
#include <edgeopt/prune/parametrization.h>
#include <edgeopt/registry.h>

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace edgeopt {
class GraphModule;
class PluginRegistrar;
}  // namespace edgeopt

namespace edgeopt::prune_plugin {

void registerParametrizations(PluginRegistrar& r);
StageFactory pruneStageFactory();

// ---- Masks in the graph --------------------------------------------------
// A pruned tensor W is read through mul(W, M): M is a buffer of W's shape
// holding this epoch's multiplier, so gradients see W x M and the optimizer
// still owns W. Next to M (no Param node) the module keeps what the
// parametrization needs, fixed at the stage's start: "<M>.keep" (binary) and
// "<M>.importance", shaped like W or [C, 1, ...] for channel masks. They are
// saved with every checkpoint, so a resumed stage finds them again.
//
//   graph:  w = Param(conv.weight)   m = Param(conv.weight_prune_mask)
//           conv.weight_prune = mul(w, m)     conv = conv2d(x, conv.weight_prune, ...)
struct MaskNames {
  std::string tensor;  // the pruned parameter
  std::string mask;    // the multiplier buffer
  std::string keep;
  std::string importance;
  std::string mul;  // the mul node
};

// Puts W's mask into the graph (multiplier 1 everywhere) and registers keep
// and importance; W must be read through one Param node.
MaskNames insertMask(GraphModule& module, const std::string& tensor, const at::Tensor& keep,
                     const at::Tensor& importance);
// Every mask in the graph, in graph order.
std::vector<MaskNames> findMasks(const GraphModule& module);
// Fills each multiplier with the parametrization's value for `epoch`
// (broadcast over the tensor when keep is [C, 1, ...]).
void updateMasks(GraphModule& module, const std::vector<MaskNames>& masks, const PruningParametrization& p,
                 const std::string& p_name, const prune::PruneSchedule& schedule, int64_t epoch,
                 prune::MaskGroups groups);
// Multipliers = the binary keep masks (the model as the stage will hand it on).
void setMasksBinary(GraphModule& module, const std::vector<MaskNames>& masks);
// W *= keep, then the mul and the three buffers go: an ordinary graph again,
// with the pruned weights exactly zero.
void bakeMasks(GraphModule& module, const std::vector<MaskNames>& masks);

}  // namespace edgeopt::prune_plugin
