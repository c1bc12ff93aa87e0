#pragma once
// The surgery plugin's built-in rules, one registration function per file.
// Each registers SurgeryRule factories by name (registry.h) — the same kind a
// user's plugin registers — so the stage enables every rule the same way.
#include <edgeopt/graph_module.h>
#include <edgeopt/plugin.h>
#include <edgeopt/surgery.h>

#include <memory>
#include <string>
#include <vector>

namespace edgeopt::surgery {

void registerActivationRules(PluginRegistrar& r);  // <act>_to_relu
void registerSeRule(PluginRegistrar& r);           // se_to_identity
void registerPoolRules(PluginRegistrar& r);        // maxpool_k5plus_to_3x3, avgpool_k5plus_to_3x3
void registerConvRules(PluginRegistrar& r);        // conv_k6_to_k5, conv_k8plus_to_3x3
void registerResizeRule(PluginRegistrar& r);       // resize_size_to_scale
void registerInputLayoutRule(PluginRegistrar& r);  // input_permute_to_nchw
void registerFocusRule(PluginRegistrar& r);        // focus_to_reshape
void registerLayerNormRule(PluginRegistrar& r);    // layernorm_to_batchnorm
void registerConvNeXtRule(PluginRegistrar& r);     // convnext_block_to_lite

// A factory for a rule without options.
template <class Rule>
SurgeryRuleFactory simpleRule(std::string summary) {
  SurgeryRuleFactory f;
  f.summary = std::move(summary);
  f.create = [](const Options&) { return std::make_unique<Rule>(); };
  return f;
}

// A PatternSurgeryRule holding one RewritePattern type.
template <class P>
class SinglePatternRule : public PatternSurgeryRule {
 public:
  std::vector<std::unique_ptr<RewritePattern>> patterns() const override {
    std::vector<std::unique_ptr<RewritePattern>> out;
    out.push_back(std::make_unique<P>());
    return out;
  }
};

// Shape of a value as shape propagation left it (the stage runs it first);
// nullptr when unknown.
const ir::Shape* knownShape(const ir::Value* v);

}  // namespace edgeopt::surgery
