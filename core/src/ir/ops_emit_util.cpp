// Emitter helpers shared by the op families (ops_common.h).
#include "ops_common.h"

namespace edgeopt::ir::ops {

OnnxEmitter onnxSingle(const std::string& op_type) {
  return [op_type](OnnxEmitContext& ctx) { ctx.add(op_type, ctx.inputs, {ctx.outputs[0]}); };
}

ScriptEmitter scriptCall(const std::string& fn) {
  return [fn](ScriptEmitContext& ctx) { return ScriptEmitContext::call(fn, ctx.inputs); };
}

Ints onnxPads2d(const Ints& p) { return {p[0], p[1], p[0], p[1]}; }

void onnxReduceMean(OnnxEmitContext& ctx, const std::string& x, const Ints& axes, bool keepdims,
                    const std::string& out) {
  if (ctx.opset() >= 18) {
    ctx.add("ReduceMean", {x, ctx.ints("axes", axes)}, {out}).attr("keepdims", keepdims);
    return;
  }
  ctx.add("ReduceMean", {x}, {out}).attr("axes", axes).attr("keepdims", keepdims);
}

void onnxNormalize(OnnxEmitContext& ctx, const std::string& x, const Ints& axes, double eps, const std::string& out) {
  std::string mean = ctx.temp("mean"), centered = ctx.temp("centered"), square = ctx.temp("square"),
              var = ctx.temp("var"), var_eps = ctx.temp("var_eps"), std_dev = ctx.temp("std");
  onnxReduceMean(ctx, x, axes, true, mean);
  ctx.add("Sub", {x, mean}, {centered});
  ctx.add("Mul", {centered, centered}, {square});
  onnxReduceMean(ctx, square, axes, true, var);
  ctx.add("Add", {var, ctx.scalar("eps", static_cast<float>(eps))}, {var_eps});
  ctx.add("Sqrt", {var_eps}, {std_dev});
  ctx.add("Div", {centered, std_dev}, {out});
}

}  // namespace edgeopt::ir::ops
