// The `onnx` exporter (plugin onnx_export): the op registry's ONNX emitters
// lower the model (ir::lowerToOnnx, protobuf-free, in core); this plugin
// serializes it with libonnx, runs the checker and strict shape inference,
// and writes the file atomically.
//
// Options (exporter schema; the export stage passes defaults today):
//   opset          13..18, default 17
//   input_shape    [N, C, H, W]; default: the shape recorded on the graph input
//   dynamic_batch  default true: dim 0 of the input (and outputs) is "batch"
//   check          default true: run onnx::checker and strict shape inference
//                  and fail the export on any finding. libonnx 1.12 (Debian 12)
//                  has schemas up to opset 17: opset 18 needs check: false
//                  there (ONNX Runtime runs those files; the tests compare them).
#include "onnx_proto.h"

#include <edgeopt/error.h>
#include <edgeopt/exporter.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/export_lower.h>
#include <edgeopt/plugin.h>

namespace {

using edgeopt::OptionType;

class OnnxExporter : public edgeopt::Exporter {
 public:
  explicit OnnxExporter(const edgeopt::Options& o) {
    options_.opset = o.get<int64_t>("opset");
    options_.dynamic_batch = o.get<bool>("dynamic_batch");
    check_ = o.get<bool>("check");
    if (o.has("input_shape")) options_.input_shapes = {o.get<std::vector<int64_t>>("input_shape")};
  }

  std::string extension() const override { return ".onnx"; }

  void write(const edgeopt::GraphModule& model, const std::string& path) override {
    edgeopt::ir::OnnxModel lowered = edgeopt::ir::lowerToOnnx(model, options_);
    onnx::ModelProto proto = edgeopt::onnx_export::toModelProto(lowered);
    if (check_) edgeopt::onnx_export::checkModel(proto);
    std::string bytes;
    if (!proto.SerializeToString(&bytes))
      throw edgeopt::RuntimeFailure("ONNX export: protobuf could not serialize the model (over 2 GiB?)");
    edgeopt::atomicWrite(path, bytes);
  }

 private:
  edgeopt::ir::OnnxLowerOptions options_;
  bool check_ = true;
};

void registerOnnxExport(edgeopt::PluginRegistrar& r) {
  edgeopt::ExporterFactory f;
  f.summary = "ONNX (opset 13-18), float, dynamic batch; passes the ONNX checker and strict shape inference";
  edgeopt::onnx_export::addOnnxExportOptions(f.options);
  f.create = [](const edgeopt::Options& o) { return std::make_unique<OnnxExporter>(o); };
  r.add<edgeopt::Exporter>("onnx", std::move(f));
}

}  // namespace

EDGEOPT_PLUGIN("0.1.0", "ONNX exporter (float; QDQ once quantization lands)", registerOnnxExport)
