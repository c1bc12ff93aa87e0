// Channels-last (NHWC) training: the layout oneDNN's convolutions prefer.
// LibTorch 1.13 on CPU runs a conv whose input or weight is channels-last in
// NHWC end to end (oneDNN conv, ATen's NHWC batch-norm and pooling kernels),
// and skips the NCHW<->blocked reorders it does around every conv otherwise
// (bench_qat's -nhwc rows, bench_eval --nhwc). Element-wise ops keep the
// layout of their input, so converting the 4-D weights and the batch is
// enough (a conv with a channels-last weight converts its input); they go back to
// the contiguous layout when the stage ends, so checkpoints, exports and the
// next stage see the usual layout (writers copy to contiguous anyway).
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace edgeopt {

class GraphModule;

// Converts the model's 4-D parameters to channels-last for its lifetime.
class ChannelsLastParameters {
 public:
  explicit ChannelsLastParameters(GraphModule& model);
  ~ChannelsLastParameters();
  size_t converted() const { return converted_.size(); }
  ChannelsLastParameters(const ChannelsLastParameters&) = delete;
  ChannelsLastParameters& operator=(const ChannelsLastParameters&) = delete;

 private:
  std::vector<at::Tensor> converted_;
};

// A 4-D batch in the training layout; other ranks are returned as they are.
at::Tensor toTrainingLayout(const at::Tensor& images, bool channels_last);

}  // namespace edgeopt
