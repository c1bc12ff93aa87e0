// Unary activations: one input, output shaped like it.
#include "ops_common.h"

namespace edgeopt::ir::ops {
namespace {

using UnaryFn = at::Tensor (*)(const Node&, const at::Tensor&);

void addUnary(OpRegistry& r, const std::string& name, UnaryFn fn,
              ChannelBehaviour channels = ChannelBehaviour::Pointwise) {
  r.add({name, 1, 1, [fn](const Node& n, const Tensors& in, const ExecContext&) { return Tensors{fn(n, in[0])}; },
         sameAsFirstInput, {}, channels});
}

}  // namespace

void registerActivationOps(OpRegistry& r) {
  addUnary(r, "relu", [](const Node&, const at::Tensor& x) { return at::relu(x); });
  addUnary(r, "relu6", [](const Node&, const at::Tensor& x) { return at::hardtanh(x, 0.0, 6.0); });
  addUnary(r, "hardtanh", [](const Node& n, const at::Tensor& x) {
    return at::hardtanh(x, n.getOr<double>("min_val", -1.0), n.getOr<double>("max_val", 1.0));
  });
  addUnary(r, "hardswish", [](const Node&, const at::Tensor& x) { return at::hardswish(x); });
  addUnary(r, "hardsigmoid", [](const Node&, const at::Tensor& x) { return at::hardsigmoid(x); });
  addUnary(r, "sigmoid", [](const Node&, const at::Tensor& x) { return at::sigmoid(x); });
  addUnary(r, "silu", [](const Node&, const at::Tensor& x) { return at::silu(x); });
  addUnary(r, "gelu", [](const Node& n, const at::Tensor& x) {
    return at::gelu(x, n.getOr<std::string>("approximate", "none"));
  });
  addUnary(r, "tanh", [](const Node&, const at::Tensor& x) { return at::tanh(x); });
  addUnary(r, "leaky_relu", [](const Node& n, const at::Tensor& x) {
    return at::leaky_relu(x, n.getOr<double>("negative_slope", 0.01));
  });
  // Softmax mixes whatever dim it normalises; over channels that blocks pruning.
  addUnary(
      r, "softmax",
      [](const Node& n, const at::Tensor& x) { return at::softmax(x, n.getOr<int64_t>("dim", -1)); },
      ChannelBehaviour::Reduce);
}

}  // namespace edgeopt::ir::ops
