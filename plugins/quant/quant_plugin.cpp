// Plugin entry point and the options both quantization stages share:
//
//   - kind: qat | calibrate
//     preset: WC8_AT8               # see quant/scheme.h for all presets
//     scheme: {base: WC8_AT8, weight: {bits: 4}, activation: {...}}   # optional custom scheme
//     overrides:                    # optional per-layer bit widths (selectors)
//       - {layers: [features.0.0, classifier.1], weight_bits: 16, activation_bits: 16}
#include "quant_plugin.h"

#include <edgeopt/graph_module.h>
#include <edgeopt/plugin.h>
#include <edgeopt/selector.h>

#include <spdlog/spdlog.h>

namespace edgeopt::quant_plugin {

void addQuantizeOptions(OptionSchema& schema) {
  quant::addSchemeOptions(schema);
  quant::addOverrideOptions(schema);
}

quant::QuantizeOptions quantizeOptionsFrom(const Options& o) {
  quant::QuantizeOptions q;
  q.scheme = quant::schemeFromOptions(o);
  q.overrides = quant::overridesFromOptions(o);
  return q;
}

void prepareModel(GraphModule& model, const quant::QuantizeOptions& options) {
  if (quant::isQuantized(model)) {
    spdlog::info("quantization: the model is already quantized ({}); keeping its quantizers", quant::schemeName(model));
    return;
  }
  const quant::QuantizerCounts c = quant::insertQuantizers(model, options);
  spdlog::info("quantization: {}", quant::describe(options.scheme));
  spdlog::info("quantization: {} weight and {} activation quantizers ({} fixed-range, {} cat inputs sharing a scale), "
               "{} conv+BN folded",
               c.weight, c.activation, c.fixed, c.shared, c.fused_conv_bn);
}

std::vector<std::string> planLines(const quant::QuantizeOptions& options, const GraphModule& model) {
  std::vector<std::string> lines = {quant::describe(options.scheme)};
  if (quant::isQuantized(model)) lines.push_back("keeps the model's quantizers (" + quant::schemeName(model) + ")");
  for (const auto& ov : options.overrides) {
    std::string layers;
    for (const auto& s : ov.options.get<std::vector<std::string>>("layers")) layers += (layers.empty() ? "" : ", ") + s;
    const size_t matched = resolveSelectors(model.graph(), ov.options, "layers").size();
    lines.push_back("override [" + layers + "] (" + std::to_string(matched) + " layers): weight bits " +
                    std::to_string(ov.options.get<int64_t>("weight_bits")) +
                    ", activation bits " + std::to_string(ov.options.get<int64_t>("activation_bits")) + " (0: scheme's)");
  }
  return lines;
}

}  // namespace edgeopt::quant_plugin

namespace {

void registerQuant(edgeopt::PluginRegistrar& r) {
  using namespace edgeopt::quant_plugin;
  r.add<edgeopt::Stage>("calibrate", calibrateStageFactory());
  r.add<edgeopt::Stage>("qat", qatStageFactory());
  r.add<edgeopt::Stage>("sensitivity", sensitivityStageFactory());
  r.add<edgeopt::Exporter>("qdq_onnx", qdqExporterFactory());
}

}  // namespace

EDGEOPT_PLUGIN("0.1.0", "quantization: qat, calibrate and sensitivity stages, QDQ ONNX exporter", registerQuant)
