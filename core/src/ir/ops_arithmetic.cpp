// Binary arithmetic: add, sub, mul, div. Tensor-tensor (two inputs,
// broadcasting) or tensor-scalar (one input, attribute `other`).
#include "ops_common.h"

namespace edgeopt::ir::ops {
namespace {

using TensorFn = at::Tensor (*)(const at::Tensor&, const at::Tensor&);
using ScalarFn = at::Tensor (*)(const at::Tensor&, const at::Scalar&);

void addBinary(OpRegistry& r, const std::string& name, TensorFn tensor_fn, ScalarFn scalar_fn) {
  Kernel kernel = [tensor_fn, scalar_fn](const Node& n, const Tensors& in, const ExecContext&) {
    if (in.size() == 2) return Tensors{tensor_fn(in[0], in[1])};
    check(n, n.hasAttr("other"), "with one input, the scalar operand must be attribute 'other'");
    return Tensors{scalar_fn(in[0], at::Scalar(n.get<double>("other")))};
  };
  r.add({name, 1, 2, kernel, broadcastShapes, {}, ChannelBehaviour::Elementwise});
}

}  // namespace

void registerArithmeticOps(OpRegistry& r) {
  addBinary(
      r, "add", [](const at::Tensor& a, const at::Tensor& b) { return at::add(a, b); },
      [](const at::Tensor& a, const at::Scalar& b) { return at::add(a, b); });
  addBinary(
      r, "sub", [](const at::Tensor& a, const at::Tensor& b) { return at::sub(a, b); },
      [](const at::Tensor& a, const at::Scalar& b) { return at::sub(a, b); });
  addBinary(
      r, "mul", [](const at::Tensor& a, const at::Tensor& b) { return at::mul(a, b); },
      [](const at::Tensor& a, const at::Scalar& b) { return at::mul(a, b); });
  addBinary(
      r, "div", [](const at::Tensor& a, const at::Tensor& b) { return at::div(a, b); },
      [](const at::Tensor& a, const at::Scalar& b) { return at::div(a, b); });
}

}  // namespace edgeopt::ir::ops
