#pragma once
// How an op's channel dimension flows from its inputs to its outputs, as data
// that channel pruning follows (prune/channel_groups.h) — Torch-Pruning's
// dependency rules, kept next to each op in the registry instead of in the
// pruner. The channel dimension is dim 1 of every value (NCHW's C, the
// features of a [N, F] tensor).
//
// Each op's flow function looks at one node (its attributes and input
// shapes) and says what its channels do there: a conv with groups == 1 is a
// Producer, a depthwise one keeps its input's channels, any other grouping is
// a Barrier.
#include <edgeopt/ir/graph.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace edgeopt::ir {

// An input of the node (in practice a Param: a weight, a bias, a BN
// statistic) whose dimension `dim` is indexed by channels.
struct TensorDim {
  size_t input;
  int64_t dim;
};

struct ChannelFlow {
  enum class Kind {
    Barrier,      // channels can't be followed: the groups on both sides stay whole
    Same,         // output c (of every output) comes from channel c of input 0: activations, pools, BN
    Elementwise,  // broadcasting: each input with the output's channel extent shares its channels
    Producer,     // conv/linear: the output's channels are made by `params`, input 0's are read by `in_params`
    Concat,       // the output's channels are the inputs' channels, stacked in order
    Split,        // the outputs are consecutive ranges of input 0's channels
    Flatten,      // [N, C, d...] -> [N, C * prod(d)]: channel c owns prod(d) consecutive features
  };
  Kind kind = Kind::Barrier;
  // Sliced with the output channels: a producer's weight dim 0 and bias, BN's four tensors.
  std::vector<TensorDim> params;
  // Producer: sliced with input 0's channels (conv weight dim 1).
  std::vector<TensorDim> in_params;
  // Producer: output channel c reads only input channel c (depthwise conv), so
  // input and output channels are pruned together; `groups_attr` is then set
  // to the new channel count.
  bool depthwise = false;
  const char* groups_attr = nullptr;

  static ChannelFlow barrier() { return {}; }
  static ChannelFlow same(std::vector<TensorDim> params = {}) { return {Kind::Same, std::move(params), {}}; }
  static ChannelFlow elementwise() { return {Kind::Elementwise, {}, {}}; }
  static ChannelFlow producer(std::vector<TensorDim> params, std::vector<TensorDim> in_params) {
    return {Kind::Producer, std::move(params), std::move(in_params)};
  }
  static ChannelFlow concat() { return {Kind::Concat, {}, {}}; }
  static ChannelFlow split() { return {Kind::Split, {}, {}}; }
  static ChannelFlow flatten() { return {Kind::Flatten, {}, {}}; }
};
const char* toString(ChannelFlow::Kind kind);

// The flow at one node, from its attributes and its input shapes. An op
// without one is a Barrier.
using ChannelFlowFn = std::function<ChannelFlow(const Node& node, const std::vector<Shape>& inputs)>;

// A flow that does not depend on the node.
inline ChannelFlowFn fixedFlow(ChannelFlow flow) {
  return [flow](const Node&, const std::vector<Shape>&) { return flow; };
}

}  // namespace edgeopt::ir
