// The graph interpreter. See executor.h for why the plan frees values early.
#include <edgeopt/error.h>
#include <edgeopt/ir/executor.h>

#include <ATen/ATen.h>

#include <unordered_map>

namespace edgeopt::ir {

Executor::Executor(const Graph& graph) : graph_(graph), graph_version_(graph.version()) {
  std::unordered_map<const Value*, size_t> slot_of;
  std::vector<size_t> last_use;  // per slot: index of the last step reading it
  auto nodes = graph.nodes();
  for (const Node* n : nodes) {
    Step step{n, nullptr, {}, {}, {}};
    if (n->opcode() == Opcode::Call) step.op = &OpRegistry::instance().get(n->target());
    if (n->opcode() == Opcode::Input) ++num_inputs_;
    for (const Value* v : n->inputs()) {
      size_t s = slot_of.at(v);
      step.in_slots.push_back(s);
      last_use[s] = steps_.size();
    }
    for (const Value* v : n->outputs()) {
      slot_of[v] = num_slots_;
      step.out_slots.push_back(num_slots_++);
      last_use.push_back(steps_.size());  // unused values die right after their producer
    }
    steps_.push_back(std::move(step));
  }
  for (size_t s = 0; s < num_slots_; ++s) steps_[last_use[s]].free_after.push_back(s);
}

std::vector<at::Tensor> Executor::run(const std::vector<at::Tensor>& inputs, const TensorLookup& lookup,
                                      const ExecContext& ctx, const NodeObserver& observer) {
  if (stale()) throw RuntimeFailure("executor: the graph changed after the plan was made");
  if (inputs.size() != num_inputs_)
    throw RuntimeFailure("forward: the graph takes " + std::to_string(num_inputs_) + " input(s), got " +
                         std::to_string(inputs.size()));
  std::vector<at::Tensor> slots(num_slots_);
  std::vector<at::Tensor> result;
  std::vector<at::Tensor> args;
  size_t next_input = 0, live = 0;
  stats_ = ExecStats{};
  for (const Step& step : steps_) {
    const Node& n = *step.node;
    switch (n.opcode()) {
      case Opcode::Input: slots[step.out_slots[0]] = inputs[next_input++]; break;
      case Opcode::Param: slots[step.out_slots[0]] = lookup(n.target()); break;
      case Opcode::Output:
        for (size_t s : step.in_slots) result.push_back(slots[s]);
        break;
      case Opcode::Call: {
        args.clear();
        for (size_t s : step.in_slots) args.push_back(slots[s]);
        std::vector<at::Tensor> outs;
        try {
          outs = step.op->kernel(n, args, ctx);
          args.clear();  // drop our references before the slots are freed below
        } catch (const std::exception& e) {
          // One line for the user: ATen's message without its C++ backtrace.
          throw RuntimeFailure("node '" + n.name() + "' (" + n.target() + "): " + firstLine(errorText(e)));
        }
        if (outs.size() != step.out_slots.size())
          throw RuntimeFailure("op '" + n.target() + "' returned " + std::to_string(outs.size()) +
                               " tensors for node '" + n.name() + "' with " +
                               std::to_string(step.out_slots.size()) + " outputs");
        if (observer) observer(n, outs);
        for (size_t i = 0; i < outs.size(); ++i) slots[step.out_slots[i]] = std::move(outs[i]);
        break;
      }
    }
    live += step.out_slots.size();
    stats_.peak_live_values = std::max(stats_.peak_live_values, live);
    for (size_t s : step.free_after) {
      slots[s].reset();
      --live;
    }
  }
  args.clear();
  return result;
}

}  // namespace edgeopt::ir
