#pragma once
// The trainer every training stage uses (train, qat, later fine-tuning after
// pruning): optimizer, LR schedule with warm-up, label smoothing, gradient
// clipping, evaluation every N epochs, metrics rows, resumable per-epoch
// progress (model + optimizer state), and a clear stop on a NaN/Inf loss.
#include <edgeopt/options.h>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace edgeopt {

class DataLoader;
class GraphModule;
class StageContext;

// Declares the training options a stage accepts (epochs, optimizer, lr, ...).
void addTrainOptions(OptionSchema& schema);

struct TrainConfig {
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

  static TrainConfig fromOptions(const Options& o);
};

// LR at a point of training: `epoch` counts from 0 and may be fractional
// (epoch + batch / batches_per_epoch).
double learningRate(const TrainConfig& c, double epoch);

struct EvalResult {
  double loss = 0;
  double top1 = 0;  // percent
  double top5 = 0;  // percent (0 when fewer than 5 classes)
  int64_t count = 0;
};

// Classification evaluation in eval mode (top-1/top-5 in percent).
EvalResult evaluateClassifier(GraphModule& model, DataLoader& loader, int64_t max_batches = 0);
// Cross entropy with label smoothing, as torch.nn.functional.cross_entropy.
at::Tensor crossEntropy(const at::Tensor& logits, const at::Tensor& labels, double label_smoothing);

class Trainer {
 public:
  struct Hooks {
    // Called before each epoch (QAT freezes BN and observers on a schedule).
    std::function<void(int64_t epoch, GraphModule&)> on_epoch_start;
  };

  Trainer(StageContext& ctx, TrainConfig config, Hooks hooks = {});
  ~Trainer();
  // Trains ctx.model() on the recipe's data; resumes from the stage's saved
  // progress when there is any. Returns the last evaluation.
  EvalResult fit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgeopt
