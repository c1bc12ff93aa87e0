#pragma once
// Model surgery: rules that rewrite a model into a form an embedded
// accelerator runs well (TI's "lite" models: no SE blocks, ReLU for every
// activation, 3x3 pools, k=5 instead of k=6 convs, ...).
//
// A SurgeryRule is a plugin kind (registry.h): a factory registered under a
// name builds it from its options, and the `surgery` stage enables it by that
// name from a recipe:
//   - kind: surgery
//     rules: {my_rule: {option: 1}, gelu_to_relu: false}
//
// Most rules are local rewrites: derive from PatternSurgeryRule and return
// RewritePatterns. A rule that needs the whole graph (module-level
// replacement, input layout) derives from SurgeryRule and changes the model
// only through the Rewriter it is given.
#include <edgeopt/passes/pattern.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace edgeopt {

class GraphModule;

struct SurgeryContext {
  // Roots a rule may rewrite (the stage's `layers:` selector); empty: all.
  std::function<bool(const ir::Node&)> in_scope;
  // Called once per replacement with the name of the node (or module)
  // replaced; the stage logs and reports them.
  std::function<void(const std::string& replaced)> applied;
  bool inScope(const ir::Node& n) const { return !in_scope || in_scope(n); }
  void record(const std::string& replaced) const {
    if (applied) applied(replaced);
  }
};

class SurgeryRule {
 public:
  virtual ~SurgeryRule() = default;
  // Rewrites every match in the module through `rewriter`, calling
  // ctx.record() once per replacement; returns whether anything changed.
  virtual bool apply(Rewriter& rewriter, const SurgeryContext& ctx) const = 0;
};

// A rule made of local rewrite patterns, applied greedily until none fires.
class PatternSurgeryRule : public SurgeryRule {
 public:
  virtual std::vector<std::unique_ptr<RewritePattern>> patterns() const = 0;
  bool apply(Rewriter& rewriter, const SurgeryContext& ctx) const override;
};

}  // namespace edgeopt
