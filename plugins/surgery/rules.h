#pragma once
// The surgery plugin's built-in rules, one registration function per file.
// Each registers SurgeryRule factories by name (registry.h) — the same kind a
// user's plugin registers — so the stage enables every rule the same way.
#include <edgeopt/graph_module.h>
#include <edgeopt/plugin.h>
#include <edgeopt/surgery.h>

#include <functional>
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

using Patterns = std::vector<std::unique_ptr<RewritePattern>>;

// A PatternSurgeryRule whose patterns `make` builds.
class PatternListRule : public PatternSurgeryRule {
 public:
  explicit PatternListRule(std::function<Patterns()> make) : make_(std::move(make)) {}
  Patterns patterns() const override { return make_(); }

 private:
  std::function<Patterns()> make_;
};

// A factory for a rule without options made of the patterns `make` builds.
inline SurgeryRuleFactory patternRule(std::string summary, std::function<Patterns()> make) {
  SurgeryRuleFactory f;
  f.summary = std::move(summary);
  f.create = [make](const Options&) { return std::make_unique<PatternListRule>(make); };
  return f;
}

// One pattern P(arg) per argument (P() once without arguments).
template <class P, class... Args>
Patterns patternsOf(Args... args) {
  Patterns out;
  if constexpr (sizeof...(Args) == 0) out.push_back(std::make_unique<P>());
  (out.push_back(std::make_unique<P>(args)), ...);
  return out;
}

// A factory for a whole-graph rule without options.
template <class Rule>
SurgeryRuleFactory simpleRule(std::string summary) {
  SurgeryRuleFactory f;
  f.summary = std::move(summary);
  f.create = [](const Options&) { return std::make_unique<Rule>(); };
  return f;
}

// Shape of a value as shape propagation left it (the stage runs it first);
// nullptr when unknown.
const ir::Shape* knownShape(const ir::Value* v);

}  // namespace edgeopt::surgery
