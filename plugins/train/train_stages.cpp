// The `train` stage (float training or fine-tuning on the recipe's data) and
// the `evaluate` stage (the task's metrics on the validation split, as a
// metrics row: top-1/top-5 for classification, COCO mAP for detection).
// On a quantized classifier `float_agreement: true` also scores each batch
// with every quantizer off and adds val_top1_agreement: the share of val
// images whose top-1 class is the same as the model's own float version's.
#include <edgeopt/data_loader.h>
#include <edgeopt/distributed.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/memory_format.h>
#include <edgeopt/plugin.h>
#include <edgeopt/quant/quantize.h>
#include <edgeopt/quant/sensitivity.h>
#include <edgeopt/stage.h>
#include <edgeopt/trainer.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <optional>

namespace {

class TrainStage : public edgeopt::Stage {
 public:
  explicit TrainStage(const edgeopt::Options& o) : config_(edgeopt::TrainConfig::fromOptions(o)) {}

  std::vector<std::string> plan(const edgeopt::GraphModule& model) const override {
    char line[200];
    std::snprintf(line, sizeof line, "%s: %ld epochs, %s lr %g (%s%s), weight decay %g%s; keeps the %s model",
                  config_.task.c_str(), static_cast<long>(config_.epochs), config_.optimizer.c_str(), config_.lr,
                  config_.schedule.c_str(), config_.warmup_epochs > 0 ? ", warm-up" : "", config_.weight_decay,
                  config_.label_smoothing > 0 ? ", label smoothing" : "", config_.keep.c_str());
    std::vector<std::string> lines{line};
    const std::string task = edgeopt::makeTrainTask(config_.taskOptions())->describeModel(model);
    if (!task.empty()) lines.push_back(task);
    return lines;
  }

  void run(edgeopt::StageContext& ctx) override { edgeopt::Trainer(ctx, config_).fit(); }

 private:
  edgeopt::TrainConfig config_;
};

class EvaluateStage : public edgeopt::Stage {
 public:
  explicit EvaluateStage(const edgeopt::Options& o)
      : max_batches_(o.get<int64_t>("max_batches")),
        channels_last_(o.get<std::string>("memory_format") == "channels_last"),
        float_agreement_(o.get<bool>("float_agreement")) {
    task_options_.task = o.get<std::string>("task");
  }

  std::vector<std::string> plan(const edgeopt::GraphModule& model) const override {
    const auto task = edgeopt::makeTrainTask(task_options_);
    const std::string described = task->describeModel(model);
    return {task->name() + " metrics on the val split" + (described.empty() ? "" : "; " + described) +
            (float_agreement_ ? "; top-1 agreement with the float model (every quantizer off)" : "")};
  }

  void run(edgeopt::StageContext& ctx) override {
    auto dataset = ctx.dataset();
    const edgeopt::Options& data = *ctx.dataOptions();
    if (dataset->size(edgeopt::Split::Val) == 0) throw edgeopt::RuntimeFailure("the dataset has no val split");
    const auto task = edgeopt::makeTrainTask(task_options_);
    // Data parallel: each rank scores its shard when the metrics combine
    // from shards (as the trainer's validation), else the whole split.
    edgeopt::LoaderOptions options = edgeopt::loaderOptions(data, edgeopt::Split::Val, ctx.seed());
    if (task->metricsAreExampleMeans()) {
      options.rank = edgeopt::dist::rank();
      options.world_size = edgeopt::dist::worldSize();
    }
    auto loader = edgeopt::makeDataLoader(dataset, edgeopt::Split::Val, data, options);
    // Channels-last weights are enough: oneDNN then runs every conv NHWC,
    // the first one converting the batch (bench_eval --nhwc: 1.25x img/s on
    // the main job's model). Restored when scoring ends.
    std::optional<edgeopt::ChannelsLastParameters> channels_last;
    if (channels_last_) channels_last.emplace(ctx.model());
    edgeopt::MetricRow scores;
    if (float_agreement_) {
      if (task->name() != "classification")
        throw edgeopt::RuntimeFailure("evaluate: float_agreement needs task: classification");
      if (!edgeopt::quant::isQuantized(ctx.model()))
        throw edgeopt::RuntimeFailure(
            "evaluate: float_agreement needs a quantized model; put this stage after a calibrate or qat stage");
      // One pass: the quantized outputs are scored as usual, the float ones
      // only compared with them (eval mode, observers off, switches restored).
      edgeopt::quant::FloatAgreement agreement(ctx.model());
      scores = task->evaluateOutputs(
          ctx.model(), *loader, [&](const at::Tensor& images) { return agreement.forward(images); }, max_batches_);
      // A mean over the same images as top-1: it combines across ranks as they do.
      scores.emplace_back("top1_agreement", agreement.percent());
    } else {
      scores = task->evaluate(ctx.model(), *loader, max_batches_);
    }
    channels_last.reset();
    if (task->metricsAreExampleMeans()) scores = edgeopt::dist::combineShardMeans(std::move(scores), "images");
    nlohmann::ordered_json row;
    std::string text;
    for (const auto& [name, value] : scores) {
      row["val_" + name] = value;
      text += fmt::format("{}{} {:.4g}", text.empty() ? "" : ", ", name, value);
    }
    spdlog::info("evaluate ({}): {}", task->name(), text);
    ctx.recordMetrics(row.dump());
  }

 private:
  int64_t max_batches_;
  bool channels_last_;
  bool float_agreement_;
  edgeopt::TaskOptions task_options_;
};

void registerTrain(edgeopt::PluginRegistrar& r) {
  edgeopt::StageFactory train;
  train.summary = "trains the model on the recipe's data (SGD/AdamW, schedules, warm-up, label smoothing)";
  edgeopt::addTrainOptions(train.options);
  train.create = [](const edgeopt::Options& o) { return std::make_unique<TrainStage>(o); };
  r.add<edgeopt::Stage>("train", std::move(train));

  edgeopt::StageFactory evaluate;
  evaluate.summary = "the task's metrics on the validation split (top-1/top-5 and loss, or COCO mAP)";
  evaluate.options.add("task", edgeopt::OptionType::String)
      .defaultValue(std::string("classification"))
      .choices(edgeopt::trainTaskNames());
  evaluate.options.add("max_batches", edgeopt::OptionType::Int).defaultValue(int64_t{0}).atLeast(0);
  evaluate.options.add("memory_format", edgeopt::OptionType::String)
      .defaultValue(std::string("channels_last"))
      .choices({"channels_last", "contiguous"})
      .help("layout of the 4-D weights while scoring (as the train stage's option)");
  evaluate.options.add("float_agreement", edgeopt::OptionType::Bool)
      .defaultValue(false)
      .help(
          "quantized classifier: also run each batch with every quantizer off and report val_top1_agreement, the "
          "% of images whose top-1 class is the float model's");
  evaluate.create = [](const edgeopt::Options& o) { return std::make_unique<EvaluateStage>(o); };
  r.add<edgeopt::Stage>("evaluate", std::move(evaluate));
}

}  // namespace

EDGEOPT_PLUGIN("0.1.0", "training and evaluation stages", registerTrain)
