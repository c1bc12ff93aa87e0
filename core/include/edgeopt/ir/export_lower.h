#pragma once
// Lowering a GraphModule for export, op by op through the registry's
// emitters (OpDef::onnx, OpDef::torchscript). The exporter plugins serialize
// the results (libonnx, torch::jit::Module); nothing here links either.
#include <edgeopt/ir/onnx_emit.h>
#include <edgeopt/ir/torchscript_emit.h>

#include <functional>
#include <string>
#include <vector>

namespace edgeopt {
class GraphModule;
}

namespace edgeopt::ir {

// Attribute of a graph's Output node (Ints): the indices of the graph outputs
// that eval mode never computes, e.g. GoogLeNet's aux logits (None in
// PyTorch's eval forward; the TorchScript importer finds them in train mode).
// Lowering for inference drops them and every node only they use.
inline constexpr const char* kTrainOnlyOutputs = "train_only_outputs";

struct OnnxLowerOptions {
  int64_t opset = 17;  // 13..18
  // One shape per graph input; empty: the model's exampleInputShapes(), else
  // the shapes recorded on the graph inputs (shape propagation). Needed for
  // value types and by emitters that depend on ranks.
  std::vector<Shape> input_shapes;
  bool dynamic_batch = true;              // dim 0 of inputs (and batch-carrying outputs) is "batch"
  std::vector<std::string> output_names;  // default "output" (one) or "output_<i>"
};

// Hooks to wrap values while lowering, e.g. QDQ export: a quantizer returns
// the name of a DequantizeLinear output it added in front of the value. Each
// returns the ONNX name that users of the value read from then on.
struct OnnxLowerHooks {
  // A Param node; default: an initializer named after the tensor (its
  // state_dict name) holding the float tensor. A quantizer adds an int8
  // initializer (per-channel, axis 0) or an int32 bias + DequantizeLinear.
  std::function<std::string(OnnxGraph&, const Node& param, const at::Tensor& tensor)> param;
  // Before a Call node is emitted, once per input: the name the node reads.
  std::function<std::string(OnnxGraph&, const Node& user, size_t input_index, const std::string& name)> input;
  // After a Call node is emitted, once per output: the name its users read.
  std::function<std::string(OnnxGraph&, const Node& producer, size_t output_index, const std::string& name)> output;
};

// Lowers the model for inference (eval semantics: batch_norm uses running
// stats, dropout is the identity, kTrainOnlyOutputs are dropped). Throws
// RuntimeFailure naming the node and op for an op without an ONNX emitter or
// with attributes it can't express.
OnnxModel lowerToOnnx(const GraphModule& model, const OnnxLowerOptions& options = {},
                      const OnnxLowerHooks& hooks = {});

// The TorchScript `forward` of a module whose submodule tree mirrors the
// state_dict names ("features.0.0.weight" is attribute `weight` of submodule
// `0` of submodule `0` of submodule `features`). Graph inputs become the
// arguments (Tensor), one output is returned as a Tensor, several as a tuple.
// Throws RuntimeFailure naming the node and op for an op without an emitter.
std::string emitTorchScript(const Graph& graph);

}  // namespace edgeopt::ir
