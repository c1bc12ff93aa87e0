// Pruning schedules (see edgeopt/prune/schedule.h for the formulas, TI's
// source file and where this departs from it).
#include <edgeopt/prune/schedule.h>

#include "prune_internal.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace edgeopt::prune {

namespace {

// TI's sigmoid constants: the hardsigmoid's half-width (sigmoid_domain = 3)
// and the push away from it, (2 * 3 + 2) * s (offset_factor).
constexpr double kSigmoidDomain = 3.0;
constexpr double kSigmoidPush = 2 * kSigmoidDomain + 2;

// importance - t per last-dim row, t midway between the row's least kept and
// greatest pruned importance. A row with nothing pruned (or nothing kept)
// takes its edge as t, so its offsets keep their sign.
at::Tensor rowOffsets(const at::Tensor& importance, const at::Tensor& keep) {
  auto imp = importance.detach().to(at::kDouble);
  auto kept = keep.to(at::kBool);
  const double inf = std::numeric_limits<double>::infinity();
  auto keptMin = at::where(kept, imp, at::full_like(imp, inf)).amin(-1, true);
  auto prunedMax = at::where(kept, at::full_like(imp, -inf), imp).amax(-1, true);
  keptMin = at::where(at::isinf(keptMin), prunedMax, keptMin);
  prunedMax = at::where(at::isinf(prunedMax), keptMin, prunedMax);
  return imp - (keptMin + prunedMax) / 2;
}

}  // namespace

void PruneSchedule::validate() const {
  if (total_epochs < 1)
    throw std::invalid_argument("pruning needs at least one epoch, got total_epochs " + std::to_string(total_epochs));
  if (init_epochs < 0 || init_epochs >= total_epochs)
    throw std::invalid_argument("init_epochs must lie in [0, total_epochs) = [0, " + std::to_string(total_epochs) +
                                "), got " + std::to_string(init_epochs));
  if (!(p > 0)) throw std::invalid_argument("the blend exponent p must be > 0, got " + std::to_string(p));
}

int64_t PruneSchedule::knee() const { return init_epochs + 2 * (total_epochs - init_epochs) / 3; }

double blendFactor(const PruneSchedule& s, int64_t epoch) {
  s.validate();
  const int64_t n = epoch + 1, knee = s.knee();
  if (n <= s.init_epochs) return 1.0;
  if (n >= knee) return 0.0;  // also a knee == init schedule (fewer than 2 pruning epochs)
  return std::pow(static_cast<double>(std::llabs(n - knee)) / static_cast<double>(knee - s.init_epochs), s.p);
}

double incrementalRatio(const PruneSchedule& s, int64_t epoch, double ratio) {
  s.validate();
  if (!(ratio >= 0 && ratio <= 1)) throw std::invalid_argument("pruning ratio must lie in [0, 1]");
  const int64_t n = epoch + 1, knee = s.knee();
  if (n <= s.init_epochs) return 0.0;
  if (n >= knee) return ratio;
  return ratio * static_cast<double>(n - s.init_epochs) / static_cast<double>(knee - s.init_epochs);
}

double sigmoidFactor(const PruneSchedule& s, int64_t epoch, double x, bool kept) {
  s.validate();
  const int64_t n = epoch + 1;
  if (n <= s.init_epochs || kept) return 1.0;
  const double spread = static_cast<double>(n - s.init_epochs) / static_cast<double>(s.total_epochs);
  // A pruned weight sits at or below the threshold even when its importance ties it.
  x = std::clamp(x, -1.0, 0.0);
  const double y = kSigmoidDomain + x * spread - kSigmoidPush * spread;
  return std::clamp((y + 3.0) / 6.0, 0.0, 1.0);  // hardsigmoid
}

at::Tensor sigmoidFactors(const PruneSchedule& s, int64_t epoch, const at::Tensor& offset, const at::Tensor& keep) {
  s.validate();
  const int64_t n = epoch + 1;
  auto options = keep.options().dtype(at::isFloatingType(keep.scalar_type()) ? keep.scalar_type() : at::kFloat);
  if (n <= s.init_epochs) return at::ones(keep.sizes(), options);
  const double spread = static_cast<double>(n - s.init_epochs) / static_cast<double>(s.total_epochs);
  const double largest = offset.numel() ? offset.abs().max().item<double>() : 0.0;
  auto x = largest > 0 ? offset / largest : at::zeros_like(offset);
  x = x.clamp(-1.0, 0.0);
  auto pruned = (x * spread + (kSigmoidDomain - kSigmoidPush * spread) + 3.0).div(6.0).clamp(0.0, 1.0);
  auto kept = keep.to(at::kBool);
  return at::where(kept, at::ones_like(pruned), pruned).to(options);
}

at::Tensor thresholdOffsets(const at::Tensor& importance, const at::Tensor& keep, MaskGroups groups) {
  if (importance.sizes() != keep.sizes()) throw std::invalid_argument("thresholdOffsets: importance and mask differ in shape");
  if (importance.numel() == 0) return importance.detach().to(at::kDouble);
  switch (groups.kind) {
    case MaskGroups::Kind::Whole:
      return rowOffsets(importance.reshape({1, -1}), keep.reshape({1, -1})).reshape(importance.sizes());
    case MaskGroups::Kind::OutputChannel:
      return rowOffsets(importance.reshape({importance.size(0), -1}), keep.reshape({importance.size(0), -1}))
          .reshape(importance.sizes());
    case MaskGroups::Kind::InputGroups:
      return detail::byInputGroups({importance, keep}, groups.m,
                                   [](const std::vector<at::Tensor>& b) { return rowOffsets(b[0], b[1]); });
  }
  throw std::invalid_argument("thresholdOffsets: unknown mask groups");
}

at::Tensor softMask(const at::Tensor& keep, double factor) {
  if (!(factor >= 0 && factor <= 1)) throw std::invalid_argument("mask factor must lie in [0, 1]");
  auto k = at::isFloatingType(keep.scalar_type()) ? keep : keep.to(at::kFloat);
  return k + (1 - k) * factor;
}

}  // namespace edgeopt::prune
