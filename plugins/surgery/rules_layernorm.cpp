// layernorm_to_batchnorm (opt-in): a LayerNorm over the channels of an NCHW
// tensor — written as permute(0, 2, 3, 1) -> layer_norm([C]) -> permute(0, 3,
// 1, 2), as ConvNeXt and its LayerNorm2d do — becomes one BatchNorm2d(C)
// that accelerators fold into the preceding conv. Its affine weight and bias
// start from the LayerNorm's; running statistics start at 0 / 1 and are
// learned in the retraining that follows. Not exact: BatchNorm normalises
// with dataset statistics per channel, LayerNorm per pixel over channels.
#include "rules.h"

#include <edgeopt/ir/builder.h>
#include <edgeopt/ir/input_roles.h>

#include <ATen/ATen.h>

namespace edgeopt::surgery {
namespace {

bool dimsAre(const ir::Node& n, const ir::Ints& dims) { return n.get<ir::Ints>("dims") == dims; }

class ChannelLayerNormToBatchNorm : public RewritePattern {
 public:
  ChannelLayerNormToBatchNorm() : RewritePattern("permute") {
    x_ = p_.any();
    auto to_nhwc = p_.op("permute", {x_}).where([](const ir::Node& n) { return dimsAre(n, {0, 2, 3, 1}); });
    ln_ = p_.op("layer_norm", {to_nhwc}).allowExtraInputs().where(
        [](const ir::Node& n) { return n.get<ir::Ints>("normalized_shape").size() == 1; });
    p_.op("permute", {ln_}).where([](const ir::Node& n) { return dimsAre(n, {0, 3, 1, 2}); });
  }
  std::string name() const override { return "ChannelLayerNormToBatchNorm"; }

  bool matchAndRewrite(ir::Node* root, Rewriter& rw) const override {
    auto m = p_.match(root);
    if (!m) return rw.notifyMatchFailure(*root, "not permute -> layer_norm(C) -> permute back");
    ir::Node* ln = m->node(ln_);
    const int64_t c = ln->get<ir::Ints>("normalized_shape")[0];
    const double eps = ln->getOr<double>("eps", 1e-5);
    const at::Tensor gamma = ln->numInputs() > 1 ? paramTensor(rw.module(), ln->input(1)) : at::Tensor();
    const at::Tensor beta = ln->numInputs() > 2 ? paramTensor(rw.module(), ln->input(2)) : at::Tensor();
    ir::Value* bn = rw.replaceWithBlock(root, "Sequential", [&](ir::ModelBuilder& b) {
      return b.batchNorm2d("bn", m->value(x_), c, eps);
    });
    ir::Node* bn_node = bn->producer();
    if (gamma.defined()) rw.setTensor(bn_node->input(ir::kBnWeight)->producer()->target(), gamma.detach().clone());
    if (beta.defined()) rw.setTensor(bn_node->input(ir::kBnBias)->producer()->target(), beta.detach().clone());
    return true;
  }

 private:
  Pattern p_;
  Pattern::Ref x_, ln_;
};

}  // namespace

void registerLayerNormRule(PluginRegistrar& r) {
  r.add<SurgeryRule>("layernorm_to_batchnorm",
                     patternRule("LayerNorm over channels (permute, layer_norm, permute) -> BatchNorm2d (opt-in, approximate)",
                                 [] { return patternsOf<ChannelLayerNormToBatchNorm>(); }));
}

}  // namespace edgeopt::surgery
