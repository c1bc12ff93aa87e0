// fold-conv-bn: conv2d -> batch_norm becomes one conv2d whose weight and bias
// absorb the normalization (inference semantics: the BN's running stats):
//   scale = gamma / sqrt(running_var + eps)
//   w' = w * scale[:, None, None, None],  b' = (b - running_mean) * scale + beta
// The conv keeps its name; a conv without bias gains "<conv>.bias".
#include "passes.h"

#include <edgeopt/graph_module.h>
#include <edgeopt/ir/input_roles.h>
#include <edgeopt/passes/pattern.h>

#include <ATen/ATen.h>

namespace edgeopt::passes {
namespace {

bool onlyUser(const ir::Value* v, const ir::Node* user) {
  return v->uses().size() == 1 && v->uses()[0].user == user;
}

class FoldConvBatchNormPattern : public RewritePattern {
 public:
  FoldConvBatchNormPattern() : RewritePattern("batch_norm") {
    auto x = pattern_.any();
    conv_ = pattern_.op("conv2d", {x, pattern_.param()}).allowExtraInputs();
    bn_ = pattern_.op("batch_norm", {conv_, pattern_.param(), pattern_.param(), pattern_.param(), pattern_.param()})
              .allowExtraInputs();
  }
  std::string name() const override { return "FoldConvBatchNorm"; }

  bool matchAndRewrite(ir::Node* root, Rewriter& rewriter) const override {
    auto m = pattern_.match(root);
    if (!m) return rewriter.notifyMatchFailure(*root, "not conv2d -> batch_norm with parameter inputs");
    ir::Node* conv = m->node(conv_);
    ir::Node* bn = m->node(bn_);
    for (size_t i = 1; i < conv->numInputs(); ++i)
      if (!onlyUser(conv->input(i), conv))
        return rewriter.notifyMatchFailure(*conv, "conv parameters are shared with other nodes");
    GraphModule& module = rewriter.module();
    auto tensor = [&](ir::Node* n, size_t i) { return paramTensor(module, n->input(i)).detach(); };

    const at::Tensor w = tensor(conv, ir::kConvWeight);
    const at::Tensor scale =
        tensor(bn, ir::kBnWeight) / at::sqrt(tensor(bn, ir::kBnRunningVar) + bn->getOr<double>("eps", 1e-5));
    const at::Tensor mean = tensor(bn, ir::kBnRunningMean), beta = tensor(bn, ir::kBnBias);
    const at::Tensor bias = conv->numInputs() > ir::kConvBias ? tensor(conv, ir::kConvBias) : at::zeros_like(mean);
    std::vector<int64_t> view(static_cast<size_t>(w.dim()), 1);
    view[0] = -1;
    rewriter.setTensor(conv->input(ir::kConvWeight)->producer()->target(), w * scale.reshape(view));
    const at::Tensor folded_bias = (bias - mean) * scale + beta;
    if (conv->numInputs() > ir::kConvBias) {
      rewriter.setTensor(conv->input(ir::kConvBias)->producer()->target(), folded_bias);
    } else {
      rewriter.addInput(conv, rewriter.createParameter(conv->name() + ".bias", folded_bias, conv));
    }
    rewriter.replaceOp(bn, {conv->output()});
    return true;
  }

 private:
  Pattern pattern_;
  Pattern::Ref conv_, bn_;
};

class FoldConvBatchNorm : public Pass {
 public:
  PassResult run(GraphModule& module) override {
    std::vector<std::unique_ptr<RewritePattern>> patterns;
    patterns.push_back(std::make_unique<FoldConvBatchNormPattern>());
    return {applyPatternsGreedily(module, patterns)};
  }
};

}  // namespace

std::unique_ptr<Pass> createFoldConvBatchNorm(const Options&) { return std::make_unique<FoldConvBatchNorm>(); }

}  // namespace edgeopt::passes
