// A template pruning parametrization: `cubic`, the gradual magnitude
// schedule of Zhu & Gupta ("To prune, or not to prune", 2017). Between the
// prune stage's init epochs and its knee, the share of the to-be-pruned
// weights that is already zero grows as 1 - (1 - t)^power (t: 0 -> 1), least
// important first: fast at first, gently at the end, so the network has
// epochs to recover from the last cuts. Enable it from a recipe:
//   - kind: prune
//     type: unstructured
//     ratio: 0.5
//     parametrization: cubic
//     parametrization_options: {power: 3}
#include <edgeopt/plugin.h>
#include <edgeopt/prune/parametrization.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace {

class Cubic : public edgeopt::PruningParametrization {
 public:
  explicit Cubic(double power) : power_(power) {}

  at::Tensor multiplier(const edgeopt::prune::PruneSchedule& s, int64_t epoch,
                        const edgeopt::prune::MaskedWeight& w) const override {
    // Epoch numbers count from 1 in the schedule's formulas (schedule.h).
    const double span = static_cast<double>(std::max<int64_t>(s.knee() - s.init_epochs, 1));
    const double t = std::clamp((static_cast<double>(epoch + 1) - s.init_epochs) / span, 0.0, 1.0);
    const at::Tensor pruned = w.keep.eq(0).reshape({-1});
    const int64_t off = std::llround((1.0 - std::pow(1.0 - t, power_)) * pruned.sum().item<double>());
    at::Tensor m = at::ones({pruned.numel()}, w.keep.options());
    if (off > 0) {
      // The `off` pruned weights of least importance are switched off.
      at::Tensor rank = w.importance.reshape({-1}).to(at::kDouble).masked_fill(~pruned, std::numeric_limits<double>::infinity());
      m.index_fill_(0, std::get<1>(rank.topk(off, 0, /*largest=*/false)), 0);
    }
    return m.reshape(w.keep.sizes());
  }

 private:
  double power_;
};

void registerCubic(edgeopt::PluginRegistrar& registrar) {
  edgeopt::PruningParametrizationFactory f;
  f.summary = "gradual magnitude pruning: 1 - (1 - t)^power of the pruned weights off by the knee";
  f.options.add("power", edgeopt::OptionType::Float).defaultValue(3.0).range(0.1, 100.0).help("the exponent");
  f.create = [](const edgeopt::Options& o) { return std::make_unique<Cubic>(o.get<double>("power")); };
  registrar.add<edgeopt::PruningParametrization>("cubic", std::move(f));
}

}  // namespace

EDGEOPT_PLUGIN("1.0.0", "cubic gradual-magnitude pruning parametrization (template plugin)", registerCubic)
