// Training options and the learning-rate schedule.
#include <edgeopt/trainer.h>

#include <algorithm>
#include <cmath>

namespace edgeopt {

void addTrainOptions(OptionSchema& s) {
  s.add("task", OptionType::String).defaultValue(std::string("classification")).choices(trainTaskNames())
      .help("what the loss and the evaluation are (see train_task.h)");
  s.add("epochs", OptionType::Int).defaultValue(int64_t{1}).range(1, 100000);
  s.add("optimizer", OptionType::String).defaultValue(std::string("sgd")).choices({"sgd", "adamw"});
  s.add("lr", OptionType::Float).defaultValue(0.1).range(0, 100).help("peak learning rate");
  s.add("momentum", OptionType::Float).defaultValue(0.9).range(0, 1).help("SGD momentum");
  s.add("nesterov", OptionType::Bool).defaultValue(false);
  s.add("weight_decay", OptionType::Float).defaultValue(1e-4).atLeast(0);
  s.add("decay_norm_and_bias", OptionType::Bool).defaultValue(false)
      .help("apply weight decay to 1-D tensors (BN weights, biases) too");
  s.add("schedule", OptionType::String).defaultValue(std::string("cosine"))
      .choices({"constant", "step", "multistep", "cosine", "onecycle"});
  s.add("step_size", OptionType::Int).defaultValue(int64_t{30}).atLeast(1).help("epochs per step (step)");
  s.add("milestones", OptionType::IntList).help("epochs where the lr drops (multistep)");
  s.add("gamma", OptionType::Float).defaultValue(0.1).range(0, 1).help("lr factor per drop (step, multistep)");
  s.add("min_lr", OptionType::Float).defaultValue(0.0).atLeast(0).help("floor of the cosine schedule");
  s.add("warmup_epochs", OptionType::Float).defaultValue(0.0).atLeast(0).help("linear warm-up, may be fractional");
  s.add("warmup_factor", OptionType::Float).defaultValue(0.1).range(0, 1).help("lr factor at the start of warm-up");
  s.add("label_smoothing", OptionType::Float).defaultValue(0.0).range(0, 1);
  s.add("clip_grad_norm", OptionType::Float).defaultValue(0.0).atLeast(0).help("0 = no clipping");
  s.add("eval_every", OptionType::Int).defaultValue(int64_t{1}).atLeast(1).help("epochs between evaluations");
  s.add("max_batches", OptionType::Int).defaultValue(int64_t{0}).atLeast(0).help("per epoch; 0 = all");
  s.add("keep_pruned_zeros", OptionType::Bool)
      .defaultValue(true)
      .help("weights a prune stage left sparse keep their zeros (false: training may regrow them)");
  s.add("memory_format", OptionType::String)
      .defaultValue(std::string("channels_last"))
      .choices({"channels_last", "contiguous"})
      .help("layout of 4-D weights and batches while training (channels_last: oneDNN's NHWC path, faster on CPU)");
  s.add("keep", OptionType::String).defaultValue(std::string("last")).choices({"last", "best"})
      .help("the model handed to the next stage: the last epoch's or the best evaluated one's");
}

TrainConfig TrainConfig::fromOptions(const Options& o) {
  TrainConfig c;
  c.task = o.get<std::string>("task");
  c.epochs = o.get<int64_t>("epochs");
  c.optimizer = o.get<std::string>("optimizer");
  c.lr = o.get<double>("lr");
  c.momentum = o.get<double>("momentum");
  c.nesterov = o.get<bool>("nesterov");
  c.weight_decay = o.get<double>("weight_decay");
  c.decay_norm_and_bias = o.get<bool>("decay_norm_and_bias");
  c.schedule = o.get<std::string>("schedule");
  c.step_size = o.get<int64_t>("step_size");
  c.milestones = o.getOr<std::vector<int64_t>>("milestones", {});
  c.gamma = o.get<double>("gamma");
  c.min_lr = o.get<double>("min_lr");
  c.warmup_epochs = o.get<double>("warmup_epochs");
  c.warmup_factor = o.get<double>("warmup_factor");
  c.label_smoothing = o.get<double>("label_smoothing");
  c.clip_grad_norm = o.get<double>("clip_grad_norm");
  c.eval_every = o.get<int64_t>("eval_every");
  c.max_batches = o.get<int64_t>("max_batches");
  c.keep_pruned_zeros = o.get<bool>("keep_pruned_zeros");
  c.channels_last = o.get<std::string>("memory_format") == "channels_last";
  c.keep = o.get<std::string>("keep");
  if (c.schedule == "multistep" && c.milestones.empty())
    o.fail("schedule", "multistep needs milestones: [epoch, ...]");
  if (c.nesterov && (c.optimizer != "sgd" || c.momentum <= 0))
    o.fail("nesterov", "needs optimizer: sgd with momentum > 0");
  return c;
}

TaskOptions TrainConfig::taskOptions() const {
  TaskOptions t;
  t.task = task;
  t.label_smoothing = label_smoothing;
  return t;
}

double learningRate(const TrainConfig& c, double epoch) {
  constexpr double kPi = 3.14159265358979323846;
  const double total = static_cast<double>(c.epochs);
  double lr = c.lr;
  if (c.schedule == "step") {
    lr *= std::pow(c.gamma, std::floor(epoch / static_cast<double>(c.step_size)));
  } else if (c.schedule == "multistep") {
    int drops = 0;
    for (int64_t m : c.milestones) drops += epoch >= static_cast<double>(m);
    lr *= std::pow(c.gamma, drops);
  } else if (c.schedule == "cosine") {
    lr = c.min_lr + (c.lr - c.min_lr) * 0.5 * (1 + std::cos(kPi * std::min(epoch, total) / total));
  } else if (c.schedule == "onecycle") {
    // torch.optim.lr_scheduler.OneCycleLR's defaults: 30 % rising from lr/25,
    // then cosine down to lr/25/1e4.
    const double rise = 0.3 * total, initial = c.lr / 25, final_lr = initial / 1e4;
    if (epoch < rise) return initial + (c.lr - initial) * 0.5 * (1 - std::cos(kPi * epoch / rise));
    return final_lr + (c.lr - final_lr) * 0.5 * (1 + std::cos(kPi * (epoch - rise) / (total - rise)));
  }
  if (epoch < c.warmup_epochs)
    lr *= c.warmup_factor + (1 - c.warmup_factor) * epoch / c.warmup_epochs;
  return lr;
}

}  // namespace edgeopt
