// Ops with weights: conv2d(x, weight[, bias]) and linear(x, weight[, bias]).
#include "ops_common.h"

namespace edgeopt::ir::ops {
namespace {

at::Tensor optionalBias(const Tensors& in) { return in.size() > 2 ? in[2] : at::Tensor(); }

Tensors conv2dKernel(const Node& n, const Tensors& in, const ExecContext&) {
  return {at::conv2d(in[0], in[1], optionalBias(in), expand(n, "stride", 2, 1), expand(n, "padding", 2, 0),
                     expand(n, "dilation", 2, 1), n.getOr<int64_t>("groups", 1))};
}

std::vector<Shape> conv2dShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  const Shape& w = in[1];
  check(n, x.size() == 4, "input must be NCHW, got " + formatShape(x));
  check(n, w.size() == 4, "weight must be 4-D, got " + formatShape(w));
  int64_t groups = n.getOr<int64_t>("groups", 1);
  check(n, x[1] == w[1] * groups,
        "input has " + std::to_string(x[1]) + " channels, weight " + formatShape(w) + " with groups=" +
            std::to_string(groups) + " expects " + std::to_string(w[1] * groups));
  if (in.size() > 2) check(n, in[2] == Shape{w[0]}, "bias shape " + formatShape(in[2]) + " != [out_channels]");
  Ints stride = expand(n, "stride", 2, 1), pad = expand(n, "padding", 2, 0), dil = expand(n, "dilation", 2, 1);
  Shape out{x[0], w[0], 0, 0};
  for (size_t i = 0; i < 2; ++i) {
    out[2 + i] = (x[2 + i] + 2 * pad[i] - dil[i] * (w[2 + i] - 1) - 1) / stride[i] + 1;
    check(n, out[2 + i] > 0, "input " + formatShape(x) + " is too small for the kernel");
  }
  return {out};
}

int64_t conv2dMacs(const Node&, const std::vector<Shape>& in, const std::vector<Shape>& out) {
  const Shape& w = in[1];
  return numel(out[0]) * w[1] * w[2] * w[3];
}

Tensors linearKernel(const Node&, const Tensors& in, const ExecContext&) {
  return {at::linear(in[0], in[1], optionalBias(in))};
}

std::vector<Shape> linearShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  const Shape& w = in[1];
  check(n, !x.empty() && w.size() == 2 && x.back() == w[1],
        "input " + formatShape(x) + " does not match weight " + formatShape(w));
  Shape out = x;
  out.back() = w[0];
  return {out};
}

int64_t linearMacs(const Node&, const std::vector<Shape>& in, const std::vector<Shape>& out) {
  return numel(out[0]) * in[1][1];
}

}  // namespace

void registerConvOps(OpRegistry& r) {
  r.add({"conv2d", 2, 3, conv2dKernel, conv2dShape, conv2dMacs, ChannelBehaviour::Producer});
  r.add({"linear", 2, 3, linearKernel, linearShape, linearMacs, ChannelBehaviour::Producer});
}

}  // namespace edgeopt::ir::ops
