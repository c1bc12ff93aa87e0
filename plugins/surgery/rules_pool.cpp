// maxpool_k5plus_to_3x3 / avgpool_k5plus_to_3x3: a square pool with an odd
// kernel k >= 5 becomes (k - 1) / 2 chained 3x3 pools (the last one carries
// the stride), as TI's lite models do for SPP/SPPF blocks.
//
// Max pool: exact, for any stride. A max over 3x3 windows of maxima over 3x3
// windows is the max over the 5x5 window, and -inf padding composes the same
// way; output sizes agree. Accepted when padding is k/2 (each 3x3 pads 1) or
// 0 (no 3x3 pads), dilation 1, no ceil_mode.
//
// Avg pool: an approximation. Two chained 3x3 means weight a 5x5 window by
// the outer product of [1 2 3 2 1] / 9 instead of uniformly by 1/25 (larger
// kernels: the n-fold convolution of the box); near the borders
// count_include_pad applies per 3x3 step. Retraining absorbs the difference,
// which is why TI's table makes the same replacement.
#include "rules.h"

namespace edgeopt::surgery {
namespace {

class LargePoolTo3x3 : public RewritePattern {
 public:
  explicit LargePoolTo3x3(const std::string& op) : RewritePattern(op) {}
  std::string name() const override { return rootTarget() == "max_pool2d" ? "MaxPoolTo3x3" : "AvgPoolTo3x3"; }

  bool matchAndRewrite(ir::Node* root, Rewriter& rw) const override {
    const ir::Ints k = root->get<ir::Ints>("kernel_size");
    if (k.size() != 2 || k[0] != k[1] || k[0] < 5 || k[0] % 2 == 0)
      return rw.notifyMatchFailure(*root, "kernel is not square, odd and >= 5");
    const ir::Ints stride = root->hasAttr("stride") ? root->get<ir::Ints>("stride") : k;
    const ir::Ints pad = root->getOr<ir::Ints>("padding", {0, 0});
    const ir::Ints dil = root->getOr<ir::Ints>("dilation", {1, 1});
    if (stride.size() != 2 || stride[0] != stride[1] || pad.size() != 2 || pad[0] != pad[1])
      return rw.notifyMatchFailure(*root, "stride or padding differs between H and W");
    if (pad[0] != k[0] / 2 && pad[0] != 0) return rw.notifyMatchFailure(*root, "padding is neither k/2 nor 0");
    if (dil != ir::Ints{1, 1} || root->getOr<bool>("ceil_mode", false))
      return rw.notifyMatchFailure(*root, "dilation or ceil_mode");
    const int64_t steps = (k[0] - 1) / 2, p = pad[0] ? 1 : 0;
    ir::Attrs attrs = root->attrs();
    attrs.insert_or_assign("kernel_size", ir::Ints{3, 3});
    attrs.insert_or_assign("padding", ir::Ints{p, p});
    ir::Value* x = root->input(0);
    const std::string name = root->name();
    {
      auto guard = rw.insertingBefore(root);
      for (int64_t i = 0; i + 1 < steps; ++i) {
        attrs.insert_or_assign("stride", ir::Ints{1, 1});
        x = rw.createOp(rootTarget(), {x}, attrs, name + "." + std::to_string(i), root)->output();
      }
    }
    attrs.insert_or_assign("stride", stride);
    rw.replaceOpWithNewOp(root, rootTarget(), {x}, attrs);
    return true;
  }
};

}  // namespace

void registerPoolRules(PluginRegistrar& r) {
  r.add<SurgeryRule>("maxpool_k5plus_to_3x3",
                     patternRule("max pool, odd kernel >= 5 -> chained 3x3 max pools (exact)",
                                 [] { return patternsOf<LargePoolTo3x3>(std::string("max_pool2d")); }));
  r.add<SurgeryRule>("avgpool_k5plus_to_3x3",
                     patternRule("avg pool, odd kernel >= 5 -> chained 3x3 avg pools (approximate)",
                                 [] { return patternsOf<LargePoolTo3x3>(std::string("avg_pool2d")); }));
}

}  // namespace edgeopt::surgery
