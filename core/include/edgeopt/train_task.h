#pragma once
// What a training run optimizes and how it is scored, apart from the loop
// itself (trainer.h): the loss of a batch, the running train statistics and
// the evaluation on a loader. The Trainer, the `evaluate` stage and QAT all go
// through one TrainTask, chosen by the stage option `task:` (and edgeopt-run
// --onnxruntime scores an export's outputs with it):
//
//   classification  cross entropy (label smoothing); train loss/top-1;
//                   val loss/top-1/top-5 — main metric top1
//   detection       YOLOv5 loss on the model's raw head maps (box/obj/cls);
//                   val COCO mAP@[.5:.95] and mAP@.5 after decoding + NMS —
//                   main metric map
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace edgeopt {

struct Batch;
class DataLoader;
class GraphModule;

// The outputs of a model for a batch of images (the graph's outputs, in order).
using ForwardFn = std::function<std::vector<at::Tensor>(const at::Tensor& images)>;

// An ordered list of named numbers: a metrics row or a part of one.
using MetricRow = std::vector<std::pair<std::string, double>>;
// The value called `name`; RuntimeFailure naming the row's keys when absent.
double metricValue(const MetricRow& row, const std::string& name);

// The loss of one training batch.
struct BatchLoss {
  at::Tensor value;  // scalar with grad: what backward() runs on
  MetricRow parts;   // named components (detached), e.g. box/obj/cls
};

// Running training statistics of an epoch, kept as example-weighted sums (not
// means) so that data-parallel ranks can add theirs before dividing.
struct TrainStats {
  std::vector<std::string> names;  // "loss" first
  std::vector<double> sums;
  double examples = 0;  // counted by the trainer, batch by batch

  // Adds `value` (a per-example mean over `n` examples) to `name`.
  void add(const std::string& name, double value, double n);
  // Each statistic's mean, names prefixed (prefix "train_" -> train_loss, ...).
  MetricRow means(const std::string& prefix = "") const;
};

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  virtual std::string name() const = 0;
  // Loss of a batch given the model's outputs on batch.images, in train mode.
  // The model is passed for what the loss reads from it (detection anchors).
  virtual BatchLoss loss(const GraphModule& model, const std::vector<at::Tensor>& outputs, const Batch& batch) = 0;
  // Adds a trained batch's per-example means to the epoch's statistics
  // (loss first); the trainer counts the examples.
  virtual void accumulate(const std::vector<at::Tensor>& outputs, const Batch& batch, const BatchLoss& loss,
                          TrainStats& stats) const = 0;
  // Scores the model on `loader` (eval mode, no grad; the model's mode is
  // restored): ordered metrics without a prefix, including "images".
  // max_batches > 0 stops early (quick runs, tests).
  MetricRow evaluate(GraphModule& model, DataLoader& loader, int64_t max_batches = 0);
  // The same scoring of outputs that `forward` gives for the loader's images:
  // the model's own forward (evaluate), or another runtime's on the model's
  // export (onnxruntime_eval.h), so both are scored by one piece of code.
  // `model` is read for what scoring needs besides the outputs (anchors).
  virtual MetricRow evaluateOutputs(const GraphModule& model, DataLoader& loader, const ForwardFn& forward,
                                    int64_t max_batches = 0) = 0;
  // True when every evaluate() metric but "images" is a mean over the scored
  // examples: data-parallel ranks then each score a shard of the split and
  // combine (distributed.h). Otherwise (mAP) every rank scores all of it.
  virtual bool metricsAreExampleMeans() const { return false; }
  // The evaluate() metric that ranks checkpoints; higher is better.
  virtual std::string mainMetric() const = 0;
  // For --dry-run: checks that `model` suits the task (RuntimeFailure saying
  // what is missing otherwise) and describes what the task reads from it.
  virtual std::string describeModel(const GraphModule& model) const {
    (void)model;
    return "";
  }
};

struct TaskOptions {
  std::string task = "classification";  // classification | detection
  double label_smoothing = 0.0;         // classification
};

// The task named by options.task; RuntimeFailure for an unknown name.
std::unique_ptr<TrainTask> makeTrainTask(const TaskOptions& options);
// The task names makeTrainTask accepts (for option schemas).
std::vector<std::string> trainTaskNames();

// Cross entropy with label smoothing, as torch.nn.functional.cross_entropy.
at::Tensor crossEntropy(const at::Tensor& logits, const at::Tensor& labels, double label_smoothing);

}  // namespace edgeopt
