// yolov5n / yolov5s: a YOLOv5-style single-stage detector (ultralytics v6+
// architecture), node for node and name for name with ultralytics'
// DetectionModel, so its state_dict keys (model.0.conv.weight, ...,
// model.24.anchors) load strictly. tests/ir/yolo_reference.py is the PyTorch
// reference the tests compare with.
//
//   model.0        Conv k6 s2 p2 (the stem surgery rewrites to k5)     P1/2
//   model.1-8      Conv k3 s2 and C3 blocks (shortcut bottlenecks)     P2/4 .. P5/32
//   model.9        SPPF: cv1, one MaxPool2d k5 s1 called 3 times (model.9.m,
//                  model.9.m_1, model.9.m_2), cat, cv2
//   model.10-23    PANet neck: Conv 1x1, Upsample x2 nearest (by scale),
//                  Concat, C3 without shortcut, Conv k3 s2 down again
//   model.24       Detect: m.0/m.1/m.2, 1x1 convs with bias to
//                  3 anchors x (5 + num_classes) channels on P3, P4, P5
// Every Conv is conv (no bias) -> bn (eps 1e-3, momentum 0.03) -> act (SiLU).
// The outputs are the three raw head maps [N, 3 * (5 + nc), H / s, W / s]
// for s = 8, 16, 32 (decoding is the loss's / post-processing's job);
// buffer model.24.anchors holds the anchors in grid units, [3, 3, 2].
// Sizes: depth multiple 0.33 for both, width multiple 0.25 (n) or 0.5 (s),
// times ZooOptions::width_mult; channels round up to multiples of 8. Init
// as ultralytics: PyTorch's default conv init, BN 1/0, Detect biases with the
// objectness/class priors. input_size must be a multiple of 32.
#include "zoo_models.h"

#include <edgeopt/error.h>
#include <edgeopt/ir/builder.h>

#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <cmath>

namespace edgeopt::zoo {
namespace {

using ir::Ints;
using ir::ModelBuilder;
using ir::Value;

constexpr int64_t kAnchors = 3;
const double kAnchorPixels[3][6] = {
    {10, 13, 16, 30, 33, 23}, {30, 61, 62, 45, 59, 119}, {116, 90, 156, 198, 373, 326}};
const int64_t kStrides[3] = {8, 16, 32};

// nn.Conv2d with PyTorch's default init, U(+-1/sqrt(fan_in)) for weight and
// bias (kaiming_uniform_ with a = sqrt(5)), which ultralytics keeps.
// A defined `bias_offset` is added to the initial bias (Detect's priors).
Value* plainConv(ModelBuilder& b, const std::string& name, Value* x, int64_t in, int64_t out, int64_t kernel,
                 int64_t stride, int64_t padding, bool bias, const at::Tensor& bias_offset = {}) {
  std::vector<Value*> inputs{x};
  {
    auto s = b.module(name, "Conv2d");
    double bound = 1.0 / std::sqrt(static_cast<double>(in * kernel * kernel));
    inputs.push_back(b.parameter("weight", at::empty({out, in, kernel, kernel}).uniform_(-bound, bound)));
    if (bias) {
      at::Tensor t = at::empty({out}).uniform_(-bound, bound);
      if (bias_offset.defined()) t.add_(bias_offset);
      inputs.push_back(b.parameter("bias", t));
    }
  }
  return b.leaf(name, "Conv2d", "conv2d", std::move(inputs),
                {{"stride", Ints{stride, stride}},
                 {"padding", Ints{padding, padding}},
                 {"dilation", Ints{1, 1}},
                 {"groups", int64_t{1}}});
}

// ultralytics Conv: conv -> bn -> act, padding k / 2 unless given.
Value* conv(ModelBuilder& b, const std::string& name, Value* x, int64_t in, int64_t out, int64_t kernel,
            int64_t stride = 1, int64_t padding = -1) {
  auto s = b.module(name, "Conv");
  x = plainConv(b, "conv", x, in, out, kernel, stride, padding < 0 ? kernel / 2 : padding, false);
  x = b.batchNorm2d("bn", x, out, 1e-3, 0.03);
  return b.silu("act", x);
}

Value* bottleneck(ModelBuilder& b, const std::string& name, Value* x, int64_t channels, bool shortcut) {
  auto s = b.module(name, "Bottleneck");
  Value* y = conv(b, "cv2", conv(b, "cv1", x, channels, channels, 1), channels, channels, 3);
  return shortcut ? b.add(x, y) : y;
}

// C3: cv3(cat(m(cv1(x)), cv2(x))) with n bottlenecks of half width.
Value* c3(ModelBuilder& b, const std::string& name, Value* x, int64_t in, int64_t out, int64_t n, bool shortcut) {
  auto s = b.module(name, "C3");
  const int64_t hidden = out / 2;
  Value* y = conv(b, "cv1", x, in, hidden, 1);
  {
    auto m = b.module("m", "Sequential");
    for (int64_t i = 0; i < n; ++i) y = bottleneck(b, std::to_string(i), y, hidden, shortcut);
  }
  Value* skip = conv(b, "cv2", x, in, hidden, 1);
  return conv(b, "cv3", b.functional("cat", {y, skip}, {{"dim", int64_t{1}}}), 2 * hidden, out, 1);
}

// SPPF: one 5x5 stride-1 max pool applied three times in a row.
Value* sppf(ModelBuilder& b, const std::string& name, Value* x, int64_t in, int64_t out) {
  auto s = b.module(name, "SPPF");
  const int64_t hidden = in / 2;
  x = conv(b, "cv1", x, in, hidden, 1);
  Value* y1 = b.maxPool2d("m", x, 5, 1, 2);
  Value* y2 = b.maxPool2d("m", y1, 5, 1, 2);
  Value* y3 = b.maxPool2d("m", y2, 5, 1, 2);
  return conv(b, "cv2", b.functional("cat", {x, y1, y2, y3}, {{"dim", int64_t{1}}}), 4 * hidden, out, 1);
}

Value* upsample(ModelBuilder& b, const std::string& name, Value* x) {
  return b.leaf(name, "Upsample", "interpolate", {x}, {{"scale_factor", ir::Doubles{2.0, 2.0}}, {"mode", "nearest"}});
}

Value* concat(ModelBuilder& b, const std::string& name, std::vector<Value*> xs) {
  return b.leaf(name, "Concat", "cat", std::move(xs), {{"dim", int64_t{1}}});
}

std::vector<Value*> detect(ModelBuilder& b, const std::string& name, const std::vector<Value*>& xs,
                           const std::vector<int64_t>& channels, int64_t num_classes) {
  auto s = b.module(name, "Detect");
  const int64_t per_anchor = 5 + num_classes;
  std::vector<Value*> outs;
  {
    auto m = b.module("m", "ModuleList");
    for (size_t i = 0; i < xs.size(); ++i) {
      // Detect._initialize_biases: objectness for ~8 objects per 640 image, class prior 0.6 / nc.
      at::Tensor prior = at::zeros({kAnchors, per_anchor});
      double stride = static_cast<double>(kStrides[i]);
      prior.select(1, 4).fill_(std::log(8.0 / std::pow(640.0 / stride, 2)));
      prior.narrow(1, 5, num_classes).fill_(std::log(0.6 / (static_cast<double>(num_classes) - 0.99)));
      outs.push_back(plainConv(b, std::to_string(i), xs[i], channels[i], kAnchors * per_anchor, 1, 1, 0, true,
                               prior.flatten()));
    }
  }
  at::Tensor anchors = at::empty({3, kAnchors, 2});
  auto a = anchors.accessor<float, 3>();
  for (int64_t level = 0; level < 3; ++level)
    for (int64_t j = 0; j < 2 * kAnchors; ++j)
      a[level][j / 2][j % 2] = static_cast<float>(kAnchorPixels[level][j] / static_cast<double>(kStrides[level]));
  b.graphModule().registerBuffer(b.path("anchors"), anchors);
  return outs;
}

}  // namespace

std::shared_ptr<GraphModule> buildYoloV5(double depth_multiple, double width_multiple, const ZooOptions& o) {
  if (o.input_size % 32 != 0)
    throw InputError("zoo: yolov5 needs input_size to be a multiple of 32 (its largest stride), got " +
                     std::to_string(o.input_size));
  // ultralytics' make_divisible(c * gw, 8) (rounds up) and max(round(n * gd), 1).
  auto w = [&](int64_t c) {
    return static_cast<int64_t>(std::ceil(c * width_multiple * o.width_mult / 8.0)) * 8;
  };
  auto d = [&](int64_t n) { return std::max<int64_t>(1, std::lround(n * depth_multiple)); };

  ModelBuilder b;
  Value* x = b.input("x");
  std::vector<Value*> heads;
  {
    auto model = b.module("model", "Sequential");
    // Backbone (CSP-Darknet with C3 blocks).
    x = conv(b, "0", x, o.in_channels, w(64), 6, 2, 2);
    x = conv(b, "1", x, w(64), w(128), 3, 2);
    x = c3(b, "2", x, w(128), w(128), d(3), true);
    x = conv(b, "3", x, w(128), w(256), 3, 2);
    Value* p3 = c3(b, "4", x, w(256), w(256), d(6), true);
    x = conv(b, "5", p3, w(256), w(512), 3, 2);
    Value* p4 = c3(b, "6", x, w(512), w(512), d(9), true);
    x = conv(b, "7", p4, w(512), w(1024), 3, 2);
    x = c3(b, "8", x, w(1024), w(1024), d(3), true);
    x = sppf(b, "9", x, w(1024), w(1024));
    // PANet neck: top-down, then bottom-up.
    Value* h10 = conv(b, "10", x, w(1024), w(512), 1);
    x = concat(b, "12", {upsample(b, "11", h10), p4});
    x = c3(b, "13", x, w(1024), w(512), d(3), false);
    Value* h14 = conv(b, "14", x, w(512), w(256), 1);
    x = concat(b, "16", {upsample(b, "15", h14), p3});
    Value* out_p3 = c3(b, "17", x, w(512), w(256), d(3), false);
    x = concat(b, "19", {conv(b, "18", out_p3, w(256), w(256), 3, 2), h14});
    Value* out_p4 = c3(b, "20", x, w(512), w(512), d(3), false);
    x = concat(b, "22", {conv(b, "21", out_p4, w(512), w(512), 3, 2), h10});
    Value* out_p5 = c3(b, "23", x, w(1024), w(1024), d(3), false);
    heads = detect(b, "24", {out_p3, out_p4, out_p5}, {w(256), w(512), w(1024)}, o.num_classes);
  }
  b.output(heads);
  return b.finish();
}

}  // namespace edgeopt::zoo
