// The classification task: cross entropy (with label smoothing) on logits
// [N, classes]; train loss/top-1; val loss/top-1/top-5 in percent.
#include "tasks.h"

#include <edgeopt/data_loader.h>
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>

#include <ATen/ATen.h>

#include <algorithm>

namespace edgeopt {

at::Tensor crossEntropy(const at::Tensor& logits, const at::Tensor& labels, double label_smoothing) {
  return at::cross_entropy_loss(logits, labels, /*weight=*/{}, at::Reduction::Mean, /*ignore_index=*/-100,
                                label_smoothing);
}

namespace {

// A detection set has label -1 on every image: say what to change rather than
// letting cross entropy fail on an out-of-range target.
void requireLabels(const Batch& batch) {
  if (batch.labels.numel() > 0 && batch.labels.min().item<int64_t>() < 0)
    throw RuntimeFailure("the dataset has images without a class label (" + batch.sources.front() +
                         ", ...): classification needs one per image; for a detection set use task: detection");
}

class ClassificationTask : public TrainTask {
 public:
  explicit ClassificationTask(double label_smoothing) : label_smoothing_(label_smoothing) {}

  std::string name() const override { return "classification"; }
  std::string mainMetric() const override { return "top1"; }

  BatchLoss loss(const GraphModule&, const std::vector<at::Tensor>& outputs, const Batch& batch) override {
    requireLabels(batch);
    return {crossEntropy(outputs.at(0), batch.labels, label_smoothing_), {}};
  }

  void accumulate(const std::vector<at::Tensor>& outputs, const Batch& batch, const BatchLoss& loss,
                  TrainStats& stats) const override {
    const double n = static_cast<double>(batch.labels.size(0));
    const double correct = outputs.at(0).detach().argmax(1).eq(batch.labels).sum().item<double>();
    stats.add("loss", loss.value.item<double>(), n);
    stats.add("top1", 100.0 * correct / n, n);
  }

  bool metricsAreExampleMeans() const override { return true; }

  MetricRow evaluateOutputs(const GraphModule&, DataLoader& loader, const ForwardFn& forward,
                            int64_t max_batches) override {
    at::NoGradGuard no_grad;
    double loss_sum = 0, correct1 = 0, correct5 = 0;
    int64_t classes = 0, batches = 0, count = 0;
    loader.startEpoch(0);
    while (auto batch = loader.next()) {
      requireLabels(*batch);
      const at::Tensor logits = forward(batch->images).at(0);
      const at::Tensor& labels = batch->labels;
      classes = logits.size(1);
      loss_sum += at::cross_entropy_loss(logits, labels, {}, at::Reduction::Sum).item<double>();
      const int64_t k = std::min<int64_t>(5, classes);
      const at::Tensor hit = std::get<1>(logits.topk(k, 1)).eq(labels.unsqueeze(1));
      correct1 += hit.narrow(1, 0, 1).sum().item<double>();
      correct5 += hit.sum().item<double>();
      count += labels.size(0);
      if (max_batches > 0 && ++batches >= max_batches) break;
    }
    const double n = std::max<double>(1.0, static_cast<double>(count));
    return {{"loss", loss_sum / n},
            {"top1", 100.0 * correct1 / n},
            {"top5", classes >= 5 ? 100.0 * correct5 / n : 0.0},  // 0 with fewer than 5 classes
            {"images", static_cast<double>(count)}};
  }

 private:
  double label_smoothing_;
};

}  // namespace

std::unique_ptr<TrainTask> makeClassificationTask(const TaskOptions& options) {
  return std::make_unique<ClassificationTask>(options.label_smoothing);
}

}  // namespace edgeopt
