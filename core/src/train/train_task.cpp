// The task table and the metric containers shared by every task.
#include "tasks.h"

#include <edgeopt/chunked_forward.h>
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <functional>

namespace edgeopt {

namespace {

using TaskMaker = std::function<std::unique_ptr<TrainTask>(const TaskOptions&)>;

const std::vector<std::pair<std::string, TaskMaker>>& taskTable() {
  static const std::vector<std::pair<std::string, TaskMaker>> table = {
      {"classification", makeClassificationTask},
      {"detection", makeDetectionTask},
  };
  return table;
}

}  // namespace

MetricRow TrainTask::evaluate(GraphModule& model, DataLoader& loader, int64_t max_batches) {
  // Eval mode for the scoring, the caller's mode back afterwards (also on a throw).
  struct ModeRestore {
    GraphModule& model;
    bool was_training;
    ~ModeRestore() { model.train(was_training); }
  } restore{model, model.isTraining()};
  model.eval();
  at::NoGradGuard no_grad;
  // Large batches run in cache-sized pieces (chunked_forward.h); the rows
  // are worked out again only when the batch shape changes.
  std::vector<int64_t> shape;
  int64_t rows = 0;
  return evaluateOutputs(
      model, loader,
      [&](const at::Tensor& images) {
        if (images.sizes().vec() != shape) {
          shape = images.sizes().vec();
          rows = evaluationRows(model, images);
        }
        return forwardInPieces(model, images, rows);
      },
      max_batches);
}

double metricValue(const MetricRow& row, const std::string& name) {
  for (const auto& [key, value] : row)
    if (key == name) return value;
  std::string keys;
  for (const auto& [key, value] : row) keys += (keys.empty() ? "" : ", ") + key;
  throw RuntimeFailure("no metric '" + name + "' among: " + keys);
}

void TrainStats::add(const std::string& name, double value, double n) {
  auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    names.push_back(name);
    sums.push_back(0);
    it = names.end() - 1;
  }
  sums[static_cast<size_t>(it - names.begin())] += value * n;
}

MetricRow TrainStats::means(const std::string& prefix) const {
  MetricRow row;
  for (size_t i = 0; i < names.size(); ++i) row.emplace_back(prefix + names[i], examples > 0 ? sums[i] / examples : 0.0);
  return row;
}

std::vector<std::string> trainTaskNames() {
  std::vector<std::string> names;
  for (const auto& entry : taskTable()) names.push_back(entry.first);
  return names;
}

std::unique_ptr<TrainTask> makeTrainTask(const TaskOptions& options) {
  for (const auto& [name, make] : taskTable())
    if (name == options.task) return make(options);
  throw RuntimeFailure("unknown task '" + options.task + "'");
}

}  // namespace edgeopt
