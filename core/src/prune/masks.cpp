// Pruning masks (see edgeopt/prune/masks.h). Every kind reduces to one
// primitive, rowMasks: zero the k smallest of each last-dim row, found by a
// stable ascending sort so that ties go to the lower index. Unstructured is
// one row, per-channel is one row per output channel, N:M is one row per
// group; only the global kind needs a walk across layers.
#include <edgeopt/prune/masks.h>

#include "prune_internal.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>

namespace edgeopt::prune {

namespace {

void checkRatio(double ratio, const char* what) {
  if (!(ratio >= 0.0 && ratio <= 1.0))  // also rejects NaN
    throw std::invalid_argument(std::string(what) + " must lie in [0, 1], got " + std::to_string(ratio));
}

at::TensorOptions maskOptions(const at::Tensor& importance) {
  auto dtype = at::isFloatingType(importance.scalar_type()) ? importance.scalar_type() : at::kFloat;
  return importance.options().dtype(dtype);
}

// Ones like `rows`, with the k smallest of every last-dim row set to 0.
at::Tensor rowMasks(const at::Tensor& rows, int64_t k) {
  auto mask = at::ones(rows.sizes(), maskOptions(rows));
  if (k <= 0 || rows.numel() == 0) return mask;
  // stable: equal importances keep their index order, so the lower index is pruned first.
  auto order = std::get<1>(at::sort(rows.detach(), /*stable=*/true, /*dim=*/-1, /*descending=*/false));
  mask.scatter_(-1, order.narrow(-1, 0, k), 0.0);
  return mask;
}

}  // namespace

namespace detail {

at::Tensor byInputGroups(const std::vector<at::Tensor>& tensors, int64_t m, const GroupFn& fn) {
  const at::Tensor& first = tensors.at(0);
  if (first.dim() < 2)
    throw std::invalid_argument("N:M pruning needs a weight with an input dimension ([O, I, ...]), got " +
                                std::to_string(first.dim()) + " dims");
  if (m < 1) throw std::invalid_argument("N:M pruning: M must be at least 1, got " + std::to_string(m));
  // Move I (dim 1) last so each row is the I weights of one (o, spatial position).
  std::vector<int64_t> perm{0};
  for (int64_t d = 2; d < first.dim(); ++d) perm.push_back(d);
  perm.push_back(1);
  std::vector<at::Tensor> rows;
  for (const auto& t : tensors) {
    if (t.sizes() != first.sizes()) throw std::invalid_argument("N:M grouping: tensors of different shapes");
    rows.push_back(t.detach().permute(perm).contiguous());
  }
  const auto movedShape = rows[0].sizes().vec();
  const int64_t in = first.size(1);
  if (first.numel() == 0) return first.detach().clone();
  const int64_t count = first.numel() / in, full = in / m, rest = in % m;
  for (auto& r : rows) r = r.reshape({count, in});
  auto blocks = [&](int64_t from, int64_t groups, int64_t len) {
    std::vector<at::Tensor> b;
    for (const auto& r : rows) b.push_back(r.narrow(1, from, groups * len).reshape({count, groups, len}));
    return fn(b).reshape({count, groups * len});
  };
  std::vector<at::Tensor> parts;
  if (full > 0) parts.push_back(blocks(0, full, m));
  if (rest > 0) parts.push_back(blocks(full * m, 1, rest));
  auto out = at::cat(parts, 1).reshape(movedShape);
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int64_t>(i);
  return out.permute(inverse).contiguous();
}

}  // namespace detail

namespace {

// N:M masks: `zeros(len)` says how many of a group of `len` to prune.
at::Tensor groupedMask(const at::Tensor& importance, int64_t m, const std::function<int64_t(int64_t)>& zeros) {
  if (importance.dim() >= 2 && importance.numel() == 0) return at::ones(importance.sizes(), maskOptions(importance));
  return detail::byInputGroups({importance}, m, [&](const std::vector<at::Tensor>& b) {
    return rowMasks(b[0], zeros(b[0].size(-1)));
  });
}

}  // namespace

int64_t pruneCount(int64_t count, double ratio) {
  checkRatio(ratio, "pruning ratio");
  return std::min<int64_t>(count, std::llround(ratio * static_cast<double>(count)));
}

at::Tensor unstructuredMask(const at::Tensor& importance, double ratio) {
  const int64_t k = pruneCount(importance.numel(), ratio);
  return rowMasks(importance.reshape({1, importance.numel()}), k).reshape(importance.sizes());
}

GlobalMasks globalMagnitudeMasks(const std::vector<at::Tensor>& importances, const GlobalPruneOptions& options) {
  checkRatio(options.ratio, "global pruning ratio");
  checkRatio(options.max_ratio, "max_ratio");
  const size_t layers = importances.size();
  GlobalMasks r;
  r.masks.resize(layers);
  r.pruned.assign(layers, 0);
  std::vector<int64_t> cap(layers, 0), start(layers, 0);
  std::vector<at::Tensor> flat;
  std::vector<size_t> flatLayer;  // flat[j] belongs to layer flatLayer[j]
  for (size_t i = 0; i < layers; ++i) {
    const int64_t n = importances[i].numel();
    if (n < options.min_elements) {
      r.skipped.push_back(i);
      continue;
    }
    start[i] = r.eligible;
    r.eligible += n;
    // floor with a little slack so 0.7 * 10 is 7, not 6.999...
    cap[i] = std::min<int64_t>(n, static_cast<int64_t>(std::floor(options.max_ratio * n + 1e-9)));
    // double holds every float exactly, so mixed dtypes compare as they are.
    flat.push_back(importances[i].detach().reshape(-1).to(at::kCPU, at::kDouble));
    flatLayer.push_back(i);
  }
  r.target = pruneCount(r.eligible, options.ratio);
  int64_t capSum = 0;
  for (auto c : cap) capSum += c;
  if (capSum < r.target)
    throw std::invalid_argument("global pruning ratio " + std::to_string(options.ratio) + " needs " +
                                std::to_string(r.target) + " of " + std::to_string(r.eligible) +
                                " weights zeroed, but max_ratio " + std::to_string(options.max_ratio) +
                                " lets the layers give at most " + std::to_string(capSum));

  std::vector<std::vector<int64_t>> picks(layers);
  std::vector<bool> hitCap(layers, false);
  if (r.target > 0) {
    // Layer start offsets of the concatenation, for mapping a flat index back.
    std::vector<int64_t> starts;
    for (size_t i : flatLayer) starts.push_back(start[i]);
    // One ascending order over every eligible weight; stable, so ties go to
    // the earlier layer, then the lower index.
    auto order = std::get<1>(at::sort(at::cat(flat), /*stable=*/true, 0, false)).contiguous();
    const int64_t* o = order.data_ptr<int64_t>();
    int64_t taken = 0;
    for (int64_t j = 0; j < order.numel() && taken < r.target; ++j) {
      const auto pos = std::upper_bound(starts.begin(), starts.end(), o[j]) - starts.begin() - 1;
      const size_t layer = flatLayer[pos];
      if (r.pruned[layer] >= cap[layer]) {  // the cap binds: the remainder goes to the other layers
        hitCap[layer] = true;
        continue;
      }
      picks[layer].push_back(o[j] - start[layer]);
      ++r.pruned[layer];
      ++taken;
    }
  }
  for (size_t i = 0; i < layers; ++i) {
    const auto& imp = importances[i];
    auto mask = at::ones({imp.numel()}, maskOptions(imp).device(at::kCPU));
    if (!picks[i].empty()) mask.index_fill_(0, at::tensor(picks[i], at::kLong), 0.0);
    r.masks[i] = mask.reshape(imp.sizes()).to(imp.device());
    if (hitCap[i]) r.capped.push_back(i);
  }
  return r;
}

at::Tensor nmMask(const at::Tensor& importance, int64_t n, int64_t m) {
  if (n < 0 || n > m)
    throw std::invalid_argument("N:M pruning needs 0 <= N <= M, got " + std::to_string(n) + ":" + std::to_string(m));
  // round(n * len / m), half up, in integers: exact for any group length.
  return groupedMask(importance, m, [n, m](int64_t len) { return (2 * n * len + m) / (2 * m); });
}

at::Tensor nmMaskForRatio(const at::Tensor& importance, double ratio, int64_t m) {
  checkRatio(ratio, "N:M pruning ratio");
  return groupedMask(importance, m, [ratio](int64_t len) { return pruneCount(len, ratio); });
}

int64_t keptChannels(int64_t channels, double ratio, int64_t min_keep, int64_t round_to) {
  if (min_keep < 0) throw std::invalid_argument("channel pruning: min_keep must be >= 0");
  if (round_to < 1) throw std::invalid_argument("channel pruning: round_to must be >= 1");
  const int64_t kept = channels - std::min(pruneCount(channels, ratio), std::max<int64_t>(channels - min_keep, 0));
  if (round_to == 1) return kept;
  if (channels < round_to) return channels;
  // The nearest multiple (ties up, at least one block) keeps the pruned
  // fraction closest to the ratio asked for: rounding always up, as
  // Torch-Pruning does, turns resnet18's 30 % into 28 % (MACs -43.5 % instead
  // of -46.4 %).
  int64_t rounded = std::max(round_to, (kept + round_to / 2) / round_to * round_to);
  if (rounded < min_keep) rounded = (min_keep + round_to - 1) / round_to * round_to;
  return std::min(channels, rounded);
}

at::Tensor channelMask(const at::Tensor& channel_importance, double ratio, int64_t min_keep, int64_t round_to) {
  if (channel_importance.dim() != 1)
    throw std::invalid_argument("channel pruning needs one importance per output channel ([O]), got " +
                                std::to_string(channel_importance.dim()) + " dims");
  const int64_t channels = channel_importance.size(0);
  const int64_t k = channels - keptChannels(channels, ratio, min_keep, round_to);
  return rowMasks(channel_importance.reshape({1, channels}), k).reshape({channels});
}

at::Tensor channelMaskFor(const at::Tensor& channel_mask, const at::Tensor& weight) {
  if (channel_mask.dim() != 1 || weight.dim() < 1 || channel_mask.size(0) != weight.size(0))
    throw std::invalid_argument("channel mask of " + std::to_string(channel_mask.numel()) +
                                " channels does not fit a weight with " +
                                (weight.dim() ? std::to_string(weight.size(0)) : std::string("no")) +
                                " output channels");
  std::vector<int64_t> shape(weight.dim(), 1);
  shape[0] = weight.size(0);
  return channel_mask.reshape(shape);
}

at::Tensor perChannelUnstructuredMask(const at::Tensor& importance, double ratio) {
  if (importance.dim() < 1 || importance.size(0) == 0)
    throw std::invalid_argument("per-channel pruning needs a weight with output channels");
  const int64_t channels = importance.size(0), per = importance.numel() / channels;
  return rowMasks(importance.reshape({channels, per}), pruneCount(per, ratio)).reshape(importance.sizes());
}

double sparsity(const at::Tensor& mask) {
  if (mask.numel() == 0) return 0.0;
  return 1.0 - static_cast<double>(at::count_nonzero(mask).item<int64_t>()) / static_cast<double>(mask.numel());
}

}  // namespace edgeopt::prune
