#pragma once
// Pruning schedules: how strongly the weights a mask marks for pruning are
// scaled down at each epoch of the prune stage, as the parametrizations of
// TI's PrunerModule do (BlendPruningParametrization,
// SigmoidPruningParametrization, IncrementalPruningParametrization in
// TexasInstruments/edgeai-tensorlab,
// edgeai-modeloptimization/torchmodelopt/edgeai_torchmodelopt/xmodelopt/pruning/v3/parametrization.py).
// A masked weight is w * softMask(keep, factor): kept weights are untouched,
// pruned ones scaled by the factor; at the stage's end the binary mask is
// baked in as zeros.
//
// Epochs: `epoch` counts from 0, as Trainer::Hooks::on_epoch_start passes it.
// The formulas use the epoch's number n = epoch + 1, which is what TI's
// epoch_count holds when it builds the mask (train() increments it first), so
// "the init epochs" are epochs 0 .. init_epochs - 1.
//
// Differences from TI, on purpose:
//  - knee = init + floor(2 (total - init) / 3). TI writes (total - init) * 2 // 3
//    and compares it with the epoch number directly, so with many init epochs
//    the knee falls before them and blend drops straight to 0.
//  - incremental stops at the ratio after the knee (TI keeps growing past it
//    and asks topk for a negative count).
//  - sigmoid's offsets are normalized by their largest magnitude (TI: range
//    shrunk by 0.01 percentile), and its pruned set is the mask's, so N:M and
//    per-channel masks work with it (TI's n2m branch reads an unset variable).
#include <edgeopt/prune/masks.h>

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace edgeopt::prune {

struct PruneSchedule {
  int64_t total_epochs = 1;  // epochs of the prune stage
  int64_t init_epochs = 5;   // dense epochs before pruning starts (TI pruning_init_train_ep)
  double p = 2.0;            // blend's exponent
  // Throws std::invalid_argument: total_epochs >= 1, 0 <= init_epochs < total_epochs, p > 0.
  void validate() const;
  // The epoch number by which the pruned weights are fully off:
  // init + floor(2 (total - init) / 3); 20 epochs, 5 init -> 15.
  int64_t knee() const;
};

// blend: the pruned weights' factor at `epoch`. With n = epoch + 1:
//   n <= init           -> 1
//   init < n < knee     -> (|n - knee| / (knee - init))^p
//   n >= knee           -> 0
double blendFactor(const PruneSchedule& s, int64_t epoch);

// incremental: the fraction of weights hard-zeroed at `epoch` (factor 0 for
// them, 1 for the rest): 0 for n <= init, then ratio * (n - init) / (knee - init),
// held at `ratio` from the knee on.
double incrementalRatio(const PruneSchedule& s, int64_t epoch, double ratio);

// sigmoid: the factor of one weight whose offset from the keep/prune threshold,
// divided by the largest offset magnitude, is x in [-1, 1] (x < 0: pruned).
// With s = (n - init) / total: 1 for n <= init or a kept weight; else
// hardsigmoid(3 + x s - 8 s) = clamp((6 + x s - 8 s) / 6, 0, 1), so the
// weights just below the threshold fade last.
double sigmoidFactor(const PruneSchedule& s, int64_t epoch, double x, bool kept);
// The same elementwise: `offset` = importance - threshold (thresholdOffsets),
// `keep` the binary mask; returns the factors (kept entries 1).
at::Tensor sigmoidFactors(const PruneSchedule& s, int64_t epoch, const at::Tensor& offset, const at::Tensor& keep);
// importance - t (double), with t midway between the least kept and the
// greatest pruned importance (TI's threshold), taken within each group the
// mask was counted in: the whole tensor, each output channel, or each N:M
// group along I (so sigmoid works on N:M masks, which TI's did not).
at::Tensor thresholdOffsets(const at::Tensor& importance, const at::Tensor& keep,
                            MaskGroups groups = MaskGroups::whole());

// keep + (1 - keep) * factor: the multiplier of a blend or incremental mask.
at::Tensor softMask(const at::Tensor& keep, double factor);

}  // namespace edgeopt::prune
