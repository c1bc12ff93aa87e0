#pragma once
// Pruning parametrizations: how strongly the weights a pruning mask marks are
// scaled down at each epoch of the `prune` stage. The stage puts
// mul(weight, mask) into the graph for every pruned tensor (gradients see
// weight x mask) and, at the start of each epoch, fills `mask` with what the
// stage's parametrization returns; at the stage's end the binary mask is
// baked in as zeros whatever the parametrization did. A parametrization is a
// plugin kind (FactoryKind::PruningParametrization, registry.h): the built-in
// `blend` (default), `sigmoid` and `incremental` come from plugins/prune, and
// a user's plugin adds its own the same way:
//
//   class Cubic : public edgeopt::PruningParametrization {       // gradual magnitude
//     at::Tensor multiplier(const prune::PruneSchedule& s, int64_t epoch,
//                           const prune::MaskedWeight& w) const override {
//       const double n = epoch + 1, span = std::max<int64_t>(s.knee() - s.init_epochs, 1);
//       const double t = std::clamp((n - s.init_epochs) / span, 0.0, 1.0);   // 0 -> 1 at the knee
//       return prune::softMask(w.keep, std::pow(1 - t, 3));
//     }
//   };
//   r.add<edgeopt::PruningParametrization>("cubic", {"cubic decay", {}, [](const edgeopt::Options&) {
//     return std::make_unique<Cubic>(); }});
//
// and a recipe picks it with `parametrization: cubic` (options of its own
// under `parametrization_options:`, validated against the factory's schema).
#include <edgeopt/prune/masks.h>
#include <edgeopt/prune/schedule.h>

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace edgeopt {

namespace prune {

// What a parametrization sees of one pruned tensor, all fixed at the stage's
// start. `keep` and `importance` have the same shape: the tensor's own
// (unstructured, n2m, prunechannelunstructured), or [C, 1, ...] with the
// channels along the pruned dimension and 1 elsewhere (channel pruning; the
// stage broadcasts the multiplier over the tensor).
struct MaskedWeight {
  at::Tensor importance;  // larger = keep (|w| for magnitude kinds, the group's channel importance)
  at::Tensor keep;        // binary: 1 keep, 0 prune (the final mask)
  MaskGroups groups;      // the groups within which keep's count is exact (masks.h)
};

}  // namespace prune

class PruningParametrization {
 public:
  virtual ~PruningParametrization() = default;
  // The multiplier for 0-based `epoch`, shaped like w.keep (the stage checks):
  // 1 keeps a weight as it is, 0 switches it off. It should reach w.keep by
  // the schedule's knee, so that the baked model is the one trained last.
  virtual at::Tensor multiplier(const prune::PruneSchedule& schedule, int64_t epoch,
                                const prune::MaskedWeight& w) const = 0;
};

}  // namespace edgeopt
