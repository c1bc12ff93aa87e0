#pragma once
// Converts an ONNX model (opset 6-18, default domain) into a GraphModule.
//
// Initializers become parameters (weights and biases of Conv, Gemm, MatMul,
// BatchNormalization's scale and bias) or buffers (BN statistics, other
// constants), under their ONNX names where those are valid EdgeOpt names
// ([A-Za-z0-9_.]); other characters become '_'. A node whose weight is called
// "<path>.weight" (torch.onnx.export keeps state_dict names) is named <path>.
// Computations on constants only (shape arithmetic: Shape, Gather, Concat,
// Unsqueeze, ...) are evaluated while importing.
//
// Errors are InputError("<path>: ..."): unreadable or invalid model, and one
// error listing every unsupported operator type with a node where it occurs.
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/graph.h>

#include <memory>
#include <optional>
#include <string>

namespace edgeopt::onnx_import {

struct ImportOptions {
  std::string path;
  std::optional<ir::Shape> input_shape;  // overrides the first input's shape
};

std::shared_ptr<GraphModule> importOnnx(const ImportOptions& options);

}  // namespace edgeopt::onnx_import
