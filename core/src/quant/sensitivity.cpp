// Per-layer quantization sensitivity (quant/sensitivity.h).
#include <edgeopt/quant/sensitivity.h>

#include "quant_internal.h"

#include <edgeopt/chunked_forward.h>
#include <edgeopt/error.h>
#include <edgeopt/passes/rewriter.h>
#include <edgeopt/quant/qparams.h>
#include <edgeopt/quant/quantize.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace edgeopt::quant {
namespace {

using ir::Node;

// Ops a conv/linear group ends with (placement quantizes the group's last
// output): walking back through them from an activation quantizer finds
// the layer it belongs to.
bool isGroupTail(const Node& n) {
  static const std::set<std::string> ops = {"relu",  "relu6",    "hardtanh", "clamp",       "leaky_relu",
                                            "silu",  "gelu",     "hardswish", "hardsigmoid", "sigmoid",
                                            "tanh",  "mish",     "elu",       "batch_norm"};
  return n.opcode() == ir::Opcode::Call && ops.count(n.target()) != 0;
}

bool feedsQuantizer(const ir::Value* v) {
  for (const Node* user : v->users())
    if (detail::isCall(user, "fake_quant")) return true;
  return false;
}

// The layer a quantizer belongs to: a weight quantizer's conv/linear; for an
// activation quantizer the op that starts its output group (conv -> BN ->
// ReLU is the conv), or the input placeholder it quantizes.
std::string layerOf(const Node& fq) {
  if (fq.getOr<std::string>("role", "") == "weight") {
    const std::vector<Node*> users = fq.output()->users();
    return users.empty() ? fq.name() : users.front()->name();
  }
  const Node* p = fq.input(kX)->producer();
  while (isGroupTail(*p) && p->numInputs() > 0) {
    const Node* q = p->input(0)->producer();
    // An op whose output has its own quantizer is a layer of its own, and so
    // is an activation after a quantizer (conv -> BN -> Hardswish quantizes
    // both the conv's output and the Hardswish's): named by the activation,
    // a selector that `overrides` can take, not by the quantizer before it.
    if (q->opcode() != ir::Opcode::Call || detail::isCall(q, "fake_quant") || feedsQuantizer(q->output())) break;
    p = q;
  }
  return p->name();
}

}  // namespace

namespace detail {

// Every quantizer of a model, switched by the sensitivity measurements and
// the float agreement: saves each one's switches and the training flag, puts
// them back when destroyed.
class QuantizerStateGuard {
 public:
  QuantizerStateGuard(GraphModule& m, const std::string& what)
      : m_(m), training_(m.isTraining()), quantizers_(callsOf(m.graph(), "fake_quant")) {
    if (quantizers_.empty()) throw RuntimeFailure(what + ": the model has no quantizers");
    for (Node* n : quantizers_)
      for (size_t i : {size_t{kObserverMode}, size_t{kFakeQuantEnabled}}) {
        at::Tensor t = paramTensor(m, n->input(i));
        if (!t.defined()) throw RuntimeFailure(what + ": quantizer '" + n->name() + "' has no switch buffers");
        saved_.emplace_back(t, t.clone());
      }
  }
  ~QuantizerStateGuard() {
    at::NoGradGuard no_grad;
    for (auto& [live, copy] : saved_) live.copy_(copy);
    m_.train(training_);
  }
  QuantizerStateGuard(const QuantizerStateGuard&) = delete;
  QuantizerStateGuard& operator=(const QuantizerStateGuard&) = delete;

  const std::vector<Node*>& quantizers() const { return quantizers_; }
  // Eval mode, observers frozen: measuring must not move a range (fixed
  // ranges are fixed anyway).
  void measureMode() {
    at::NoGradGuard no_grad;
    m_.eval();
    for (Node* fq : quantizers_)
      if (fq->getOr<std::string>("observer", "") != "fixed")
        paramTensor(m_, fq->input(kObserverMode)).fill_(static_cast<int64_t>(ObserverMode::Off));
  }
  void enable(const std::vector<Node*>& nodes, bool on) {
    at::NoGradGuard no_grad;
    for (Node* fq : nodes) paramTensor(m_, fq->input(kFakeQuantEnabled)).fill_(on ? 1 : 0);
  }
  void enableAll(bool on) { enable(quantizers_, on); }

 private:
  GraphModule& m_;
  bool training_;
  std::vector<Node*> quantizers_;
  std::vector<std::pair<at::Tensor, at::Tensor>> saved_;
};

}  // namespace detail

namespace {

struct Score {
  double sqnr_db = 0, agreement = 0;
};

}  // namespace

double sqnrDb(const std::vector<at::Tensor>& reference, const std::vector<at::Tensor>& outputs) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    const at::Tensor r = reference[i].to(at::kDouble), x = outputs[i].to(at::kDouble);
    signal += r.pow(2).sum().item<double>();
    noise += (x - r).pow(2).sum().item<double>();
  }
  if (noise <= 0 || noise <= signal * std::pow(10.0, -kExactSqnrDb / 10)) return kExactSqnrDb;
  if (signal <= 0) return -kExactSqnrDb;
  return 10 * std::log10(signal / noise);
}

SensitivityResult measureSensitivity(GraphModule& model, const std::vector<at::Tensor>& batches) {
  detail::QuantizerStateGuard guard(model, "sensitivity");
  const std::vector<Node*>& fqs = guard.quantizers();
  if (batches.empty()) throw RuntimeFailure("sensitivity: no batches to measure on");

  // Layers in graph order of their first quantizer.
  std::vector<LayerSensitivity> layers;
  std::vector<std::vector<Node*>> members;
  std::map<std::string, size_t> index;
  for (Node* fq : fqs) {
    const std::string layer = layerOf(*fq);
    auto [it, fresh] = index.emplace(layer, layers.size());
    if (fresh) {
      layers.push_back({layer, {}, 0, 0, 0, 0});
      members.emplace_back();
    }
    layers[it->second].quantizers.push_back(fq->name());
    members[it->second].push_back(fq);
  }

  at::NoGradGuard no_grad;
  guard.measureMode();
  auto enable = [&](const std::vector<Node*>& nodes, bool on) { guard.enable(nodes, on); };
  auto outputs = [&] {
    std::vector<at::Tensor> out;
    for (const at::Tensor& b : batches) out.push_back(model.forward({b})[0]);
    return out;
  };

  enable(fqs, false);
  const std::vector<at::Tensor> reference = outputs();
  SensitivityResult result;
  for (const at::Tensor& r : reference) result.examples += r.dim() > 0 ? r.size(0) : 1;
  result.has_agreement = reference.front().dim() == 2;
  std::vector<at::Tensor> reference_top1;
  if (result.has_agreement)
    for (const at::Tensor& r : reference) reference_top1.push_back(r.argmax(1));
  auto score = [&]() {
    const std::vector<at::Tensor> out = outputs();
    Score s{sqnrDb(reference, out), 0};
    if (result.has_agreement) {
      int64_t same = 0;
      for (size_t i = 0; i < out.size(); ++i) same += out[i].argmax(1).eq(reference_top1[i]).sum().item<int64_t>();
      s.agreement = 100.0 * static_cast<double>(same) / static_cast<double>(result.examples);
    }
    return s;
  };

  enable(fqs, true);
  const Score all = score();
  result.sqnr_db = all.sqnr_db;
  result.agreement = all.agreement;
  for (size_t i = 0; i < layers.size(); ++i) {
    enable(fqs, false);
    enable(members[i], true);
    const Score only = score();
    enable(fqs, true);
    enable(members[i], false);
    const Score all_but = score();
    layers[i].only_sqnr_db = only.sqnr_db;
    layers[i].only_agreement = only.agreement;
    layers[i].all_but_sqnr_db = all_but.sqnr_db;
    layers[i].all_but_agreement = all_but.agreement;
  }
  std::stable_sort(layers.begin(), layers.end(), [](const LayerSensitivity& a, const LayerSensitivity& b) {
    return a.only_sqnr_db < b.only_sqnr_db;
  });
  result.layers = std::move(layers);
  return result;
}

FloatAgreement::FloatAgreement(GraphModule& model)
    : model_(model), guard_(std::make_unique<detail::QuantizerStateGuard>(model, "float agreement")) {
  guard_->measureMode();
}

FloatAgreement::~FloatAgreement() = default;

std::vector<at::Tensor> FloatAgreement::forward(const at::Tensor& images) {
  at::NoGradGuard no_grad;
  if (images.sizes().vec() != shape_) {
    shape_ = images.sizes().vec();
    rows_ = evaluationRows(model_, images);
  }
  guard_->enableAll(false);
  const std::vector<at::Tensor> reference = forwardInPieces(model_, images, rows_);
  guard_->enableAll(true);
  std::vector<at::Tensor> out = forwardInPieces(model_, images, rows_);
  if (out.empty() || out[0].dim() != 2 || reference[0].sizes() != out[0].sizes())
    throw RuntimeFailure("float agreement: needs a classifier's [N, classes] first output");
  examples_ += out[0].size(0);
  same_ += out[0].argmax(1).eq(reference[0].argmax(1)).sum().item<int64_t>();
  return out;
}

double FloatAgreement::percent() const {
  return examples_ == 0 ? 0.0 : 100.0 * static_cast<double>(same_) / static_cast<double>(examples_);
}

}  // namespace edgeopt::quant
