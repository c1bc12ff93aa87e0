// The "onnx_import" model source: an .onnx file.
//   model:
//     source: onnx_import
//     path: resnet18.onnx             # relative to the recipe
//     input_shape: [1, 3, 224, 224]   # optional; default: the model's input shape
#include <edgeopt/model_source.h>
#include <edgeopt/options.h>
#include <edgeopt/plugin.h>

#include "onnx_import.h"

namespace {

class OnnxSource : public edgeopt::ModelSource {
 public:
  explicit OnnxSource(edgeopt::onnx_import::ImportOptions o) : options_(std::move(o)) {}
  std::shared_ptr<edgeopt::GraphModule> load() override { return edgeopt::onnx_import::importOnnx(options_); }

 private:
  edgeopt::onnx_import::ImportOptions options_;
};

edgeopt::OptionSchema schema() {
  using edgeopt::OptionType;
  edgeopt::OptionSchema s;
  s.add("path", OptionType::Path).required().help("ONNX model file (opset 6-18)");
  s.add("input_shape", OptionType::IntList)
      .atLeast(1)
      .help("shape of the first model input, recorded on the graph input (default: the model's own)");
  return s;
}

void registerOnnxImport(edgeopt::PluginRegistrar& r) {
  r.add<edgeopt::ModelSource>(
      "onnx_import", {"ONNX model files", schema(),
                      [](const edgeopt::Options& o) -> std::unique_ptr<edgeopt::ModelSource> {
                        edgeopt::onnx_import::ImportOptions io;
                        io.path = o.get<std::string>("path");
                        if (o.has("input_shape")) io.input_shape = o.get<std::vector<int64_t>>("input_shape");
                        return std::make_unique<OnnxSource>(std::move(io));
                      }});
}

}  // namespace

EDGEOPT_PLUGIN("0.1.0", "ONNX model source (libonnx)", registerOnnxImport)
