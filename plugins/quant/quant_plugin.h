#pragma once
// The quantization plugin: `qat`, `calibrate` and `sensitivity` stages, `qdq_onnx` exporter.
#include <edgeopt/options.h>
#include <edgeopt/quant/quantize.h>
#include <edgeopt/registry.h>

#include <string>
#include <vector>

namespace onnx {
class ModelProto;
}

namespace edgeopt::quant_plugin {

// preset, scheme, overrides (shared by both stages).
void addQuantizeOptions(OptionSchema& schema);
quant::QuantizeOptions quantizeOptionsFrom(const Options& o);
// Places quantizers unless the model has them already (a calibrate stage
// before qat, or a resumed run); logs the counts.
void prepareModel(GraphModule& model, const quant::QuantizeOptions& options);
// The scheme and overrides for --dry-run; resolves the overrides' selectors
// against `model` (a selector matching nothing is a RecipeError there).
std::vector<std::string> planLines(const quant::QuantizeOptions& options, const GraphModule& model);

// The qdq_onnx exporter's tidl_names option: every tensor and node gets a
// short [A-Za-z0-9_] name (t12, w3, conv_7: the op type and a number),
// unique in the graph; graph inputs and outputs keep theirs when already
// legal. Values are unchanged.
void renameForTidl(onnx::ModelProto& model);

StageFactory calibrateStageFactory();
StageFactory qatStageFactory();
StageFactory sensitivityStageFactory();
ExporterFactory qdqExporterFactory();

}  // namespace edgeopt::quant_plugin
