// Convolution kernels TIDL-class accelerators run poorly:
//
// conv_k6_to_k5: a 6x6 conv (YOLOv5's stem, k6 s2 p2) becomes 5x5 with the
//   same stride, groups and bias; its weight is re-initialised as torchvision
//   initialises a conv (the model is retrained). The padding stays, or drops
//   by one where the known input size needs that to keep the output size.
//
// conv_k8plus_to_3x3 (off by default): a conv with an odd kernel k > 7
//   becomes (k - 1) / 2 chained 3x3 convs — the same receptive field. The
//   widths are fixed, not random (the Python original draws them): every
//   intermediate conv has the output's channel count, is followed by
//   BatchNorm and ReLU, and the last conv carries the stride and the bias.
//   Depthwise convs stay depthwise; other grouped convs are left alone.
#include "rules.h"

#include <edgeopt/ir/builder.h>
#include <edgeopt/ir/input_roles.h>

#include <ATen/ATen.h>

namespace edgeopt::surgery {
namespace {

ir::Ints attrOr(const ir::Node& n, const std::string& key, int64_t v) { return n.getOr<ir::Ints>(key, {v, v}); }

int64_t convOut(int64_t in, int64_t k, int64_t pad, int64_t stride) { return (in + 2 * pad - k) / stride + 1; }

class ConvK6ToK5 : public RewritePattern {
 public:
  ConvK6ToK5() : RewritePattern("conv2d") {}
  std::string name() const override { return "ConvK6ToK5"; }

  bool matchAndRewrite(ir::Node* root, Rewriter& rw) const override {
    const at::Tensor w = paramTensor(rw.module(), root->input(ir::kConvWeight));
    if (!w.defined() || w.dim() != 4 || w.size(2) != 6 || w.size(3) != 6)
      return rw.notifyMatchFailure(*root, "not a 6x6 conv with a parameter weight");
    if (attrOr(*root, "dilation", 1) != ir::Ints{1, 1}) return rw.notifyMatchFailure(*root, "dilated");
    if (root->input(ir::kConvWeight)->uses().size() != 1) return rw.notifyMatchFailure(*root, "weight is shared");
    const ir::Ints stride = attrOr(*root, "stride", 1);
    ir::Ints pad = attrOr(*root, "padding", 0);
    const ir::Shape* in = knownShape(root->input(ir::kConvX));
    for (size_t d = 0; in && in->size() == 4 && d < 2; ++d)
      if (convOut((*in)[2 + d], 5, pad[d], stride[d]) != convOut((*in)[2 + d], 6, pad[d], stride[d]) && pad[d] > 0)
        --pad[d];
    rw.setTensor(root->input(ir::kConvWeight)->producer()->target(),
                 ir::convWeightInit(w.size(0), w.size(1), 5, 5));
    rw.setAttr(root, "padding", pad);
    return true;
  }
};

class ConvLargeTo3x3 : public RewritePattern {
 public:
  ConvLargeTo3x3() : RewritePattern("conv2d") {}
  std::string name() const override { return "ConvLargeTo3x3"; }

  bool matchAndRewrite(ir::Node* root, Rewriter& rw) const override {
    const at::Tensor w = paramTensor(rw.module(), root->input(ir::kConvWeight));
    if (!w.defined() || w.dim() != 4 || w.size(2) != w.size(3) || w.size(2) <= 7 || w.size(2) % 2 == 0)
      return rw.notifyMatchFailure(*root, "not a square conv with an odd kernel > 7");
    const int64_t k = w.size(2), out = w.size(0), groups = root->getOr<int64_t>("groups", 1);
    const int64_t in = w.size(1) * groups;
    const bool depthwise = groups > 1 && groups == in && groups == out;
    if (groups != 1 && !depthwise) return rw.notifyMatchFailure(*root, "grouped (not depthwise) conv");
    const ir::Ints stride = attrOr(*root, "stride", 1), pad = attrOr(*root, "padding", 0);
    if (attrOr(*root, "dilation", 1) != ir::Ints{1, 1} || stride[0] != stride[1] || pad[0] != pad[1] ||
        (pad[0] != k / 2 && pad[0] != 0))
      return rw.notifyMatchFailure(*root, "dilated, anisotropic, or padding neither k/2 nor 0");
    const bool bias = root->numInputs() > ir::kConvBias;
    ir::Value* x = root->input(ir::kConvX);
    const int64_t steps = (k - 1) / 2, p = pad[0] ? 1 : 0;
    rw.replaceWithBlock(root, "Sequential", [&](ir::ModelBuilder& b) {
      ir::Value* y = x;
      int64_t c = in;
      for (int64_t i = 0; i + 1 < steps; ++i) {
        const std::string at = std::to_string(3 * i);
        y = b.conv2d(at, y, ir::Conv2dOptions(c, out, 3).padding(p).groups(depthwise ? out : 1).bias(false));
        y = b.batchNorm2d(std::to_string(3 * i + 1), y, out);
        y = b.relu(std::to_string(3 * i + 2), y);
        c = out;
      }
      return b.conv2d(std::to_string(3 * (steps - 1)), y,
                      ir::Conv2dOptions(c, out, 3).stride(stride[0]).padding(p).groups(depthwise ? out : 1).bias(bias));
    });
    return true;
  }
};

}  // namespace

void registerConvRules(PluginRegistrar& r) {
  r.add<SurgeryRule>("conv_k6_to_k5", patternRule("6x6 conv -> 5x5 conv (re-initialised)",
                                 [] { return patternsOf<ConvK6ToK5>(); }));
  r.add<SurgeryRule>("conv_k8plus_to_3x3",
                     patternRule("conv with an odd kernel > 7 -> chained 3x3 conv+BN+ReLU (deterministic widths)",
                                 [] { return patternsOf<ConvLargeTo3x3>(); }));
}

}  // namespace edgeopt::surgery
