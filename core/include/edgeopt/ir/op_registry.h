#pragma once
// The one op registry. Everything EdgeOpt knows about an op lives in its
// OpDef, registered in one place (core/src/ir/ops_<family>.cpp): the ATen
// kernel, the shape function, the MAC count, how channels flow through it and
// how it is exported: its ONNX emitter (onnx_emit.h) and its TorchScript
// emitter (torchscript_emit.h).
#include <edgeopt/ir/graph.h>

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace edgeopt::ir {

struct ExecContext {
  bool training = false;  // batch_norm updates running stats, dropout drops
};

using Kernel = std::function<std::vector<at::Tensor>(const Node&, const std::vector<at::Tensor>& inputs,
                                                     const ExecContext&)>;
// Output shapes from input shapes and attributes; throws on a mismatch.
using ShapeFn = std::function<std::vector<Shape>(const Node&, const std::vector<Shape>& inputs)>;
// Multiply-accumulates for one call. Only conv/linear/matmul-like ops count;
// elementwise ops, norms and pools report 0 (as fvcore and torchinfo do).
using MacsFn = std::function<int64_t(const Node&, const std::vector<Shape>& inputs,
                                     const std::vector<Shape>& outputs)>;

// How the channel dimension (dim 1) flows through the op; used by channel
// pruning to group dependent channels. A placeholder until pruning lands.
enum class ChannelBehaviour {
  Unknown,       // pruning treats the op as a barrier
  Pointwise,     // channel c of the output depends only on channel c of the inputs
  Producer,      // output channels come from a weight (conv, linear)
  Elementwise,   // binary op: its inputs' channels must be pruned together
  Concat,        // channels of the inputs are stacked (cat on dim 1)
  Reshape,       // channels are merged into other dims (flatten, reshape)
  Reduce,        // channels are reduced away or mixed (softmax over dim 1, mean)
};
const char* toString(ChannelBehaviour b);

struct OnnxEmitContext;    // onnx_emit.h
struct ScriptEmitContext;  // torchscript_emit.h
// Writes the ONNX nodes computing one Call node into ctx.graph: it reads
// ctx.inputs (the ONNX names of the node's inputs) and must produce exactly
// ctx.outputs (one name per node output). Throws (ctx.fail) for attribute
// values it can't express. Empty: the op can't be exported to ONNX.
using OnnxEmitter = std::function<void(OnnxEmitContext& ctx)>;
// Returns a TorchScript expression computing the node from ctx.inputs (the
// expressions of its inputs); a multi-output op returns a list/tuple
// expression. May add statements before it (ctx.addStatement). Empty: the op
// can't be exported to TorchScript.
using ScriptEmitter = std::function<std::string(ScriptEmitContext& ctx)>;

struct OpDef {
  std::string name;
  size_t min_inputs = 1;
  size_t max_inputs = 1;
  Kernel kernel;
  ShapeFn shape;
  MacsFn macs;  // empty: 0
  ChannelBehaviour channels = ChannelBehaviour::Unknown;
  OnnxEmitter onnx;           // empty: not exportable to ONNX
  ScriptEmitter torchscript;  // empty: not exportable to TorchScript
};

class OpRegistry {
 public:
  // The process-wide registry, filled with the built-in ops on first use.
  static OpRegistry& instance();

  // Throws RuntimeFailure if `def.name` is taken.
  void add(OpDef def);
  const OpDef* find(const std::string& name) const;
  // Throws RuntimeFailure listing known ops.
  const OpDef& get(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, OpDef> ops_;
};

}  // namespace edgeopt::ir
