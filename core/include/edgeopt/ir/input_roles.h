#pragma once
// Named input positions of the ops whose inputs are more than "x and a
// weight", so code reads `bn->input(kBnRunningVar)`, not `bn->input(4)`.
// (fake_quant's are FakeQuantInput in quant/qparams.h.)
#include <cstddef>

namespace edgeopt::ir {

// conv2d, conv_transpose2d, linear: x, weight[, bias].
enum ConvInput : size_t { kConvX = 0, kConvWeight = 1, kConvBias = 2 };

// batch_norm: x, weight (gamma), bias (beta), running_mean, running_var[,
// num_batches_tracked].
enum BatchNormInput : size_t {
  kBnX = 0,
  kBnWeight = 1,
  kBnBias = 2,
  kBnRunningMean = 3,
  kBnRunningVar = 4,
  kBnNumBatchesTracked = 5,
};

}  // namespace edgeopt::ir
