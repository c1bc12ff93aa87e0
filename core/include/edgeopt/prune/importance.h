#pragma once
// Per-output-channel importance for channel pruning, computed as TI's
// PrunerModule does it (get_bn_adjusted_weight, get_net_weight_node_channel_prune
// in TexasInstruments/edgeai-tensorlab, .../xmodelopt/pruning/v3/utils.py):
// on the conv weight with the following BatchNorm folded in, so a channel the
// BN scales down counts as small, and with the weights that read the channel
// in the consumers, so removing a channel is judged by everything it deletes.
//
//   auto folded = foldBatchNorm(conv_w, bn_gamma, bn_running_var, 1e-5);
//   auto imp = channelImportance(folded, ChannelCriterion::Fpgm, {{next_conv_w}});
//   auto mask = channelMask(imp, 0.3);   // masks.h
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace edgeopt::prune {

// weight [O, ...] * (gamma / sqrt(running_var + eps)) along dim 0: the
// weight of the conv/linear as BatchNorm-folded inference would run it.
at::Tensor foldBatchNorm(const at::Tensor& weight, const at::Tensor& gamma, const at::Tensor& running_var,
                         double eps);

// A layer that reads the pruned layer's output channels through its own
// input dimension (dim 1 of a conv [O2, I2, kh, kw] or linear [O2, I2]).
struct ConsumerWeight {
  at::Tensor weight;
  int64_t offset = 0;  // the first input channel that is ours (a concat places us after others)
  int64_t span = 1;    // inputs per channel: H*W when a flatten feeds a linear
};

enum class ChannelCriterion {
  L2,    // ||channel's weights||_2: small channels go
  Fpgm,  // sum of L2 distances to the other channels: the channels nearest
         // the geometric median go, as the others can stand in for them
};

// The weights that belong to each output channel, one row per channel: the
// weight's row o flattened, then for each consumer its inputs
// [offset + o*span, offset + (o+1)*span) across all its outputs. [O, features]
at::Tensor channelFeatures(const at::Tensor& weight, const std::vector<ConsumerWeight>& consumers = {});

// Importance [O] (double) of each output channel of `weight` (dim 0 = output
// channels; pass the BN-folded weight), larger = keep.
at::Tensor channelImportance(const at::Tensor& weight, ChannelCriterion criterion,
                             const std::vector<ConsumerWeight>& consumers = {});

}  // namespace edgeopt::prune
