#pragma once
// Helpers shared by the op families (ops_*.cpp). Internal to core/src/ir.
#include <edgeopt/error.h>
#include <edgeopt/ir/onnx_emit.h>
#include <edgeopt/ir/op_registry.h>
#include <edgeopt/ir/torchscript_emit.h>

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace edgeopt::ir::ops {

// One registration function per op family, called once by OpRegistry::instance().
void registerConvOps(OpRegistry& r);        // conv2d, linear
void registerNormOps(OpRegistry& r);        // batch_norm
void registerActivationOps(OpRegistry& r);  // relu, relu6, hardtanh, ... softmax
void registerArithmeticOps(OpRegistry& r);  // add, sub, mul, div
void registerShapeOps(OpRegistry& r);       // cat, flatten, reshape, identity, dropout
void registerPoolOps(OpRegistry& r);        // max/avg/adaptive pools, mean
void registerTensorOps(OpRegistry& r);      // split, chunk, slice, permute, transpose, pad, matmul, full_like
void registerResizeOps(OpRegistry& r);      // interpolate (nearest/bilinear, by size or scale)
void registerConvTransposeOps(OpRegistry& r);  // conv_transpose2d
void registerNormExtraOps(OpRegistry& r);   // layer_norm, group_norm
void registerRegularizationOps(OpRegistry& r);  // stochastic_depth
void registerQuantOps(OpRegistry& r);       // fake_quant, bn_fold_weight, conv_bn_qat
void registerWindowOps(OpRegistry& r);      // roll, ne, masked_fill, index_select, unsqueeze
void registerMathOps(OpRegistry& r);        // exp, clamp, norm
void registerScatterOps(OpRegistry& r);     // slice_scatter

using Tensors = std::vector<at::Tensor>;

// Throws a RuntimeFailure naming the node.
[[noreturn]] void fail(const Node& n, const std::string& message);
void check(const Node& n, bool ok, const std::string& message);

// An int-list attribute of length `rank`; a single value is repeated
// (PyTorch's `_pair`).
Ints expand(const Node& n, const std::string& name, size_t rank, int64_t fallback);
// An attribute value no op accepts, as a model file may hold (stride 0,
// groups 0): an InputError naming the node, since the file is malformed and
// the kernels would divide by it.
[[noreturn]] void failAttribute(const Node& n, const std::string& message);
// expand() for a size attribute whose every value must be at least `min`
// (stride, dilation, kernel: 1; padding: 0); failAttribute otherwise.
Ints expandAtLeast(const Node& n, const std::string& name, size_t rank, int64_t fallback, int64_t min);
// Python-style negative dim -> [0, rank).
int64_t normalizeDim(const Node& n, int64_t dim, size_t rank);
int64_t numel(const Shape& s);

// Shape function for ops whose single output has its first input's shape.
std::vector<Shape> sameAsFirstInput(const Node&, const std::vector<Shape>& in);
// NCHW output of a 2-D convolution of `x` with weight `w` (stride, padding,
// dilation attributes); shared by conv2d and the fused QAT conv.
Shape conv2dOutputShape(const Node& n, const Shape& x, const Shape& w);
// Multiply-accumulates of a 2-D convolution whose weight is input 1.
int64_t conv2dMacs(const Node& n, const std::vector<Shape>& in, const std::vector<Shape>& out);
// Shape function for broadcasting binary ops.
std::vector<Shape> broadcastShapes(const Node& n, const std::vector<Shape>& in);

// Emitters for ops that map to one call (ops_emit_util.cpp):
// `op_type(inputs...) -> outputs[0]` in ONNX, `fn(inputs...)` in TorchScript.
OnnxEmitter onnxSingle(const std::string& op_type);
ScriptEmitter scriptCall(const std::string& fn);
// [top, left, bottom, right]-style ONNX pads from a symmetric 2-D padding.
Ints onnxPads2d(const Ints& padding);
// ReduceMean over `axes` into `out` (axes an attribute before opset 18, an input from 18).
void onnxReduceMean(OnnxEmitContext& ctx, const std::string& x, const Ints& axes, bool keepdims,
                    const std::string& out);
// (x - mean) / sqrt(var + eps) over `axes` (biased variance), into `out`.
void onnxNormalize(OnnxEmitContext& ctx, const std::string& x, const Ints& axes, double eps, const std::string& out);

}  // namespace edgeopt::ir::ops
