#include <edgeopt/surgery.h>

namespace edgeopt {

bool PatternSurgeryRule::apply(Rewriter& rewriter, const SurgeryContext& ctx) const {
  GreedyRewriteConfig config;
  config.root_filter = [&ctx](const ir::Node& n) { return ctx.inScope(n); };
  config.on_apply = [&ctx](const std::string&, const std::string& root) { ctx.record(root); };
  return applyPatternsGreedily(rewriter, patterns(), config);
}

}  // namespace edgeopt
