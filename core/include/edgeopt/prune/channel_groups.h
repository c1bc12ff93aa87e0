#pragma once
// Channel dependency groups: which channels of which tensors must be pruned
// together, found by following each op's channel flow (ir/channel_flow.h)
// through the graph (Torch-Pruning's DependencyGraph, EdgeOpt's IR).
//
// A group is one set of channels: a conv's output channels, joined with
// every other conv output a residual add or an SE multiply ties to them,
// the BatchNorm and depthwise conv that carry them on, and the consumers
// that read them (conv weight dim 1; a linear's columns after a flatten, H*W
// per channel; a concat's consumers at the concat offset). Removing channel
// c of a group removes index c of every one of its slices at once, so the
// network stays valid.
//
//   auto deps = analyzeChannels(module);            // shapes propagated first
//   for (auto& g : deps.groups) if (g.prunable) {
//     at::Tensor imp = groupImportance(module, g, ChannelCriterion::Fpgm);
//     keeps.push_back(channelMask(imp, 0.3));        // masks.h
//   }
//   removeChannels(module, deps, keeps);             // a smaller, ordinary GraphModule
#include <edgeopt/prune/importance.h>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace edgeopt {
class GraphModule;
}

namespace edgeopt::prune {

// Channel c of a group owns indices [offset + c * span, offset + (c + 1) * span)
// of dimension `dim` of module tensor `tensor`.
struct ChannelSlice {
  std::string tensor;  // parameter or buffer name (state_dict)
  int64_t dim = 0;
  int64_t offset = 0;
  int64_t span = 1;
  // The input side of a consumer (conv weight dim 1, linear columns): it reads
  // the channels, so it shrinks with them but is not masked (zero inputs
  // already contribute nothing).
  bool reads = false;
  std::string node;  // the op that uses the tensor this way
};

struct ChannelGroup {
  int64_t channels = 0;
  std::vector<ChannelSlice> slices;
  std::vector<std::string> producers;  // conv/linear nodes whose output channels these are
  bool prunable = false;
  std::string reason;  // why not: "graph output", "barrier at 'x' (reshape)", ...
};

struct ChannelDependencies {
  std::vector<ChannelGroup> groups;  // in the order their first producer appears
  // Depthwise convs whose `groups` attribute follows their channel count.
  std::vector<std::string> depthwise;
};

// Follows every value's channels; the module's shapes must be propagated
// (ir::propagateShapes). A weight read through the prune stage's mask
// (mul(weight, mask)) counts as the weight, and the mask is sliced with it.
ChannelDependencies analyzeChannels(const GraphModule& module);

// Importance [C] of a prunable group's channels: the rows of its producers'
// weights (BatchNorm-folded where a BN follows directly), the same rows of
// its depthwise convs, and the columns its consumers read, as one feature row
// per channel, ranked by `criterion` (importance.h).
at::Tensor groupImportance(const GraphModule& module, const ChannelGroup& group, ChannelCriterion criterion);

// Multiplies every non-reading parameter slice of the group by `keep` ([C],
// 1 keep / 0 prune, or a soft factor): the channels' outputs become zero
// while the shapes stay (masked pruning; the model computes what the
// physically pruned one would).
void maskChannels(GraphModule& module, const ChannelGroup& group, const at::Tensor& keep);

// Physical removal: keeps[i] ([C_i], nonzero = keep) for deps.groups[i]
// (an undefined tensor leaves the group whole). Every tensor dimension is cut
// once, with all groups that index it; depthwise `groups` attributes are
// updated and shapes re-propagated. Parameters are new tensors afterwards:
// rebuild optimizers from module.parameters().
void removeChannels(GraphModule& module, const ChannelDependencies& deps, const std::vector<at::Tensor>& keeps);

}  // namespace edgeopt::prune
