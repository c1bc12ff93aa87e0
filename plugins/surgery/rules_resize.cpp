// resize_size_to_scale: interpolate by output size becomes interpolate by
// scale factor (TIDL's Resize takes scales), where the input size is known
// (shape propagation) and the rewrite is exact: every output/input ratio is
// an integer, or 1/2^n, so ATen's 1/scale coordinate mapping equals its
// in/out mapping bit for bit.
#include "rules.h"

#include <cmath>

namespace edgeopt::surgery {
namespace {

// out/in when that ratio (and its inverse) are exact in floating point.
std::optional<double> exactScale(int64_t in, int64_t out) {
  if (in <= 0 || out <= 0) return std::nullopt;
  if (out % in == 0) return static_cast<double>(out / in);
  if (in % out == 0) {
    const int64_t q = in / out;
    if ((q & (q - 1)) == 0) return 1.0 / static_cast<double>(q);
  }
  return std::nullopt;
}

class ResizeSizeToScale : public RewritePattern {
 public:
  ResizeSizeToScale() : RewritePattern("interpolate") {}
  std::string name() const override { return "ResizeSizeToScale"; }

  bool matchAndRewrite(ir::Node* root, Rewriter& rw) const override {
    if (!root->hasAttr("size")) return rw.notifyMatchFailure(*root, "already by scale");
    const ir::Shape* in = knownShape(root->input(0));
    const ir::Shape* out = knownShape(root->output());
    if (!in || !out || in->size() != 4 || out->size() != 4)
      return rw.notifyMatchFailure(*root, "input or output size unknown");
    ir::Doubles scales;
    for (size_t d = 2; d < 4; ++d) {
      auto s = exactScale((*in)[d], (*out)[d]);
      if (!s) return rw.notifyMatchFailure(*root, "output/input size ratio is not exact");
      scales.push_back(*s);
    }
    rw.removeAttr(root, "size");
    rw.setAttr(root, "scale_factor", scales);
    return true;
  }
};

}  // namespace

void registerResizeRule(PluginRegistrar& r) {
  r.add<SurgeryRule>("resize_size_to_scale",
                     patternRule("interpolate by size -> by scale factor (exact)",
                                 [] { return patternsOf<ResizeSizeToScale>(); }));
}

}  // namespace edgeopt::surgery
