// Data parallel training steps (distributed.h) on the process's group.
#include <edgeopt/distributed.h>
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/train_task.h>

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

void sumAcrossRanks(TrainStats& stats) {
  ProcessGroup* group = world();
  if (!group) return;
  std::vector<double> values = stats.sums;
  values.push_back(stats.examples);
  values = group->sum(std::move(values));
  stats.examples = values.back();
  values.pop_back();
  stats.sums = std::move(values);
}

std::vector<std::pair<std::string, double>> combineShardMeans(std::vector<std::pair<std::string, double>> row,
                                                              const std::string& count_key) {
  ProcessGroup* group = world();
  if (!group) return row;
  double count = -1;
  for (const auto& [name, value] : row)
    if (name == count_key) count = value;
  if (count < 0) throw RuntimeFailure("combineShardMeans: the metrics have no '" + count_key + "' count");
  // Means weighted by their shard's count, summed, then divided by the total.
  std::vector<double> sums;
  for (const auto& [name, value] : row) sums.push_back(name == count_key ? value : value * count);
  sums = group->sum(std::move(sums));
  double total = 0;
  for (size_t i = 0; i < row.size(); ++i)
    if (row[i].first == count_key) total = sums[i];
  for (size_t i = 0; i < row.size(); ++i)
    row[i].second = row[i].first == count_key ? total : (total > 0 ? sums[i] / total : 0.0);
  return row;
}

}  // namespace edgeopt::dist
