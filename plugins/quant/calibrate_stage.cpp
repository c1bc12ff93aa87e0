// The `calibrate` stage (post-training quantization, TI's PTC): places
// quantizers, runs `batches` training batches through the model in eval mode
// with no weight updates while the observers record activation ranges
// (histogram with MSE range search by default), optionally calibrates biases,
// then freezes the observers.
//
//   - kind: calibrate
//     preset: WC8_AT8
//     batches: 50
//     observer: histogram          # minmax | moving_average | histogram
//     range_search: mse            # percentile (clip shrink_percentile % at each end) | mse
//     bias_calibration: true
//     bias_calibration_factor: 0.1
#include "quant_plugin.h"

#include <edgeopt/data_loader.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/stage.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace edgeopt::quant_plugin {
namespace {

class CalibrateStage : public Stage {
 public:
  explicit CalibrateStage(const Options& o)
      : options_(quantizeOptionsFrom(o)),
        batches_(o.get<int64_t>("batches")),
        bias_calibration_(o.get<bool>("bias_calibration")),
        bias_factor_(o.get<double>("bias_calibration_factor")) {
    quant::TensorQuant& a = options_.scheme.activation;
    if (!a.fixed_range) {
      a.observer = quant::observerKindFromString(o.get<std::string>("observer"));
      a.range_search = o.get<std::string>("range_search") == "mse" ? quant::RangeSearch::Mse : quant::RangeSearch::Percentile;
    }
  }

  std::vector<std::string> plan(const GraphModule& model) const override {
    std::vector<std::string> lines = planLines(options_, model);
    lines.push_back(std::to_string(batches_) + " calibration batches (no weight updates), " +
                    (bias_calibration_ ? "bias calibration factor " + std::to_string(bias_factor_).substr(0, 5)
                                       : std::string("no bias calibration")));
    return lines;
  }

  void run(StageContext& ctx) override {
    GraphModule& model = ctx.model();
    prepareModel(model, options_);
    model.eval();
    quant::setBatchNormFrozen(model, true);
    quant::setObserverMode(model, quant::ObserverMode::Always);
    auto dataset = ctx.dataset();
    const Options& data = *ctx.dataOptions();
    auto loader = makeDataLoader(dataset, Split::Train, data, loaderOptions(data, Split::Train, ctx.seed()));
    at::NoGradGuard no_grad;
    quant::BiasCalibrator biases(model);
    int64_t done = 0, epoch = 0;
    double shift = 0;
    loader->startEpoch(epoch);
    while (done < batches_) {
      auto batch = loader->next();
      if (!batch) {
        if (done == 0) throw RuntimeFailure("calibrate: the training split gave no batches");
        loader->startEpoch(++epoch);
        continue;
      }
      if (bias_calibration_) shift = biases.step(batch->images, bias_factor_);
      else model.forward({batch->images});
      ++done;
    }
    quant::finalizeObservers(model);
    quant::setObserverMode(model, quant::ObserverMode::Off);
    const quant::QuantizerCounts c = quant::countQuantizers(model);
    spdlog::info("calibrate: {} batches, observers frozen{}", done,
                 bias_calibration_ ? ", last mean |bias shift| " + std::to_string(shift) : std::string());
    ctx.recordMetrics(nlohmann::json{{"calibration_batches", done},
                                     {"weight_quantizers", c.weight},
                                     {"activation_quantizers", c.activation},
                                     {"last_mean_bias_shift", shift}}
                          .dump());
  }

 private:
  quant::QuantizeOptions options_;
  int64_t batches_;
  bool bias_calibration_;
  double bias_factor_;
};

}  // namespace

StageFactory calibrateStageFactory() {
  StageFactory f;
  f.summary = "post-training quantization: observers on N batches (no weight updates), bias calibration, freeze";
  addQuantizeOptions(f.options);
  f.options.add("batches", OptionType::Int).defaultValue(int64_t{50}).atLeast(1).help("calibration batches");
  f.options.add("observer", OptionType::String)
      .defaultValue(std::string("histogram"))
      .choices({"minmax", "moving_average", "histogram"})
      .help("activation observer (fixed-range schemes keep theirs)");
  f.options.add("range_search", OptionType::String)
      .defaultValue(std::string("mse"))
      .choices({"percentile", "mse"})
      .help("histogram observer: MSE search, or clip the scheme's shrink_percentile at each end");
  f.options.add("bias_calibration", OptionType::Bool).defaultValue(true);
  f.options.add("bias_calibration_factor", OptionType::Float).defaultValue(0.1).range(0, 1)
      .help("fraction of the float-vs-quantized mean difference moved into the bias per batch");
  f.create = [](const Options& o) { return std::make_unique<CalibrateStage>(o); };
  return f;
}

}  // namespace edgeopt::quant_plugin
