// The `qat` stage: places quantizers (unless a calibrate stage did), then
// trains with the shared Trainer. At each epoch start the freeze schedule
// sets the BN and observer switches (buffers, so --resume restores them):
// BN statistics update until freeze_bn_epoch, observers until
// freeze_observers_epoch (defaults as TI's: epochs/2 - 1 and epochs/2 + 1).
//
//   - kind: qat
//     preset: WC8_AT8
//     epochs: 4
//     lr: 0.001
//     freeze_bn_epoch: 1          # optional
//     freeze_observers_epoch: 3   # optional
//     bias_calibration_factor: 0.05  # optional, default 0 (off)
//
// bias_calibration_factor > 0: after each optimizer step the batch runs
// again in eval mode, as the float network and quantized, and each layer's
// bias moves by factor * (float mean - quantized mean) per channel (TI's bias
// calibration, quant/quantize.h BiasCalibrator): it corrects the mean shift
// quantization causes, which gradient steps on the bias track only slowly.
// Two extra forwards per step.
#include "quant_plugin.h"

#include <edgeopt/graph_module.h>
#include <edgeopt/stage.h>
#include <edgeopt/trainer.h>

#include <spdlog/spdlog.h>

#include <optional>

namespace edgeopt::quant_plugin {
namespace {

class QatStage : public Stage {
 public:
  explicit QatStage(const Options& o) : options_(quantizeOptionsFrom(o)), config_(TrainConfig::fromOptions(o)) {
    schedule_ = quant::FreezeSchedule::defaults(config_.epochs);
    if (o.has("freeze_bn_epoch")) schedule_.bn_freeze_epoch = o.get<int64_t>("freeze_bn_epoch");
    if (o.has("freeze_observers_epoch")) schedule_.observer_freeze_epoch = o.get<int64_t>("freeze_observers_epoch");
    bias_factor_ = o.get<double>("bias_calibration_factor");
  }

  std::vector<std::string> plan(const GraphModule& model) const override {
    std::vector<std::string> lines = planLines(options_, model);
    lines.push_back(std::to_string(config_.epochs) + " QAT epochs, " + config_.optimizer + " lr " +
                    std::to_string(config_.lr) + "; BN frozen from epoch " + std::to_string(schedule_.bn_freeze_epoch) +
                    ", observers from epoch " + std::to_string(schedule_.observer_freeze_epoch) + " (0-based)" +
                    (bias_factor_ > 0 ? "; bias calibration factor " + std::to_string(bias_factor_).substr(0, 5) : ""));
    return lines;
  }

  void run(StageContext& ctx) override {
    prepareModel(ctx.model(), options_);
    Trainer::Hooks hooks;
    hooks.on_epoch_start = [this](int64_t epoch, GraphModule& model) {
      quant::applySchedule(model, schedule_, epoch);
      if (epoch == schedule_.bn_freeze_epoch) spdlog::info("qat: batch norm statistics frozen (epoch {})", epoch + 1);
      if (epoch == schedule_.observer_freeze_epoch) spdlog::info("qat: observers frozen (epoch {})", epoch + 1);
    };
    std::optional<quant::BiasCalibrator> biases;
    if (bias_factor_ > 0) {
      biases.emplace(ctx.model());
      hooks.on_batch_end = [this, &biases](const at::Tensor& images, GraphModule& model) {
        model.eval();  // running statistics, folded BN: the inference network's means
        last_shift_ = biases->step(images, bias_factor_);  // data parallel: the trainer keeps rank 0's result
        model.train();
      };
    }
    hooks.inference_model = [](const GraphModule& training) {
      std::shared_ptr<GraphModule> model = training.clone();
      makeInferenceModel(*model);
      return model;
    };
    Trainer(ctx, config_, hooks).fit();
    if (biases) spdlog::info("qat: bias calibration factor {:.3g}, last mean |bias shift| {:.3g}", bias_factor_, last_shift_);
    makeInferenceModel(ctx.model());
  }

  // The result is an inference model: ranges and BN statistics stay put,
  // weight ranges those of the final weights.
  static void makeInferenceModel(GraphModule& model) {
    quant::refreshWeightRanges(model);
    quant::setObserverMode(model, quant::ObserverMode::Off);
    quant::setBatchNormFrozen(model, true);
  }

 private:
  quant::QuantizeOptions options_;
  TrainConfig config_;
  quant::FreezeSchedule schedule_;
  double bias_factor_ = 0;
  double last_shift_ = 0;
};

}  // namespace

StageFactory qatStageFactory() {
  StageFactory f;
  f.summary = "quantization-aware training (fake-quantized weights/activations, BN folding simulated, freeze schedule)";
  addQuantizeOptions(f.options);
  addTrainOptions(f.options);
  f.options.add("freeze_bn_epoch", OptionType::Int).help("0-based epoch from which BN statistics are frozen (default epochs/2 - 1)");
  f.options.add("freeze_observers_epoch", OptionType::Int)
      .help("0-based epoch from which observers are frozen (default epochs/2 + 1)");
  f.options.add("bias_calibration_factor", OptionType::Float)
      .defaultValue(0.0)
      .range(0, 1)
      .help("after each step, move biases by this fraction of the float - quantized channel mean (0: off)");
  f.create = [](const Options& o) { return std::make_unique<QatStage>(o); };
  return f;
}

}  // namespace edgeopt::quant_plugin
