#pragma once
// The trainer every training stage uses (train, qat, later fine-tuning after
// pruning): optimizer, LR schedule with warm-up, label smoothing, gradient
// clipping, evaluation every N epochs, metrics rows, resumable per-epoch
// progress (model + optimizer state), `best` and `last` checkpoints in the
// stage folder, and a clear stop on a NaN/Inf loss. The loss, the train
// statistics and the evaluation come from a TrainTask (train_task.h).
#include <edgeopt/options.h>
#include <edgeopt/train_task.h>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace edgeopt {

class GraphModule;
class StageContext;

// Declares the training options a stage accepts (task, epochs, optimizer, lr,
// keep, ...).
void addTrainOptions(OptionSchema& schema);

struct TrainConfig {
  std::string task = "classification";  // see train_task.h
  int64_t epochs = 1;
  std::string optimizer = "sgd";  // sgd | adamw
  double lr = 0.1;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 1e-4;
  bool decay_norm_and_bias = false;  // false: no weight decay on 1-D tensors (BN, biases)
  std::string schedule = "cosine";   // constant | step | multistep | cosine | onecycle
  int64_t step_size = 30;            // step
  std::vector<int64_t> milestones;   // multistep
  double gamma = 0.1;                // step, multistep
  double min_lr = 0.0;               // cosine floor
  double warmup_epochs = 0;          // linear warm-up, may be fractional
  double warmup_factor = 0.1;        // lr * factor at the start of warm-up
  double label_smoothing = 0.0;
  double clip_grad_norm = 0.0;  // 0 = off
  int64_t eval_every = 1;       // epochs; the last epoch is always evaluated
  int64_t max_batches = 0;      // per epoch, 0 = all (quick runs and tests)
  std::string keep = "last";    // last | best: the model the stage hands on
  bool keep_pruned_zeros = true;  // see prune/kept_zeros.h
  bool channels_last = true;      // NHWC weights and batches while training (edgeopt/memory_format.h)

  TaskOptions taskOptions() const;

  static TrainConfig fromOptions(const Options& o);
};

// LR at a point of training: `epoch` counts from 0 and may be fractional
// (epoch + batch / batches_per_epoch).
double learningRate(const TrainConfig& c, double epoch);

// The stage folder's checkpoints, written atomically after each epoch:
// `last.edgeopt` every epoch, `best.edgeopt` when an evaluation beats the
// best so far on the task's main metric (rows carry `best_epoch`).
inline constexpr const char* kLastCheckpoint = "last.edgeopt";
inline constexpr const char* kBestCheckpoint = "best.edgeopt";

class Trainer {
 public:
  struct Hooks {
    // Called before each epoch (QAT freezes BN and observers on a schedule).
    std::function<void(int64_t epoch, GraphModule&)> on_epoch_start;
    // Called after each optimizer step with the batch's images (QAT's
    // optional bias calibration runs them through the model again).
    std::function<void(const at::Tensor& images, GraphModule&)> on_batch_end;
    // The model as the stage would hand it on now, scored by the validation
    // after an epoch, so that score is the one the next stage sees (QAT: the
    // final weights' ranges, observers off). Unset: the training model.
    std::function<std::shared_ptr<GraphModule>(const GraphModule&)> inference_model;
  };

  Trainer(StageContext& ctx, TrainConfig config, Hooks hooks = {});
  ~Trainer();
  // Trains ctx.model() on the recipe's data; resumes from the stage's saved
  // progress when there is any. With keep: best, ctx.model() ends with the
  // best checkpoint's weights. Returns the last evaluation ("val_" names;
  // empty without a val split).
  MetricRow fit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgeopt
