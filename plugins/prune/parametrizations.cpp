// The built-in pruning parametrizations (parametrization.h), after TI's
// BlendPruningParametrization, SigmoidPruningParametrization and
// IncrementalPruningParametrization, with the schedule formulas of
// prune/schedule.h:
//
//   blend (default)  pruned weights x (|n - knee| / (knee - init))^p, 1 for the
//                    init epochs, 0 from the knee on
//   sigmoid          pruned weights fade by their distance to the keep/prune
//                    threshold (those just below it last), counted in the
//                    mask's own groups (so N:M and per-channel masks work)
//   incremental      a growing share of the pruned weights, least important
//                    first, is hard-zeroed: incrementalRatio(...) of them,
//                    all from the knee on
#include "prune_plugin.h"

#include <edgeopt/plugin.h>
#include <edgeopt/prune/parametrization.h>

#include <ATen/ATen.h>

#include <limits>

namespace edgeopt::prune_plugin {
namespace {

using prune::MaskedWeight;
using prune::PruneSchedule;

class Blend : public PruningParametrization {
 public:
  at::Tensor multiplier(const PruneSchedule& s, int64_t epoch, const MaskedWeight& w) const override {
    return prune::softMask(w.keep, prune::blendFactor(s, epoch));
  }
};

class Sigmoid : public PruningParametrization {
 public:
  at::Tensor multiplier(const PruneSchedule& s, int64_t epoch, const MaskedWeight& w) const override {
    return prune::sigmoidFactors(s, epoch, prune::thresholdOffsets(w.importance, w.keep, w.groups), w.keep);
  }
};

class Incremental : public PruningParametrization {
 public:
  at::Tensor multiplier(const PruneSchedule& s, int64_t epoch, const MaskedWeight& w) const override {
    const double share = prune::incrementalRatio(s, epoch, 1.0);  // of the weights the mask prunes
    const auto dtype = at::isFloatingType(w.keep.scalar_type()) ? w.keep.scalar_type() : at::kFloat;
    if (share <= 0) return at::ones(w.keep.sizes(), w.keep.options().dtype(dtype));
    // Rows within which the share is counted: each output channel for a
    // per-channel mask, else the whole tensor (for N:M the final pattern is
    // exact; on the way the zeros follow importance across the tensor).
    const int64_t rows = w.groups.kind == prune::MaskGroups::Kind::OutputChannel && w.keep.dim() > 0 ? w.keep.size(0) : 1;
    const at::Tensor keep = w.keep.reshape({rows, -1}).to(at::kBool);
    const at::Tensor imp = w.importance.detach().reshape({rows, -1}).to(at::kDouble);
    // Kept weights rank after every pruned one; ties by index (stable sort).
    const at::Tensor key = at::where(keep, at::full_like(imp, std::numeric_limits<double>::infinity()), imp);
    const at::Tensor order = std::get<1>(key.sort(/*stable=*/true, /*dim=*/1, /*descending=*/false));
    const at::Tensor rank = at::empty_like(order).scatter_(1, order, at::arange(order.size(1), order.options()).expand_as(order));
    const at::Tensor pruned = (~keep).sum(1, /*keepdim=*/true);
    // pruneCount per row: round(share * pruned), half away from zero.
    const at::Tensor off = (pruned.to(at::kDouble) * share + 0.5).floor();
    const at::Tensor zero = (~keep) & (rank.to(at::kDouble) < off);
    return (~zero).to(dtype).reshape(w.keep.sizes());
  }
};

template <class T>
PruningParametrizationFactory builtin(std::string summary) {
  PruningParametrizationFactory f;
  f.summary = std::move(summary);
  f.create = [](const Options&) { return std::make_unique<T>(); };
  return f;
}

}  // namespace

void registerParametrizations(PluginRegistrar& r) {
  r.add<PruningParametrization>(
      "blend", builtin<Blend>("pruned weights x (|epoch - knee| / (knee - init))^p after the init epochs, 0 from the knee"));
  r.add<PruningParametrization>(
      "sigmoid", builtin<Sigmoid>("pruned weights fade by their distance to the keep/prune threshold (hardsigmoid)"));
  r.add<PruningParametrization>(
      "incremental", builtin<Incremental>("a share of the pruned weights growing to all at the knee is zeroed, least important first"));
}

}  // namespace edgeopt::prune_plugin
