// convnext_block_to_lite: a ConvNeXt block (torchvision CNBlock)
//
//   x -> dwconv 7x7 -> permute(0,2,3,1) -> LayerNorm -> Linear(C, 4C) -> GELU
//     -> Linear(4C, C) -> permute(0,3,1,2) -> * layer_scale [-> stochastic depth] -> + x
//
// becomes TI's lite block (edgeai-tensorlab surgery v2 ReplacementCNBlock),
// all NCHW, all ops an accelerator runs natively:
//
//   x -> dwconv 5x5+BN+ReLU -> dwconv 3x3+BN+ReLU -> conv 1x1 (C -> 4C)+BN+ReLU
//     -> conv 1x1 (4C -> C) -> BN -> + x
//
// with fresh, torchvision-initialised parameters (the model is retrained).
// Not exact. Matched along edges; the GELU may already be a ReLU.
#include "rules.h"

#include <edgeopt/ir/builder.h>
#include <edgeopt/ir/input_roles.h>

namespace edgeopt::surgery {
namespace {

bool dimsAre(const ir::Node& n, const ir::Ints& dims) { return n.get<ir::Ints>("dims") == dims; }

class ConvNeXtBlock : public RewritePattern {
 public:
  explicit ConvNeXtBlock(bool stochastic_depth) : RewritePattern("add", 1 + stochastic_depth), sd_(stochastic_depth) {
    x_ = p_.any();
    dw_ = p_.op("conv2d", {x_, p_.param()}).allowExtraInputs();
    auto v = p_.op("permute", {dw_}).where([](const ir::Node& n) { return dimsAre(n, {0, 2, 3, 1}); });
    v = p_.op("layer_norm", {v}).allowExtraInputs();
    v = p_.op("linear", {v, p_.param()}).allowExtraInputs();
    v = p_.oneOf({"gelu", "relu"}, {v});
    v = p_.op("linear", {v, p_.param()}).allowExtraInputs();
    v = p_.op("permute", {v}).where([](const ir::Node& n) { return dimsAre(n, {0, 3, 1, 2}); });
    Pattern::Ref scaled = p_.op("mul", {p_.param(), v}).commutative();
    if (sd_) scaled = p_.op("stochastic_depth", {scaled});
    p_.op("add", {scaled, x_}).commutative();
  }
  std::string name() const override { return sd_ ? "ConvNeXtBlock" : "ConvNeXtBlockNoDrop"; }

  bool matchAndRewrite(ir::Node* root, Rewriter& rw) const override {
    auto m = p_.match(root);
    if (!m) return rw.notifyMatchFailure(*root, "not a ConvNeXt block");
    const at::Tensor w = paramTensor(rw.module(), m->node(dw_)->input(ir::kConvWeight));
    const int64_t c = w.size(0);
    if (w.dim() != 4 || w.size(1) != 1 || m->node(dw_)->getOr<int64_t>("groups", 1) != c)
      return rw.notifyMatchFailure(*root, "its first conv is not depthwise");
    ir::Value* x = m->value(x_);
    rw.replaceWithBlock(root, "ReplacementCNBlock", [&](ir::ModelBuilder& b) {
      auto convBnRelu = [&](const std::string& name, ir::Value* y, const ir::Conv2dOptions& o) {
        auto s = b.module(name, "ConvBNRModule");
        y = b.conv2d("conv", y, o);
        y = b.batchNorm2d("bn", y, o.out);
        return b.relu("act", y);
      };
      auto s = b.module("block", "Sequential");
      ir::Value* y = convBnRelu("0", x, ir::Conv2dOptions(c, c, 5).padding(2).groups(c));
      y = convBnRelu("1", y, ir::Conv2dOptions(c, c, 3).padding(1).groups(c));
      y = convBnRelu("2", y, ir::Conv2dOptions(c, 4 * c, 1));
      y = b.conv2d("3", y, ir::Conv2dOptions(4 * c, c, 1));
      y = b.batchNorm2d("4", y, c);
      return b.add(y, x);
    });
    return true;
  }

 private:
  bool sd_;
  Pattern p_;
  Pattern::Ref x_, dw_;
};

}  // namespace

void registerConvNeXtRule(PluginRegistrar& r) {
  r.add<SurgeryRule>("convnext_block_to_lite",
                     patternRule("ConvNeXt block -> TI's lite block (dw 5x5, dw 3x3, 1x1 expand, 1x1 project, "
                                              "BN+ReLU, residual)",
                                 [] { return patternsOf<ConvNeXtBlock>(true, false); }));
}

}  // namespace edgeopt::surgery
