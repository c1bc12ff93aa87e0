#pragma once
// OnnxModel (core, protobuf-free) -> onnx::ModelProto, and the checks every
// export must pass.
#include <edgeopt/ir/onnx_emit.h>
#include <edgeopt/options.h>

#include <onnx/onnx_pb.h>

namespace edgeopt::onnx_export {

// IR version written into every model: ONNX 1.12's (opsets up to 17).
constexpr int64_t kIrVersion = 8;

onnx::ModelProto toModelProto(const ir::OnnxModel& model);
onnx::TensorProto toTensorProto(const std::string& name, const at::Tensor& t);

// The highest default-domain opset the linked libonnx has schemas for (17
// for Debian 12's libonnx 1.12).
int maxKnownOpset();

// onnx::checker::check_model, then strict shape inference (type checks on,
// node errors thrown), which also records the inferred value types in the
// model. Throws RuntimeFailure "ONNX export: the model fails <check>: ...",
// or naming the opset when libonnx has no schemas for it.
void checkModel(onnx::ModelProto& model);

// The options every ONNX-writing exporter takes: opset, input_shape,
// dynamic_batch, check (shared by `onnx` and the quant plugin's `qdq_onnx`).
void addOnnxExportOptions(OptionSchema& schema);

}  // namespace edgeopt::onnx_export
