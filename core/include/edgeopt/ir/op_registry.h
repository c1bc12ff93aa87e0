#pragma once
// The one op registry. Everything EdgeOpt knows about an op lives in its
// OpDef, registered in one place (core/src/ir/ops_<family>.cpp): the ATen
// kernel, the shape function, the MAC count, how channels flow through it (channel_flow.h) and
// how it is exported: its ONNX emitter (onnx_emit.h) and its TorchScript
// emitter (torchscript_emit.h).
#include <ATen/core/Tensor.h>
#include <edgeopt/ir/channel_flow.h>
#include <edgeopt/ir/graph.h>

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

// One op, built with named setters so a new field is not an edit of every
// registration:
//   r.add(OpDef("conv2d").setArity(2, 3).setKernel(conv2dKernel).setShape(conv2dShape)
//             .setMacs(conv2dMacs).setChannels(conv2dFlow).setOnnx(conv2dOnnx).setTorchScript(conv2dScript));
struct OpDef {
  std::string name;
  size_t min_inputs = 1;
  size_t max_inputs = 1;
  Kernel kernel;
  ShapeFn shape;
  MacsFn macs;                // empty: 0
  ChannelFlowFn channels;     // empty: a barrier to channel pruning
  OnnxEmitter onnx;           // empty: not exportable to ONNX
  ScriptEmitter torchscript;  // empty: not exportable to TorchScript

  explicit OpDef(std::string op_name) : name(std::move(op_name)) {}
  OpDef& setArity(size_t min, size_t max) {
    min_inputs = min;
    max_inputs = max;
    return *this;
  }
  OpDef& setKernel(Kernel k) {
    kernel = std::move(k);
    return *this;
  }
  OpDef& setShape(ShapeFn f) {
    shape = std::move(f);
    return *this;
  }
  OpDef& setMacs(MacsFn f) {
    macs = std::move(f);
    return *this;
  }
  OpDef& setChannels(ChannelFlowFn f) {
    channels = std::move(f);
    return *this;
  }
  OpDef& setChannels(ChannelFlow flow) {
    channels = fixedFlow(std::move(flow));
    return *this;
  }
  OpDef& setOnnx(OnnxEmitter e) {
    onnx = std::move(e);
    return *this;
  }
  OpDef& setTorchScript(ScriptEmitter e) {
    torchscript = std::move(e);
    return *this;
  }

  // The flow at `node` (Barrier when the op has none).
  ChannelFlow channelFlow(const Node& node, const std::vector<Shape>& inputs) const {
    return channels ? channels(node, inputs) : ChannelFlow::barrier();
  }
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
