// se_to_identity: squeeze-and-excitation blocks become identity — the
// per-channel multiply (a full-tensor broadcast that TIDL runs slowly and that
// quantizes badly) and the branch computing its gate are removed:
//
//   x ─┬─────────────────────────────────────────────────────┐
//      └ pool → conv → act [→ bn] → conv → sigmoid|hardsigmoid → mul → y
//   becomes  y = x
//
// pool is adaptive_avg_pool2d(1) (torchvision SqueezeExcitation) or
// mean over (2, 3) with keepdim (timm SqueezeExcite / EffectiveSE); act is any
// of relu, relu6, silu, hardswish, gelu (or none).
#include "rules.h"

#include <edgeopt/ir/input_roles.h>

namespace edgeopt::surgery {
namespace {

bool isGlobalPool(const ir::Node& n) {
  if (n.target() == "adaptive_avg_pool2d") return n.get<ir::Ints>("output_size") == ir::Ints{1, 1};
  ir::Ints dims = n.getOr<ir::Ints>("dim", {});
  return n.getOr<bool>("keepdim", false) && (dims == ir::Ints{2, 3} || dims == ir::Ints{-2, -1});
}

// One SE shape: with or without the activation and BN between the convs.
class SqueezeExcitation : public RewritePattern {
 public:
  SqueezeExcitation(bool act, bool bn) : RewritePattern("mul", 1 + act + bn), act_(act), bn_(bn) {
    x_ = p_.any();
    Pattern::Ref v = p_.oneOf({"adaptive_avg_pool2d", "mean"}, {x_}).where(isGlobalPool);
    v = p_.op("conv2d", {v, p_.param()}).allowExtraInputs();
    if (bn_) v = p_.op("batch_norm", {v, p_.param(), p_.param(), p_.param(), p_.param()}).allowExtraInputs();
    if (act_) v = p_.oneOf({"relu", "relu6", "silu", "hardswish", "gelu"}, {v});
    v = p_.op("conv2d", {v, p_.param()}).allowExtraInputs();
    gate_ = p_.oneOf({"sigmoid", "hardsigmoid"}, {v});
    p_.op("mul", {x_, gate_}).commutative();
  }
  std::string name() const override {
    return std::string("SqueezeExcitation") + (act_ ? "" : "NoAct") + (bn_ ? "BN" : "");
  }

  bool matchAndRewrite(ir::Node* root, Rewriter& rw) const override {
    auto m = p_.match(root);
    if (!m) return rw.notifyMatchFailure(*root, "not x * gate(conv(act(conv(pool(x)))))");
    ir::Node* gate = m->node(gate_);
    rw.replaceOp(root, {m->value(x_)});
    rw.eraseDeadChain(gate);
    return true;
  }

 private:
  bool act_, bn_;
  Pattern p_;
  Pattern::Ref x_, gate_;
};

}  // namespace

void registerSeRule(PluginRegistrar& r) {
  r.add<SurgeryRule>("se_to_identity",
                     patternRule("squeeze-and-excitation blocks (pool, conv, act, conv, sigmoid, mul) -> identity", [] {
                       Patterns out;
                       for (bool act : {true, false})
                         for (bool bn : {true, false}) out.push_back(std::make_unique<SqueezeExcitation>(act, bn));
                       return out;
                     }));
}

}  // namespace edgeopt::surgery
