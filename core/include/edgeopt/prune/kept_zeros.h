#pragma once
// Pruned zeros belong to the model, not to the prune stage. When a prune
// stage bakes its masks it marks each pruned weight's Param node
// (kKeepZerosAttr; saved with the model), and every later training stage
// keeps that weight's zeros: after each optimizer step KeptZeros::apply
// multiplies the weight by the mask of its zeros at the stage start. So a
// plain fine-tuning `train` after `prune` does not regrow what was pruned.
// QAT keeps them as well (its weight quantizers preserve zeros and pass them
// no gradient). A marker instead of "any exact zero" leaves alone weights
// that are zero by design (zero-initialised adapters), which must train.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace edgeopt {
class GraphModule;
class Rewriter;
namespace ir {
class Node;
}

namespace prune {

inline constexpr const char* kKeepZerosAttr = "keep_zeros";

// Marks the Param node `param` as holding pruned zeros.
void markKeepZeros(Rewriter& rw, ir::Node* param);

class KeptZeros {
 public:
  // The masks of the marked weights' zeros, as the weights are now.
  explicit KeptZeros(GraphModule& module);

  // Zeroes again what was zero at construction (no autograd).
  void apply();

  size_t tensors() const { return kept_.size(); }
  int64_t zeros() const { return zeros_; }

 private:
  std::vector<std::pair<at::Tensor, at::Tensor>> kept_;  // weight, keep mask (weight's dtype)
  int64_t zeros_ = 0;
};

}  // namespace prune
}  // namespace edgeopt
