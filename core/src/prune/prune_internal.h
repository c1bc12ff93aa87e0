#pragma once
// Grouping shared by the pruning sources (internal to core/src/prune): the
// N:M groups run along a weight's input dimension, which is not contiguous in
// memory, so masks and thresholds both go through one regrouping.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace edgeopt::prune::detail {

// Tensors of one weight's shape [O, I, ...] are moved to [O * spatial, I] and
// cut into groups of m along I; `fn` gets the full groups as [rows, groups, m]
// blocks (one per tensor, same order) and then, if I % m != 0, the last short
// groups as [rows, 1, I % m]. It returns one block of the same shape; the
// results are put back into the weight's layout.
using GroupFn = std::function<at::Tensor(const std::vector<at::Tensor>& blocks)>;
at::Tensor byInputGroups(const std::vector<at::Tensor>& tensors, int64_t m, const GroupFn& fn);

}  // namespace edgeopt::prune::detail
