#pragma once
// Runs a Graph with ATen kernels from the OpRegistry. The plan (value slots
// and which values die after each node) is computed once per graph version,
// so each call only executes kernels and drops tensors after their last use:
// keeping every activation alive costs 10-25 % of step time (STACK-NOTES).
// Autograd works: kernels are plain ATen calls.
#include <edgeopt/ir/op_registry.h>

#include <functional>
#include <string>
#include <vector>

namespace edgeopt::ir {

// Resolves a Param node's target (a state_dict name) to its tensor.
using TensorLookup = std::function<const at::Tensor&(const std::string& name)>;
// Called after each Call node with its outputs (observers, shape checks).
using NodeObserver = std::function<void(const Node&, const std::vector<at::Tensor>& outputs)>;

struct ExecStats {
  size_t peak_live_values = 0;  // most tensors held at once during the last run
};

class Executor {
 public:
  explicit Executor(const Graph& graph);

  // True if `graph` changed since the plan was made.
  bool stale() const { return graph_version_ != graph_.version(); }
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs, const TensorLookup& lookup,
                              const ExecContext& ctx, const NodeObserver& observer = {});
  const ExecStats& lastStats() const { return stats_; }

 private:
  struct Step {
    const Node* node;
    const OpDef* op;  // Call nodes only
    std::vector<size_t> in_slots;
    std::vector<size_t> out_slots;
    std::vector<size_t> free_after;  // slots whose last use is this step
  };
  const Graph& graph_;
  uint64_t graph_version_;
  std::vector<Step> steps_;
  size_t num_slots_ = 0;
  size_t num_inputs_ = 0;
  ExecStats stats_;
};

}  // namespace edgeopt::ir
