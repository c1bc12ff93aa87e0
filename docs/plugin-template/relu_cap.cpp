// A template surgery rule: `relu_cap` turns every ReLU into a capped ReLU,
// hardtanh(0, max) — ReLU6 by default. A bounded activation gives 8-bit
// activation quantizers a fixed, small range, which is why TI's lite models
// keep ReLU6 where they can. Enable it from a recipe:
//   - kind: surgery
//     preset: none            # or keep TI's table and add this rule after it
//     rules: {relu_cap: {max: 6.0}}
#include <edgeopt/plugin.h>
#include <edgeopt/surgery.h>

namespace {

// A local rewrite anchored at relu nodes. The IR changes only through the
// Rewriter, and matchAndRewrite returns true exactly when it changed it.
class CapRelu : public edgeopt::RewritePattern {
 public:
  explicit CapRelu(double max) : RewritePattern("relu"), max_(max) {}
  std::string name() const override { return "CapRelu"; }

  bool matchAndRewrite(edgeopt::ir::Node* relu, edgeopt::Rewriter& rewriter) const override {
    // Same name, scope and input; a leaf nn.ReLU becomes an nn.Hardtanh.
    rewriter.replaceOpWithNewOp(relu, "hardtanh", {relu->input(0)}, {{"min_val", 0.0}, {"max_val", max_}}, "Hardtanh");
    return true;
  }

 private:
  double max_;
};

class ReluCap : public edgeopt::PatternSurgeryRule {
 public:
  explicit ReluCap(double max) : max_(max) {}
  std::vector<std::unique_ptr<edgeopt::RewritePattern>> patterns() const override {
    std::vector<std::unique_ptr<edgeopt::RewritePattern>> out;
    out.push_back(std::make_unique<CapRelu>(max_));
    return out;
  }

 private:
  double max_;
};

void registerReluCap(edgeopt::PluginRegistrar& registrar) {
  edgeopt::SurgeryRuleFactory rule;
  rule.summary = "ReLU -> hardtanh(0, max): capped activations for 8-bit quantization";
  rule.options.add("max", edgeopt::OptionType::Float).defaultValue(6.0).range(0.0, 1e6).help("the cap");
  rule.create = [](const edgeopt::Options& o) { return std::make_unique<ReluCap>(o.get<double>("max")); };
  registrar.add<edgeopt::SurgeryRule>("relu_cap", std::move(rule));
}

}  // namespace

EDGEOPT_PLUGIN("1.0.0", "capped-ReLU surgery rule (template plugin)", registerReluCap)
