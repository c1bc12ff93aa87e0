// Channel importance (see edgeopt/prune/importance.h).
//
// FPGM follows the paper (He et al., "Filter Pruning via Geometric Median",
// CVPR 2019): a channel's score is the sum of its distances to all others;
// the smallest sum marks the channel nearest the geometric median, the most
// replaceable one. TI approximates the median coordinate-wise
// (torch.median(dim=0)), which is not rotation invariant and can pick a
// channel far from the others' median when the coordinates disagree.
#include <edgeopt/prune/importance.h>

#include <ATen/ATen.h>

#include <stdexcept>
#include <string>

namespace edgeopt::prune {

at::Tensor foldBatchNorm(const at::Tensor& weight, const at::Tensor& gamma, const at::Tensor& running_var,
                         double eps) {
  if (weight.dim() < 1 || gamma.numel() != weight.size(0) || running_var.numel() != weight.size(0))
    throw std::invalid_argument("BatchNorm of " + std::to_string(gamma.numel()) + " channels does not follow a weight with " +
                                (weight.dim() ? std::to_string(weight.size(0)) : std::string("no")) + " output channels");
  std::vector<int64_t> shape(weight.dim(), 1);
  shape[0] = weight.size(0);
  auto scale = gamma.detach().to(weight.scalar_type()) / (running_var.detach().to(weight.scalar_type()) + eps).sqrt();
  return weight.detach() * scale.reshape(shape);
}

at::Tensor channelFeatures(const at::Tensor& weight, const std::vector<ConsumerWeight>& consumers) {
  if (weight.dim() < 1) throw std::invalid_argument("channel importance needs a weight with output channels");
  const int64_t channels = weight.size(0);
  std::vector<at::Tensor> parts{weight.detach().reshape({channels, -1}).to(at::kDouble)};
  for (const auto& c : consumers) {
    const auto& w = c.weight;
    if (w.dim() < 2 || c.span < 1 || c.offset < 0 || c.offset + channels * c.span > w.size(1))
      throw std::invalid_argument("consumer weight of " + std::to_string(w.dim() >= 2 ? w.size(1) : 0) +
                                  " inputs cannot hold " + std::to_string(channels) + " channels x " +
                                  std::to_string(c.span) + " from input " + std::to_string(c.offset));
    // [O2, I2, ...] -> inputs first, our slice, then one row per channel:
    // a channel's span inputs across all of the consumer's outputs.
    auto mine = w.detach().transpose(0, 1).narrow(0, c.offset, channels * c.span);
    parts.push_back(mine.reshape({channels, -1}).to(at::kDouble));
  }
  return at::cat(parts, 1);
}

at::Tensor channelImportance(const at::Tensor& weight, ChannelCriterion criterion,
                             const std::vector<ConsumerWeight>& consumers) {
  auto features = channelFeatures(weight, consumers);
  switch (criterion) {
    case ChannelCriterion::L2:
      return features.norm(2, {1});
    case ChannelCriterion::Fpgm: {
      // Pairwise Euclidean distances; cdist on [1, O, F] keeps it one call.
      auto d = at::cdist(features.unsqueeze(0), features.unsqueeze(0)).squeeze(0);
      return d.sum(1);
    }
  }
  throw std::invalid_argument("unknown channel criterion");
}

}  // namespace edgeopt::prune
