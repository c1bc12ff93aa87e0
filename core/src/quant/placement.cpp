// insertQuantizers (quant/quantize.h): fused groups, weight quantizers,
// activation quantizers where a TIDL-style backend keeps tensors quantized.
#include "quant_internal.h"

#include <edgeopt/error.h>
#include <edgeopt/ir/input_roles.h>
#include <edgeopt/passes/pattern.h>
#include <edgeopt/passes/rewriter.h>
#include <edgeopt/quant/qparams.h>
#include <edgeopt/quant/quantize.h>
#include <edgeopt/selector.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <unordered_set>

namespace edgeopt::quant {
namespace {

using detail::isCall;
using ir::Node;
using ir::Value;

// Outputs on the input's grid (or a subset of its values): no quantizer.
bool isTransparent(const Node& n) {
  static const std::set<std::string> ops = {"max_pool2d", "flatten", "reshape", "permute",         "transpose", "identity",
                                            "dropout",    "split",   "chunk",   "slice",           "pad",       "stochastic_depth"};
  if (n.target() == "interpolate") return n.getOr<std::string>("mode", "nearest") == "nearest";
  return ops.count(n.target()) != 0;
}

std::optional<std::pair<double, double>> fixedRangeOf(const Node& n) {
  const std::string& op = n.target();
  if (op == "sigmoid" || op == "hardsigmoid" || op == "softmax") return std::make_pair(0.0, 1.0);
  if (op == "tanh") return std::make_pair(-1.0, 1.0);
  return std::nullopt;
}

bool isRelu(const Node* n) { return isCall(n, "relu") || isCall(n, "relu6"); }

// The only user of output 0 of `n`, reading it as input 0; nullptr otherwise.
Node* soleUser(const Node* n) {
  const Value* v = n->output();
  if (v->uses().size() != 1 || v->uses()[0].input_index != 0) return nullptr;
  return v->uses()[0].user;
}

// Every graph and module-tensor change goes through rw_ (passes/rewriter.h).
class Placer {
 public:
  Placer(GraphModule& m, const QuantizeOptions& o) : m_(m), rw_(m), o_(o) {
    // conv2d -> batch_norm with parameter weights and BN tensors (bias and
    // num_batches_tracked optional), the conv's output read by the BN only.
    auto x = conv_bn_.any();
    auto conv = conv_bn_.op("conv2d", {x, conv_bn_.param()}).allowExtraInputs();
    bn_ = conv_bn_.op("batch_norm", {conv, conv_bn_.param(), conv_bn_.param(), conv_bn_.param(), conv_bn_.param()})
              .allowExtraInputs();
  }

  QuantizerCounts run() {
    if (isQuantized(m_)) throw RuntimeFailure("quantization: the model already has quantizers");
    resolveOverrides();
    for (Node* n : graph().nodes()) {
      if (rw_.wasErased(n) || n->opcode() != ir::Opcode::Call) continue;
      const std::string& op = n->target();
      if (op == "conv2d") groupConv(n);
      else if (op == "linear" || op == "conv_transpose2d") groupWithRelu(n, quantizeWeight(n, op == "linear"));
      else if (op == "add") groupWithRelu(n, n);
      else if (op == "matmul") quantizeConstantOperands(n);
    }
    for (Node* n : graph().nodes()) {
      if (n->opcode() == ir::Opcode::Input && n->output()->hasUses()) quantizeOutput(n, scheme().activation, {});
      if (n->opcode() != ir::Opcode::Call || interior_.count(n) || isTransparent(*n)) continue;
      const std::string& op = n->target();
      if (op == "fake_quant" || op == "bn_fold_weight" || op == "bias_quant") continue;
      quantizeOutput(n, scheme().activation, fixedRangeOf(*n));
    }
    for (Node* n : detail::callsOf(graph(), "cat")) shareCatInputs(n);
    for (Node* n : detail::callsOf(graph(), "matmul")) symmetricMatmulInputs(n);
    for (Node* n : graph().nodes()) quantizeBias(n);
    if (o_.fuse_activations)
      for (Node* fq : detail::callsOf(graph(), "fake_quant")) fuseActivation(fq);
    rw_.eraseUnusedParams();
    m_.lint();
    QuantizerCounts c = countQuantizers(m_);
    return c;
  }

 private:
  const Scheme& scheme() const { return o_.scheme; }
  const ir::Graph& graph() const { return m_.graph(); }

  void resolveOverrides() {
    for (const auto& ov : o_.overrides) {
      const int64_t wb = ov.options.get<int64_t>("weight_bits"), ab = ov.options.get<int64_t>("activation_bits");
      for (Node* n : resolveSelectors(graph(), ov.options, "layers")) {
        if (wb) weight_bits_[n->name()] = static_cast<int>(wb);
        if (ab) activation_bits_[n->name()] = static_cast<int>(ab);
      }
    }
  }

  TensorQuant withBits(TensorQuant t, const std::map<std::string, int>& bits, const std::vector<std::string>& names) {
    for (const auto& name : names) {
      auto it = bits.find(name);
      if (it != bits.end()) t.bits = it->second;
    }
    return t;
  }

  // Adds a fake_quant node reading `x` before (or after) `anchor`, its
  // buffers' Params right before it.
  Node* addFakeQuant(Value* x, const TensorQuant& t, const std::string& role, const std::string& name_hint, Node* anchor,
                     bool after, int64_t channels, const ir::Scope& scope) {
    const bool fixed = t.effectiveObserver() == ObserverKind::Fixed;
    const bool histogram = !fixed && role == "activation" && t.observer == ObserverKind::Histogram;
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<at::Tensor> buffers = {
        at::ones({channels}, at::kFloat),
        at::full({channels}, std::clamp<int64_t>(0, t.quantMin(), t.quantMax()), at::kInt),
        at::full({channels}, fixed ? t.fixed_range->first : inf, at::kFloat),
        at::full({channels}, fixed ? t.fixed_range->second : -inf, at::kFloat),
        at::full({1}, fixed ? int64_t{0} : int64_t{1}, at::kLong),
        at::ones({1}, at::kLong)};
    if (histogram) {
      buffers.push_back(at::zeros({kHistogramBins}, at::kFloat));
      buffers.push_back(at::zeros({2}, at::kFloat));
    }
    ir::Attrs attrs = {{"quant_min", t.quantMin()},
                       {"quant_max", t.quantMax()},
                       {"axis", int64_t{t.per_channel && role == "weight" ? 0 : -1}},
                       {"symmetric", t.symmetric},
                       {"power_of_2", t.power_of_2},
                       {"range_max", t.range_max},
                       {"observer", std::string(toString(t.effectiveObserver()))},
                       {"averaging_constant", t.averaging_constant},
                       {"shrink_percentile", t.shrink_percentile},
                       {"range_search", std::string(t.range_search == RangeSearch::Mse ? "mse" : "percentile")},
                       {"role", role},
                       {"scheme", scheme().name}};
    if (fixed) {
      QParamSpec spec{t.quantMin(), t.quantMax(), t.symmetric, t.power_of_2, t.range_max};
      writeQParams(spec, buffers[2], buffers[3], buffers[0], buffers[1]);
    }
    auto guard = after ? rw_.insertingAfter(anchor) : rw_.insertingBefore(anchor);
    // The node first (reading x only), so the buffers can be placed before it
    // and named after it: "<name>.scale", "<name>.zero_point", ...
    Node* fq = rw_.createOp("fake_quant", {x}, attrs, name_hint);
    fq->setScope(scope);  // a fresh node's labels
    fq->setModuleType("FakeQuantize");
    const auto& suffixes = fakeQuantBufferSuffixes();
    const std::string prefix = m_.uniqueTensorName(fq->name(), suffixes);
    for (size_t i = 0; i < buffers.size(); ++i)
      rw_.addInput(fq, rw_.createBuffer(prefix + "." + suffixes[i], buffers[i], fq));
    return fq;
  }

  static ir::Scope parentScope(const Node* n) {
    ir::Scope s = n->scope();
    if (!s.empty() && s.back().path == n->name()) s.pop_back();
    return s;
  }

  // The weight quantizer's ranges from the weight as it will be quantized.
  void initWeightRanges(Node* fq, const at::Tensor& w) {
    std::vector<at::Tensor> in = detail::inputTensors(m_, *fq);
    in[kX] = w.detach();
    observe(*fq, in);
  }

  // Quantizes the weight (a Param) of a conv2d, conv_transpose2d or linear `n`; returns `n`.
  Node* quantizeWeight(Node* n, bool per_channel_ok) {
    Value* w = n->input(ir::kConvWeight);
    at::Tensor t = paramTensor(m_, w);
    if (!t.defined()) return n;
    TensorQuant spec = withBits(scheme().weight, weight_bits_, {n->name()});
    if (!per_channel_ok) spec.per_channel = false;
    Node* fq = addFakeQuant(w, spec, "weight", n->name() + ".weight_quant", n, false,
                            spec.per_channel ? t.size(0) : 1, parentScope(n));
    rw_.setAttr(fq, "preserve_zeros", t.eq(0).any().item<bool>());
    rw_.setInput(n, ir::kConvWeight, fq->output());
    initWeightRanges(fq, t);
    return n;
  }

  void quantizeConstantOperands(Node* n) {
    for (size_t i = 0; i < n->numInputs(); ++i) {
      at::Tensor t = paramTensor(m_, n->input(i));
      if (!t.defined()) continue;
      TensorQuant spec = withBits(scheme().weight, weight_bits_, {n->name()});
      spec.per_channel = false;
      Node* fq = addFakeQuant(n->input(i), spec, "weight", n->name() + ".weight_quant", n, false, 1, parentScope(n));
      rw_.setInput(n, i, fq->output());
      initWeightRanges(fq, t);
    }
  }

  // The batch_norm `conv` feeds that it fuses with (conv_bn_.match at the
  // BN, as fold-conv-bn matches), or nullptr.
  Node* fusableBatchNorm(Node* conv) const {
    const auto& uses = conv->output()->uses();
    if (!o_.fuse_batch_norm || uses.size() != 1) return nullptr;
    auto m = conv_bn_.match(uses[0].user);
    return m ? m->node(bn_) : nullptr;
  }

  // conv2d [-> batch_norm] [-> relu|relu6]
  void groupConv(Node* conv) {
    Node* bn = fusableBatchNorm(conv);
    if (!bn) {
      groupWithRelu(conv, quantizeWeight(conv, true));
      return;
    }
    const std::string conv_name = conv->name(), bn_name = bn->name();
    Value* w = conv->input(ir::kConvWeight);
    Value* bias = conv->numInputs() > ir::kConvBias ? conv->input(ir::kConvBias) : nullptr;
    const double eps = bn->getOr<double>("eps", 1e-5);
    TensorQuant spec = withBits(scheme().weight, weight_bits_, {conv_name, bn_name});
    const at::Tensor wt = paramTensor(m_, w);
    // New nodes go before the BN: the conv's inputs and the BN's parameters
    // are all defined there.
    Node* fold;
    {
      auto guard = rw_.insertingBefore(bn);
      std::vector<Value*> in(kFoldRunningVar + 1);
      in[kFoldWeight] = w;
      in[kFoldGamma] = bn->input(ir::kBnWeight);
      in[kFoldRunningVar] = bn->input(ir::kBnRunningVar);
      fold = rw_.createOp("bn_fold_weight", in, {{"eps", eps}}, conv_name + ".weight_fold", conv);
    }
    Node* fq = addFakeQuant(fold->output(), spec, "weight", conv_name + ".weight_quant", bn, false,
                            spec.per_channel ? wt.size(0) : 1, parentScope(conv));
    rw_.setAttr(fq, "preserve_zeros", wt.eq(0).any().item<bool>());
    const bool has_num_batches = bn->numInputs() > ir::kBnNumBatchesTracked;
    ir::Attrs attrs;
    for (const char* key : {"stride", "padding", "dilation", "groups"})
      if (conv->hasAttr(key)) attrs.emplace(key, conv->attr(key));
    attrs.emplace("eps", eps);
    attrs.emplace("momentum", bn->getOr<double>("momentum", 0.1));
    attrs.emplace("has_bias", bias != nullptr);
    attrs.emplace("has_num_batches_tracked", has_num_batches);
    attrs.emplace("bn", bn_name);
    std::vector<Value*> in(kConvBnFixedInputs);
    in[kConvBnX] = conv->input(ir::kConvX);
    in[kConvBnWeight] = fq->output();
    in[kConvBnGamma] = bn->input(ir::kBnWeight);
    in[kConvBnBeta] = bn->input(ir::kBnBias);
    in[kConvBnRunningMean] = bn->input(ir::kBnRunningMean);
    in[kConvBnRunningVar] = bn->input(ir::kBnRunningVar);
    in[kConvBnFrozen] = rw_.createBuffer(conv_name + ".bn_frozen", at::zeros({1}, at::kLong), bn);
    // The optional inputs in ConvBnQatInputs' order.
    if (bias) in.push_back(bias);
    if (has_num_batches) in.push_back(bn->input(ir::kBnNumBatchesTracked));
    Node* fused;
    {
      auto guard = rw_.insertingBefore(bn);
      fused = rw_.createOp("conv_bn_qat", in, attrs, conv_name + ".qat", conv);
    }
    rw_.replaceOp(bn, {fused->output()});
    rw_.eraseNode(conv);
    fused = rw_.renameNode(fused, conv_name);
    const at::Tensor gamma = paramTensor(m_, fused->input(kConvBnGamma));
    const at::Tensor var = paramTensor(m_, fused->input(kConvBnRunningVar));
    initWeightRanges(fq, wt * (gamma / at::sqrt(var + eps)).reshape({-1, 1, 1, 1}));
    group_members_[fused].push_back(bn_name);
    groupWithRelu(fused, fused);
  }

  // `last` ends a group that started at `first`; a following relu/relu6 joins it.
  void groupWithRelu(Node* first, Node* last) {
    std::vector<std::string> names = group_members_[last];
    names.push_back(first->name());
    if (last != first) names.push_back(last->name());
    Node* act = soleUser(last);
    if (isRelu(act)) {
      interior_.insert(last);
      names.push_back(act->name());
      last = act;
    }
    group_members_[last] = names;
  }

  void quantizeOutput(Node* n, TensorQuant spec, std::optional<std::pair<double, double>> fixed) {
    Value* v = n->output();
    if (n->numOutputs() != 1 || (!v->hasUses())) return;
    std::vector<std::string> names = group_members_.count(n) ? group_members_[n] : std::vector<std::string>{n->name()};
    spec = withBits(spec, activation_bits_, names);
    if (fixed) spec.fixed_range = fixed;
    const std::string hint = n->opcode() == ir::Opcode::Input ? n->target() + ".act_quant" : n->name() + ".act_quant";
    Node* fq = addFakeQuant(v, spec, "activation", hint, n, true, 1, parentScope(n));
    rw_.replaceAllUsesWith(v, fq->output(), [fq](Node* user) { return user != fq; });
  }

  // One scale for a cat's inputs: an input quantizer used only by this cat
  // (directly or through transparent ops) is dropped, so the cat's output
  // quantizer quantizes those values — exactly what a backend that requires
  // equal scales on concat inputs computes.
  void shareCatInputs(Node* cat) {
    const auto& out_uses = cat->output()->uses();
    if (out_uses.size() != 1 || !isCall(out_uses[0].user, "fake_quant")) return;
    Node* cat_fq = out_uses[0].user;
    int64_t shared = 0;
    for (size_t i = 0; i < cat->numInputs(); ++i) {
      Value* v = cat->input(i);
      while (v->producer()->opcode() == ir::Opcode::Call && isTransparent(*v->producer()) &&
             v->producer()->numOutputs() == 1 && v->uses().size() == 1)
        v = v->producer()->input(0);
      Node* fq = v->producer();
      if (!isCall(fq, "fake_quant") || fq->getOr<std::string>("role", "") != "activation" || v->uses().size() != 1)
        continue;
      if (fq->getOr<std::string>("observer", "") == "fixed") continue;
      rw_.replaceOp(fq, {fq->input(kX)});
      ++shared;
    }
    if (shared) rw_.setAttr(cat_fq, "shared_inputs", shared);
  }

  void symmetricMatmulInputs(Node* mm) {
    for (size_t i = 0; i < mm->numInputs(); ++i) {
      Node* p = mm->input(i)->producer();
      if (isCall(p, "fake_quant") && (p->getOr<bool>("symmetric", false) || p->getOr<std::string>("role", "") == "weight"))
        continue;
      TensorQuant spec = withBits(scheme().activation, activation_bits_, {mm->name()});
      spec.symmetric = true;
      spec.fixed_range.reset();
      if (spec.observer == ObserverKind::Current) spec.observer = ObserverKind::MovingAverage;
      Node* fq = addFakeQuant(mm->input(i), spec, "activation", mm->name() + ".input_quant", mm, false, 1, parentScope(mm));
      rw_.setInput(mm, i, fq->output());
    }
  }

  // The per-tensor activation quantizer whose grid `v` is on (through ops
  // that keep values on their input's grid), or nullptr.
  static Node* activationQuantizerOf(Value* v) {
    for (int depth = 0; depth < 32; ++depth) {
      Node* p = v->producer();
      if (isCall(p, "fake_quant"))
        return p->getOr<std::string>("role", "") == "activation" && p->getOr<int64_t>("axis", -1) < 0 ? p : nullptr;
      if (p->opcode() != ir::Opcode::Call || !isTransparent(*p)) return nullptr;
      v = p->input(0);
    }
    return nullptr;
  }

  // Biases on the int32 grid of input scale x weight scale, as the integer
  // backend (and the QDQ export's int32 biases) hold them.
  void quantizeBias(Node* n) {
    const bool fused = isCall(n, "conv_bn_qat");
    if (!fused && !isCall(n, "conv2d") && !isCall(n, "linear")) return;
    Node* wq = n->input(fused ? size_t{kConvBnWeight} : size_t{ir::kConvWeight})->producer();
    if (!isCall(wq, "fake_quant") || wq->getOr<std::string>("role", "") != "weight") return;
    Node* aq = activationQuantizerOf(n->input(fused ? size_t{kConvBnX} : size_t{ir::kConvX}));
    if (!aq) return;
    if (fused) {
      // ConvBnQatInputs' input_scale, weight_scale, enabled: they come last.
      rw_.addInput(n, aq->input(kScale));
      rw_.addInput(n, wq->input(kScale));
      rw_.addInput(n, wq->input(kFakeQuantEnabled));
      rw_.setAttr(n, "has_bias_quant", true);
      return;
    }
    if (n->numInputs() <= ir::kConvBias || !paramTensor(m_, n->input(ir::kConvBias)).defined()) return;
    auto guard = rw_.insertingBefore(n);
    Node* bq = rw_.createOp("bias_quant",
                            {n->input(ir::kConvBias), aq->input(kScale), wq->input(kScale), wq->input(kFakeQuantEnabled)},
                            {}, n->name() + ".bias_quant");
    bq->setScope(parentScope(n));  // a fresh node's label
    rw_.setInput(n, ir::kConvBias, bq->output());
  }

  // relu|relu6 -> fake_quant (its only user) becomes fake_quant with
  // fused_activation: the same values and gradients (quant/fake_quant.h) in
  // one pass over the activation instead of two, forward and backward.
  void fuseActivation(Node* fq) {
    Node* act = fq->input(kX)->producer();
    if (!isRelu(act) || soleUser(act) != fq || fq->getOr<std::string>("role", "") != "activation" ||
        fq->getOr<int64_t>("axis", -1) >= 0 || fq->getOr<std::string>("observer", "") == "fixed")
      return;
    rw_.setInput(fq, kX, act->input(0));
    rw_.setAttr(fq, "fused_activation", act->target());
    rw_.eraseNode(act);
  }

  GraphModule& m_;
  Rewriter rw_;
  const QuantizeOptions& o_;
  Pattern conv_bn_;
  Pattern::Ref bn_;
  std::map<std::string, int> weight_bits_, activation_bits_;
  std::unordered_set<const Node*> interior_;
  std::map<const Node*, std::vector<std::string>> group_members_;
};

}  // namespace

QuantizerCounts insertQuantizers(GraphModule& model, const QuantizeOptions& options) {
  return Placer(model, options).run();
}

}  // namespace edgeopt::quant
