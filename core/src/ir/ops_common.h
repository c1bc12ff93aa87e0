#pragma once
// Helpers shared by the op families (ops_*.cpp). Internal to core/src/ir.
#include <edgeopt/error.h>
#include <edgeopt/ir/op_registry.h>

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

using Tensors = std::vector<at::Tensor>;

// Throws a RuntimeFailure naming the node.
[[noreturn]] void fail(const Node& n, const std::string& message);
void check(const Node& n, bool ok, const std::string& message);

// An int-list attribute of length `rank`; a single value is repeated
// (PyTorch's `_pair`).
Ints expand(const Node& n, const std::string& name, size_t rank, int64_t fallback);
// Python-style negative dim -> [0, rank).
int64_t normalizeDim(const Node& n, int64_t dim, size_t rank);
int64_t numel(const Shape& s);

// Shape function for ops whose single output has its first input's shape.
std::vector<Shape> sameAsFirstInput(const Node&, const std::vector<Shape>& in);
// Shape function for broadcasting binary ops.
std::vector<Shape> broadcastShapes(const Node& n, const std::vector<Shape>& in);

}  // namespace edgeopt::ir::ops
