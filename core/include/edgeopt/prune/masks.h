#pragma once
// Pruning masks: which weights a pruning kind zeroes, as plain tensor math
// (no graph). A mask has the shape of what it masks, the importance's
// floating dtype (float otherwise) and its device; 1 keeps, 0 prunes. The
// prune stage multiplies weight x mask in the graph, so gradients see it.
//
// Counts are exact: a ratio r of n elements prunes pruneCount(n, r) =
// round(r * n) (half away from zero), never "about r". Among equal
// importances the lower flat index is pruned first, so a mask depends only
// on its inputs (runs, devices and thread counts agree).
//
// Importance is what ranks the weights: |w| for magnitude pruning (pass
// `weight.abs()`), per-channel scores from importance.h for channel masks.
//
//   auto m = unstructuredMask(w.abs(), 0.5);          // half of w's weights
//   auto m24 = nmMask(w.abs(), 2, 4);                 // 2 of every 4 along I
//   auto c = channelMask(channelImportance(...), 0.3, /*min_keep=*/8);
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace edgeopt::prune {

// round(ratio * count), half away from zero; ratio must lie in [0, 1].
int64_t pruneCount(int64_t count, double ratio);

// Per-layer magnitude pruning: zeroes exactly pruneCount(numel, ratio) of the
// smallest importances of the whole tensor.
at::Tensor unstructuredMask(const at::Tensor& importance, double ratio);

// Global magnitude pruning over several layers with one threshold.
struct GlobalPruneOptions {
  double ratio = 0;      // of all eligible layers' weights together
  double max_ratio = 1;  // no layer pruned above this fraction (floor(max_ratio * n))
  int64_t min_elements = 0;  // layers with fewer elements are left dense and reported
};

struct GlobalMasks {
  std::vector<at::Tensor> masks;     // one per layer, in the input order
  std::vector<int64_t> pruned;       // weights zeroed per layer
  std::vector<size_t> skipped;       // indices of layers left dense (< min_elements)
  std::vector<size_t> capped;        // indices of layers whose max_ratio cap bound
  int64_t eligible = 0;              // elements of the layers not skipped
  int64_t target = 0;                // pruneCount(eligible, ratio) == sum of pruned
};

// The smallest importances across all eligible layers are pruned until
// exactly pruneCount(eligible, ratio) are zero. A layer that reaches its cap
// takes no more, and the next-smallest weights of the other layers make up
// the remainder (so a cap raises the effective threshold elsewhere). Ties:
// earlier layer, then lower index. Throws std::invalid_argument when the
// caps cannot hold the target (the message gives both counts).
GlobalMasks globalMagnitudeMasks(const std::vector<at::Tensor>& importances,
                                 const GlobalPruneOptions& options);

// N:M pruning of a weight [O, I, ...] (conv [O, I, kh, kw], linear [O, I]):
// for every (o, spatial position) the I weights are cut into groups of M
// consecutive input channels and exactly n of each group are zeroed. When
// I % m != 0 the last, shorter group of length len gets round(n * len / m)
// zeros, so the ratio holds there too. Grouped along I because that is the
// dot-product axis sparse kernels (2:4 tensor cores, TIDL 41:64) skip over.
at::Tensor nmMask(const at::Tensor& importance, int64_t n, int64_t m);
// The same with n = pruneCount(m, ratio), and pruneCount(len, ratio) zeros in
// the last short group (41/64 -> 41 of every 64).
at::Tensor nmMaskForRatio(const at::Tensor& importance, double ratio, int64_t m);

// Whole output channels: `channel_importance` is [O] (importance.h); zeroes
// min(pruneCount(O, ratio), O - min_keep) channels of least importance.
// round_to > 1 (as Torch-Pruning's round_to): the kept count is then rounded
// to the nearest multiple of round_to (ties up; at least one multiple, at
// least min_keep, at most O), so the pruned layers keep widths
// that SIMD kernels block by (ONNX Runtime's NCHWc: 8 channels on AVX2, 16
// on AVX-512); O < round_to keeps every channel.
// The mask is [O]; broadcast it over dim 0 of the weight (channelMaskFor).
at::Tensor channelMask(const at::Tensor& channel_importance, double ratio, int64_t min_keep = 1, int64_t round_to = 1);
// The channels channelMask keeps of `channels`.
int64_t keptChannels(int64_t channels, double ratio, int64_t min_keep = 1, int64_t round_to = 1);
// A [O] channel mask shaped to multiply a weight whose dim 0 is O ([O,1,1,1]).
at::Tensor channelMaskFor(const at::Tensor& channel_mask, const at::Tensor& weight);

// `prunechannelunstructured`: the ratio within each output channel, i.e.
// pruneCount(numel / O, ratio) of each importance[o] are zeroed.
at::Tensor perChannelUnstructuredMask(const at::Tensor& importance, double ratio);

// The groups within which a kind's count is exact, for code that works per
// group after the mask is made (sigmoid's thresholds, schedule.h).
struct MaskGroups {
  enum class Kind { Whole, OutputChannel, InputGroups };
  Kind kind = Kind::Whole;
  int64_t m = 0;  // InputGroups: the M of N:M
  static MaskGroups whole() { return {}; }                          // unstructured
  static MaskGroups perOutputChannel() { return {Kind::OutputChannel, 0}; }  // prunechannelunstructured
  static MaskGroups nm(int64_t m) { return {Kind::InputGroups, m}; }       // n2m
};

// Fraction of zeros of a mask (or of a masked weight): for logs and tests.
double sparsity(const at::Tensor& mask);

}  // namespace edgeopt::prune
