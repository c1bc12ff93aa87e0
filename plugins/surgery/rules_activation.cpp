// <act>_to_relu: each activation TIDL-class accelerators run slowly or not at
// all becomes ReLU (TI's lite models). Each is its own rule so a recipe can
// keep one (`rules: {gelu_to_relu: false}`); the stage's
// `all_activation_to_relu` switches them all.
//   relu6_to_relu        relu6, and hardtanh(0, 6) as TorchScript spells ReLU6
//   gelu_to_relu, silu_to_relu, hardswish_to_relu, hardsigmoid_to_relu,
//   leaky_relu_to_relu
// In-place activations need no rule: importers already make every op
// out-of-place (the IR has no in-place ops).
#include "rules.h"

namespace edgeopt::surgery {
namespace {

class ActivationToRelu : public RewritePattern {
 public:
  explicit ActivationToRelu(const std::string& op) : RewritePattern(op) {}
  std::string name() const override { return rootTarget() + "_to_relu"; }

  bool matchAndRewrite(ir::Node* root, Rewriter& rw) const override {
    if (root->target() == "hardtanh" &&
        (root->getOr<double>("min_val", -1.0) != 0.0 || root->getOr<double>("max_val", 1.0) != 6.0))
      return rw.notifyMatchFailure(*root, "hardtanh is not ReLU6 (bounds other than 0 and 6)");
    rw.replaceOpWithNewOp(root, "relu", {root->input(0)}, {}, "ReLU");
    return true;
  }
};

void add(PluginRegistrar& r, const std::string& name, std::vector<std::string> ops, const std::string& what) {
  r.add<SurgeryRule>(name, patternRule(what + " -> ReLU", [ops] {
                       Patterns out;
                       for (const auto& op : ops) out.push_back(std::make_unique<ActivationToRelu>(op));
                       return out;
                     }));
}

}  // namespace

void registerActivationRules(PluginRegistrar& r) {
  add(r, "relu6_to_relu", {"relu6", "hardtanh"}, "ReLU6 (and hardtanh(0, 6))");
  add(r, "gelu_to_relu", {"gelu"}, "GELU");
  add(r, "silu_to_relu", {"silu"}, "SiLU");
  add(r, "hardswish_to_relu", {"hardswish"}, "Hardswish");
  add(r, "hardsigmoid_to_relu", {"hardsigmoid"}, "Hardsigmoid");
  add(r, "leaky_relu_to_relu", {"leaky_relu"}, "LeakyReLU");
}

}  // namespace edgeopt::surgery
