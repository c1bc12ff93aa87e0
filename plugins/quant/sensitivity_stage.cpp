// The `sensitivity` stage: per-layer quantization sensitivity of a quantized
// model (quant/sensitivity.h) on the first validation batches, as a table
// (sensitivity.json and sensitivity.txt in the stage folder, the report's
// "Quantization sensitivity" section) and an `overrides` entry that keeps
// the most sensitive layers at 16 bits. It changes nothing in the model.
//
//   - kind: calibrate               # or qat: the model must be quantized
//   - kind: sensitivity
//     batches: 8                    # validation batches scored per setting
//     top: 5                        # layers named in the log and the suggestion
#include "quant_plugin.h"

#include <edgeopt/data_loader.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/memory_format.h>
#include <edgeopt/quant/sensitivity.h>
#include <edgeopt/stage.h>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <optional>
#include <sstream>

namespace edgeopt::quant_plugin {
namespace {

std::string tableText(const quant::SensitivityResult& r) {
  std::ostringstream out;
  out << fmt::format("Per-layer quantization sensitivity on {} validation images (float = every quantizer off).\n",
                     r.examples)
      << fmt::format("All quantizers on: SQNR {:.2f} dB{}\n", r.sqnr_db,
                     r.has_agreement ? fmt::format(", top-1 agreement with float {:.2f} %", r.agreement) : "")
      << "only: this layer's quantizers alone; all but: every quantizer except this layer's. Most sensitive first.\n\n"
      << fmt::format("{:<40} {:>14} {:>12} {:>16} {:>14}\n", "layer", "only SQNR dB", "only agree%",
                     "all-but SQNR dB", "all-but agree%");
  for (const auto& l : r.layers)
    out << fmt::format("{:<40} {:>14.2f} {:>12} {:>16.2f} {:>14}\n", l.layer, l.only_sqnr_db,
                       r.has_agreement ? fmt::format("{:.2f}", l.only_agreement) : "-", l.all_but_sqnr_db,
                       r.has_agreement ? fmt::format("{:.2f}", l.all_but_agreement) : "-");
  return out.str();
}

nlohmann::ordered_json tableJson(const quant::SensitivityResult& r, int64_t batches) {
  nlohmann::ordered_json j = {{"examples", r.examples}, {"batches", batches}, {"sqnr_db", r.sqnr_db}};
  if (r.has_agreement) j["top1_agreement"] = r.agreement;
  j["layers"] = nlohmann::ordered_json::array();
  for (const auto& l : r.layers) {
    nlohmann::ordered_json row = {{"layer", l.layer}, {"quantizers", l.quantizers}, {"only_sqnr_db", l.only_sqnr_db}};
    if (r.has_agreement) row["only_top1_agreement"] = l.only_agreement;
    row["all_but_sqnr_db"] = l.all_but_sqnr_db;
    if (r.has_agreement) row["all_but_top1_agreement"] = l.all_but_agreement;
    j["layers"].push_back(std::move(row));
  }
  return j;
}

class SensitivityStage : public Stage {
 public:
  explicit SensitivityStage(const Options& o) : batches_(o.get<int64_t>("batches")), top_(o.get<int64_t>("top")) {}

  std::vector<std::string> plan(const GraphModule&) const override {
    return {"per-layer quantization sensitivity on " + std::to_string(batches_) +
            " validation batches: each layer's quantizers alone, and all but them, against the float model"};
  }

  void run(StageContext& ctx) override {
    GraphModule& model = ctx.model();
    if (!quant::isQuantized(model))
      throw RuntimeFailure("sensitivity: the model has no quantizers; put this stage after a calibrate or qat stage");
    auto dataset = ctx.dataset();
    const Options& data = *ctx.dataOptions();
    if (dataset->size(Split::Val) == 0) throw RuntimeFailure("sensitivity: the dataset has no val split");
    auto loader = makeDataLoader(dataset, Split::Val, data, loaderOptions(data, Split::Val, ctx.seed()));
    loader->startEpoch(0);
    std::optional<ChannelsLastParameters> channels_last;
    channels_last.emplace(model);  // as the evaluate stage: oneDNN's NHWC convs
    std::vector<at::Tensor> batches;
    while (static_cast<int64_t>(batches.size()) < batches_) {
      auto batch = loader->next();
      if (!batch) break;
      batches.push_back(toTrainingLayout(batch->images, true));
    }
    const quant::SensitivityResult r = quant::measureSensitivity(model, batches);
    channels_last.reset();

    atomicWrite(ctx.stageDir() + "/sensitivity.json", tableJson(r, static_cast<int64_t>(batches.size())).dump(2));
    atomicWrite(ctx.stageDir() + "/sensitivity.txt", tableText(r));
    spdlog::info("sensitivity: {} layers on {} images; all quantizers on: SQNR {:.2f} dB{}", r.layers.size(),
                 r.examples, r.sqnr_db,
                 r.has_agreement ? fmt::format(", top-1 agreement {:.2f} %", r.agreement) : "");
    std::string names;
    for (size_t i = 0; i < r.layers.size() && static_cast<int64_t>(i) < top_; ++i) {
      const auto& l = r.layers[i];
      spdlog::info("sensitivity: #{} {}: alone SQNR {:.2f} dB{}; all but it {:.2f} dB{}", i + 1, l.layer,
                   l.only_sqnr_db, r.has_agreement ? fmt::format(" ({:.2f} % agree)", l.only_agreement) : "",
                   l.all_but_sqnr_db, r.has_agreement ? fmt::format(" ({:.2f} % agree)", l.all_but_agreement) : "");
      names += (names.empty() ? "" : ", ") + l.layer;
    }
    if (!names.empty())
      spdlog::info("sensitivity: to keep them at 16 bits, give the qat/calibrate stage  overrides: [{{layers: [{}], "
                   "weight_bits: 16, activation_bits: 16}}]  (table: {}/sensitivity.txt)",
                   names, ctx.stageDir());
    nlohmann::ordered_json row = {{"sensitivity_sqnr_db", r.sqnr_db}};
    if (r.has_agreement) row["sensitivity_top1_agreement"] = r.agreement;
    ctx.recordMetrics(row.dump());
  }

 private:
  int64_t batches_, top_;
};

}  // namespace

StageFactory sensitivityStageFactory() {
  StageFactory f;
  f.summary = "per-layer quantization sensitivity (each layer quantized alone / all but it, vs float): a table and "
              "the overrides to act on it";
  f.options.add("batches", OptionType::Int).defaultValue(int64_t{8}).atLeast(1).help("validation batches scored");
  f.options.add("top", OptionType::Int).defaultValue(int64_t{5}).atLeast(0)
      .help("most sensitive layers named in the log and the suggested overrides");
  f.create = [](const Options& o) { return std::make_unique<SensitivityStage>(o); };
  return f;
}

}  // namespace edgeopt::quant_plugin
