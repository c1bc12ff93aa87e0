// The training loop shared by the training stages.
#include "progress.h"

#include <edgeopt/data_loader.h>
#include <edgeopt/distributed.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/interrupt.h>
#include <edgeopt/memory_format.h>
#include <edgeopt/prune/kept_zeros.h>
#include <edgeopt/stage.h>
#include <edgeopt/trainer.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/types.h>  // clip_grad.h needs torch::Tensor declared first
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <optional>

namespace fs = std::filesystem;
using nlohmann::json;

namespace edgeopt {

namespace {

// EDGEOPT_FAULT_KILL=EPOCH:BATCH kills the process (SIGKILL, as `kill -9`)
// after that batch (both 1-based): the resume tests use it to interrupt a
// run mid-epoch at an exact point. In a distributed run,
// EDGEOPT_FAULT_KILL_RANK=R limits it to rank R (a rank that dies alone).
struct FaultInjection {
  int64_t epoch = -1, batch = -1;
  int signal = SIGKILL;  // EDGEOPT_FAULT_SIGNAL: 2 plays Ctrl-C
};

FaultInjection faultInjection() {
  FaultInjection f;
  if (const char* r = std::getenv("EDGEOPT_FAULT_KILL_RANK"); r && std::atoi(r) != dist::rank()) return f;
  if (const char* v = std::getenv("EDGEOPT_FAULT_KILL")) std::sscanf(v, "%ld:%ld", &f.epoch, &f.batch);
  if (const char* s = std::getenv("EDGEOPT_FAULT_SIGNAL")) f.signal = std::atoi(s);
  return f;
}

}  // namespace

struct Trainer::Impl {
  StageContext& ctx;
  TrainConfig config;
  Hooks hooks;
  std::unique_ptr<torch::optim::Optimizer> optimizer;

  // Two groups, as torchvision's references do: no weight decay on 1-D tensors
  // (BN weights, biases) unless asked.
  void makeOptimizer(GraphModule& model) {
    std::vector<at::Tensor> decay, no_decay;
    for (const auto& [name, t] : model.namedParameters()) {
      if (!t.requires_grad()) continue;
      (t.dim() <= 1 && !config.decay_norm_and_bias ? no_decay : decay).push_back(t);
    }
    const double wd = config.weight_decay;
    if (config.optimizer == "adamw") {
      std::vector<torch::optim::OptimizerParamGroup> groups;
      groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(config.lr));
      groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(config.lr));
      static_cast<torch::optim::AdamWOptions&>(groups[0].options()).weight_decay(wd);
      static_cast<torch::optim::AdamWOptions&>(groups[1].options()).weight_decay(0);
      optimizer = std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(config.lr));
    } else {
      auto options = [&](double decay_value) {
        return std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(config.lr)
                                                              .momentum(config.momentum)
                                                              .nesterov(config.nesterov)
                                                              .weight_decay(decay_value));
      };
      std::vector<torch::optim::OptimizerParamGroup> groups;
      groups.emplace_back(decay, options(wd));
      groups.emplace_back(no_decay, options(0));
      optimizer = std::make_unique<torch::optim::SGD>(std::move(groups), torch::optim::SGDOptions(config.lr));
    }
  }

  void setLearningRate(double lr) {
    for (auto& group : optimizer->param_groups()) group.options().set_lr(lr);
  }

  std::string optimizerFile(int64_t epoch) {
    return ctx.stageDir() + "/optimizer-epoch-" + std::to_string(epoch) + ".pt";
  }

  void saveOptimizer(const std::string& path) {
    const std::string tmp = path + ".tmp";
    torch::save(*optimizer, tmp);
    fs::rename(tmp, path);
  }
};

Trainer::Trainer(StageContext& ctx, TrainConfig config, Hooks hooks)
    : impl_(new Impl{ctx, std::move(config), std::move(hooks), nullptr}) {}
Trainer::~Trainer() = default;

namespace {

void putRow(nlohmann::ordered_json& row, const MetricRow& values) {
  for (const auto& [name, value] : values) row[name] = value;
}

std::string rowText(const MetricRow& values) {
  std::string text;
  for (const auto& [name, value] : values) text += fmt::format("{}{} {:.4g}", text.empty() ? "" : " ", name, value);
  return text;
}

MetricRow prefixed(const MetricRow& values, const std::string& prefix) {
  MetricRow out;
  for (const auto& [name, value] : values) out.emplace_back(prefix + name, value);
  return out;
}

}  // namespace

MetricRow Trainer::fit() {
  Impl& I = *impl_;
  const TrainConfig& c = I.config;
  StageContext& ctx = I.ctx;
  GraphModule& model = ctx.model();
  auto dataset = ctx.dataset();
  const Options& data = *ctx.dataOptions();
  std::unique_ptr<TrainTask> task = makeTrainTask(c.taskOptions());
  // Data parallel (distributed.h): each rank takes its shard of the data, and
  // batch_size is per rank, as in torchrun scripts (global batch =
  // batch_size x ranks). Validation is sharded when the task's metrics can be
  // combined from shards; otherwise every rank scores the whole split.
  LoaderOptions train_options = loaderOptions(data, Split::Train, ctx.seed());
  train_options.rank = dist::rank();
  train_options.world_size = dist::worldSize();
  auto train = makeDataLoader(dataset, Split::Train, data, train_options);
  std::unique_ptr<DataLoader> val;
  if (dataset->size(Split::Val) > 0) {
    LoaderOptions val_options = loaderOptions(data, Split::Val, ctx.seed());
    if (task->metricsAreExampleMeans()) {
      val_options.rank = dist::rank();
      val_options.world_size = dist::worldSize();
    }
    val = makeDataLoader(dataset, Split::Val, data, val_options);
  }
  if (!val && c.keep == "best")
    throw RuntimeFailure("keep: best needs evaluations, but the dataset has no val split; use keep: last");
  // Before the optimizer is made, so momentum buffers take the same layout.
  std::optional<ChannelsLastParameters> channels_last;
  if (c.channels_last) {
    channels_last.emplace(model);
    spdlog::debug("training in the channels-last layout ({} 4-D weights converted)", channels_last->converted());
  }
  I.makeOptimizer(model);

  int64_t start = 0, best_epoch = 0;
  double best_value = 0;
  std::string previous_optimizer_file;
  if (auto resumed = ctx.resumedProgress()) {
    const json state = json::parse(*resumed);
    start = state.at("epoch").get<int64_t>();
    previous_optimizer_file = state.at("optimizer").get<std::string>();
    best_epoch = state.value("best_epoch", int64_t{0});
    best_value = state.value("best_value", 0.0);
    torch::load(*I.optimizer, previous_optimizer_file);
    spdlog::info("resuming training after epoch {}", start);
  }
  dist::broadcastState(model);  // every replica starts from rank 0's weights and buffers
  std::optional<prune::KeptZeros> kept_zeros;
  if (c.keep_pruned_zeros) {
    kept_zeros.emplace(model);
    if (kept_zeros->tensors() > 0)
      spdlog::info("keeping the {} zeros of {} pruned weights", kept_zeros->zeros(), kept_zeros->tensors());
  }

  const size_t per_epoch = c.max_batches > 0 ? std::min<size_t>(train->batchesPerEpoch(), c.max_batches)
                                             : train->batchesPerEpoch();
  const std::string main_metric = "val_" + task->mainMetric();
  MetricRow last;
  const FaultInjection fault = faultInjection();
  for (int64_t epoch = start; epoch < c.epochs; ++epoch) {
    // Random ops (dropout, stochastic depth) draw from a generator seeded per
    // epoch, so a run resumed at an epoch boundary repeats them exactly.
    at::manual_seed(ctx.seed() * 1000003ULL + static_cast<uint64_t>(epoch));
    if (I.hooks.on_epoch_start) I.hooks.on_epoch_start(epoch, model);
    model.train();
    train->startEpoch(epoch);
    Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(c.epochs), per_epoch);
    const auto t0 = std::chrono::steady_clock::now();
    TrainStats stats;
    size_t batch_index = 0;
    double lr = 0;
    while (batch_index < per_epoch) {
      auto batch = train->next();
      if (!batch) break;
      lr = learningRate(c, static_cast<double>(epoch) + static_cast<double>(batch_index) / per_epoch);
      I.setLearningRate(lr);
      dist::broadcastBuffers(model);  // as torch DDP's broadcast_buffers: BN statistics follow rank 0
      const std::vector<at::Tensor> outputs = model.forward({toTrainingLayout(batch->images, c.channels_last)});
      const BatchLoss loss = task->loss(model, outputs, *batch);
      const double loss_value = loss.value.item<double>();
      if (!std::isfinite(loss_value))
        throw RuntimeFailure("the loss is " + std::string(std::isnan(loss_value) ? "NaN" : "infinite") +
                             " at epoch " + std::to_string(epoch + 1) + ", batch " + std::to_string(batch_index + 1) +
                             "; the last good checkpoint is kept (resume with --resume after lowering lr)");
      I.optimizer->zero_grad();
      loss.value.backward();
      dist::averageGradients(model.parameters());
      if (c.clip_grad_norm > 0) torch::nn::utils::clip_grad_norm_(model.parameters(), c.clip_grad_norm);
      I.optimizer->step();
      if (kept_zeros) kept_zeros->apply();
      if (I.hooks.on_batch_end) {
        I.hooks.on_batch_end(batch->images, model);
        // A hook may change the model from this rank's batch (QAT's bias
        // calibration): rank 0's result is kept everywhere, replicas stay equal.
        dist::broadcastState(model);
      }
      task->accumulate(outputs, *batch, loss, stats);
      stats.examples += static_cast<double>(batch->images.size(0));
      ++batch_index;
      progress.update(batch_index, stats.means(), static_cast<int64_t>(stats.examples));
      if (fault.epoch == epoch + 1 && fault.batch == static_cast<int64_t>(batch_index)) ::raise(fault.signal);
      // Ctrl-C between batches: the epoch's batches so far are dropped, and
      // --resume repeats the epoch from the progress saved after the last one.
      if (interruptRequested())
        throw Interrupted("interrupted at batch " + std::to_string(batch_index) + " of epoch " +
                          std::to_string(epoch + 1));
    }
    progress.finish();
    dist::sumAcrossRanks(stats);  // the epoch's statistics over every rank's shard
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::ordered_json row = {{"epoch", epoch + 1}, {"lr", lr}};
    const MetricRow train_means = stats.means("train_");
    putRow(row, train_means);
    row["images_per_sec"] = seconds > 0 ? stats.examples / seconds : 0.0;
    row["seconds"] = seconds;
    row["skipped"] = train->skippedThisEpoch();
    if (train->skippedThisEpoch())
      spdlog::warn("epoch {}: skipped {} unreadable examples", epoch + 1, train->skippedThisEpoch());
    const bool evaluate = val && ((epoch + 1) % c.eval_every == 0 || epoch + 1 == c.epochs);
    if (evaluate) {
      const std::shared_ptr<GraphModule> inference = I.hooks.inference_model ? I.hooks.inference_model(model) : nullptr;
      MetricRow scores = task->evaluate(inference ? *inference : model, *val, c.max_batches);
      if (task->metricsAreExampleMeans()) scores = dist::combineShardMeans(std::move(scores), "images");
      last = prefixed(scores, "val_");
      putRow(row, last);
      const double value = metricValue(last, main_metric);
      if (best_epoch == 0 || value > best_value) {
        best_epoch = epoch + 1;
        best_value = value;
        if (dist::isMainProcess()) model.save(ctx.stageDir() + "/" + kBestCheckpoint);
      }
      row["best_epoch"] = best_epoch;
      spdlog::info("epoch {}: {} | {} | best {} {:.4g} (epoch {})", epoch + 1, rowText(train_means), rowText(last),
                   main_metric, best_value, best_epoch);
    }
    const std::string optimizer_file = I.optimizerFile(epoch + 1);
    if (dist::isMainProcess()) {  // replicas are identical: rank 0 writes for all
      model.save(ctx.stageDir() + "/" + kLastCheckpoint);
      I.saveOptimizer(optimizer_file);
    }
    ctx.saveProgress(json{{"epoch", epoch + 1},
                          {"optimizer", optimizer_file},
                          {"best_epoch", best_epoch},
                          {"best_value", best_value}}
                         .dump(),
                     row.dump());
    if (!previous_optimizer_file.empty() && dist::isMainProcess()) fs::remove(previous_optimizer_file);
    previous_optimizer_file = optimizer_file;
  }
  if (c.keep == "best" && best_epoch > 0) {
    if (dist::world()) dist::world()->barrier();  // rank 0 has written the best checkpoint
    model.loadStateDict(GraphModule::load(ctx.stageDir() + "/" + kBestCheckpoint)->stateDict());
    spdlog::info("keeping the best model: epoch {} ({} {:.4g})", best_epoch, main_metric, best_value);
  }
  return last;
}

}  // namespace edgeopt
