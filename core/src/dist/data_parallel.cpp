// Data parallel training steps (distributed.h) on the process's group.
#include <edgeopt/distributed.h>
#include <edgeopt/graph_module.h>

#include <ATen/ATen.h>

namespace edgeopt::dist {
namespace {

std::vector<at::Tensor> tensorsOf(const GraphModule::NamedTensors& named) {
  std::vector<at::Tensor> out;
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}

}  // namespace

void broadcastState(GraphModule& model) {
  ProcessGroup* group = world();
  if (!group) return;
  at::NoGradGuard no_grad;  // parameters are leaves that require grad: copy into them without recording
  group->broadcast(tensorsOf(model.stateDict()), /*root=*/0);
}

void broadcastBuffers(GraphModule& model) {
  ProcessGroup* group = world();
  if (!group) return;
  at::NoGradGuard no_grad;
  group->broadcast(tensorsOf(model.namedBuffers()), /*root=*/0);
}

void averageGradients(const std::vector<at::Tensor>& parameters) {
  ProcessGroup* group = world();
  if (!group) return;
  std::vector<at::Tensor> grads;
  for (const auto& p : parameters) {
    if (!p.requires_grad()) continue;
    // A parameter unused on this rank's batch still takes part, as zeros:
    // every rank must build the same buckets or the all-reduces mismatch.
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    grads.push_back(p.grad());
  }
  group->allreduceBucketed(grads, 1.0 / static_cast<double>(group->size()));
}

}  // namespace edgeopt::dist
