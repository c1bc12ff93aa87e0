// The `qdq_onnx` exporter: a quantized model (after qat or calibrate) as a
// QDQ ONNX model that ONNX Runtime and TI's TIDL import run:
//   - conv+BN folded (quant::foldForExport on a copy), weights as integer
//     initializers (int8, per-channel axis 0) + DequantizeLinear;
//   - conv/linear biases as int32 initializers + DequantizeLinear with scale
//     s_input * s_weight (per channel) and zero point 0;
//   - activations QuantizeLinear -> DequantizeLinear (uint8 affine, int8
//     symmetric; 16-bit grids through com.microsoft's Q/DQ);
//   - opset 13..18 (default 17), libonnx checker + strict shape inference,
//     metadata edgeopt_quantization = the scheme (preset) name.
// Options as the `onnx` exporter: opset, input_shape, dynamic_batch, check
// (libonnx 1.12 knows opsets up to 17: opset 18 needs check: false); and
// tidl_names: short [A-Za-z0-9_] tensor/node names for TI's TIDL import
// (README "Importing into TIDL").
#include "onnx_proto.h"
#include "quant_plugin.h"

#include <edgeopt/error.h>
#include <edgeopt/exporter.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/export_lower.h>

namespace edgeopt::quant_plugin {
namespace {

class QdqExporter : public Exporter {
 public:
  explicit QdqExporter(const Options& o) {
    options_.opset = o.get<int64_t>("opset");
    options_.dynamic_batch = o.get<bool>("dynamic_batch");
    check_ = o.get<bool>("check");
    tidl_names_ = o.get<bool>("tidl_names");
    if (o.has("input_shape")) options_.input_shapes = {o.get<std::vector<int64_t>>("input_shape")};
  }

  std::string extension() const override { return ".qdq.onnx"; }

  void write(const GraphModule& model, const std::string& path) override {
    if (!quant::isQuantized(model))
      throw RuntimeFailure("qdq_onnx export: the model has no quantizers (run a qat or calibrate stage first)");
    std::shared_ptr<GraphModule> m = model.clone();
    m->eval();
    quant::foldForExport(*m);
    // The op emitters write the QDQ form: fake_quant on a weight -> integer
    // initializer + DequantizeLinear, bias_quant -> int32 + DequantizeLinear.
    ir::OnnxModel lowered = ir::lowerToOnnx(*m, options_);
    const std::string scheme = quant::schemeName(model);
    lowered.metadata["edgeopt_quantization"] = scheme;
    lowered.metadata["edgeopt_format"] = "QDQ";
    lowered.doc_string = "EdgeOpt QDQ export, quantization scheme " + scheme;
    onnx::ModelProto proto = onnx_export::toModelProto(lowered);
    if (tidl_names_) renameForTidl(proto);
    if (check_) onnx_export::checkModel(proto);
    std::string bytes;
    if (!proto.SerializeToString(&bytes))
      throw RuntimeFailure("qdq_onnx export: protobuf could not serialize the model (over 2 GiB?)");
    atomicWrite(path, bytes);
  }

 private:
  ir::OnnxLowerOptions options_;
  bool check_ = true;
  bool tidl_names_ = false;
};

}  // namespace

ExporterFactory qdqExporterFactory() {
  ExporterFactory f;
  f.summary = "QDQ ONNX of a quantized model (int8 per-channel weights, int32 biases, Q/DQ activations; opset 13-18)";
  onnx_export::addOnnxExportOptions(f.options);
  f.options.add("tidl_names", OptionType::Bool)
      .defaultValue(false)
      .help("rename tensors and nodes to short [A-Za-z0-9_] names for TIDL (graph inputs/outputs kept)");
  f.create = [](const Options& o) { return std::make_unique<QdqExporter>(o); };
  return f;
}

}  // namespace edgeopt::quant_plugin
