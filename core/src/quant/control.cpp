// Quantizer switches, the freeze schedule, observer finalization and the
// fold for export (quant/quantize.h), plus the shared graph helpers.
#include "quant_internal.h"

#include <edgeopt/error.h>
#include <edgeopt/quant/qparams.h>
#include <edgeopt/quant/quantize.h>

#include <ATen/ATen.h>

#include <set>

namespace edgeopt::quant {
namespace detail {

bool isCall(const ir::Node* n, const std::string& op) {
  return n && n->opcode() == ir::Opcode::Call && n->target() == op;
}

std::vector<ir::Node*> callsOf(const ir::Graph& g, const std::string& op) {
  std::vector<ir::Node*> out;
  for (ir::Node* n : g.nodes())
    if (isCall(n, op)) out.push_back(n);
  return out;
}

at::Tensor paramTensor(const GraphModule& m, const ir::Value* v) {
  const ir::Node* p = v->producer();
  if (p->opcode() != ir::Opcode::Param || !m.hasTensor(p->target())) return {};
  return m.tensor(p->target());
}

std::vector<at::Tensor> inputTensors(const GraphModule& m, const ir::Node& n) {
  std::vector<at::Tensor> out;
  for (const ir::Value* v : n.inputs()) out.push_back(paramTensor(m, v));
  return out;
}

ir::Node* renameNode(ir::Graph& g, ir::Node* n, const std::string& name) {
  ir::Node* copy;
  {
    auto guard = g.insertingBefore(n);
    copy = g.call(n->target(), n->inputs(), n->attrs(), name, n->numOutputs());
  }
  copy->setScope(n->scope());
  copy->setModuleType(n->moduleType());
  for (size_t i = 0; i < n->numOutputs(); ++i) g.replaceAllUsesWith(n->output(i), copy->output(i));
  g.erase(n);
  return copy;
}

void eraseUnusedParams(GraphModule& m) {
  std::set<std::string> targets;
  for (ir::Node* n : m.graph().nodes())
    if (n->opcode() == ir::Opcode::Param && !n->output()->hasUses()) {
      targets.insert(n->target());
      m.graph().erase(n);
    }
  for (ir::Node* n : m.graph().nodes())
    if (n->opcode() == ir::Opcode::Param) targets.erase(n->target());
  for (const auto& t : targets)
    if (m.hasTensor(t)) m.removeTensor(t);
}

std::string freeTensorName(const GraphModule& m, const std::string& hint) {
  auto taken = [&](const std::string& prefix) {
    if (m.hasTensor(prefix)) return true;
    for (const auto& s : fakeQuantBufferSuffixes())
      if (m.hasTensor(prefix + "." + s)) return true;
    return false;
  };
  std::string name = hint;
  for (int i = 1; taken(name); ++i) name = hint + "_" + std::to_string(i);
  return name;
}

}  // namespace detail

namespace {

std::vector<ir::Node*> fakeQuants(const GraphModule& m) { return detail::callsOf(m.graph(), "fake_quant"); }

void fillInput(GraphModule& m, ir::Node* n, size_t index, int64_t value) {
  at::Tensor t = detail::paramTensor(m, n->input(index));
  if (!t.defined()) throw RuntimeFailure("quantization: node '" + n->name() + "' input " + std::to_string(index) + " is not a buffer");
  at::NoGradGuard no_grad;
  t.fill_(value);
}

}  // namespace

QuantizerCounts countQuantizers(const GraphModule& m) {
  QuantizerCounts c;
  for (ir::Node* n : fakeQuants(m)) {
    const bool weight = n->getOr<std::string>("role", "") == "weight";
    (weight ? c.weight : c.activation)++;
    if (n->getOr<std::string>("observer", "") == "fixed") ++c.fixed;
    c.shared += static_cast<int>(n->getOr<int64_t>("shared_inputs", 0));
  }
  c.fused_conv_bn = static_cast<int>(detail::callsOf(m.graph(), "conv_bn_qat").size());
  return c;
}

bool isQuantized(const GraphModule& m) { return !fakeQuants(m).empty(); }

std::string schemeName(const GraphModule& m) {
  for (ir::Node* n : fakeQuants(m)) return n->getOr<std::string>("scheme", "");
  return "";
}

void setObserverMode(GraphModule& m, ObserverMode mode) {
  for (ir::Node* n : fakeQuants(m))
    if (n->getOr<std::string>("observer", "") != "fixed") fillInput(m, n, kObserverMode, static_cast<int64_t>(mode));
}

void setFakeQuantEnabled(GraphModule& m, bool on) {
  for (ir::Node* n : fakeQuants(m)) fillInput(m, n, kFakeQuantEnabled, on ? 1 : 0);
}

void setBatchNormFrozen(GraphModule& m, bool frozen) {
  for (ir::Node* n : detail::callsOf(m.graph(), "conv_bn_qat")) fillInput(m, n, 6, frozen ? 1 : 0);
}

FreezeSchedule FreezeSchedule::defaults(int64_t epochs) { return {epochs / 2 - 1, epochs / 2 + 1}; }

void applySchedule(GraphModule& m, const FreezeSchedule& s, int64_t epoch) {
  setBatchNormFrozen(m, epoch >= s.bn_freeze_epoch);
  setObserverMode(m, epoch >= s.observer_freeze_epoch ? ObserverMode::Off : ObserverMode::Training);
}

void refreshWeightRanges(GraphModule& m) {
  at::NoGradGuard no_grad;
  for (ir::Node* n : fakeQuants(m)) {
    if (n->getOr<std::string>("role", "") != "weight") continue;
    at::Tensor w = detail::paramTensor(m, n->input(kX));
    const ir::Node* fold = n->input(kX)->producer();
    if (!w.defined() && detail::isCall(fold, "bn_fold_weight")) {
      const at::Tensor raw = detail::paramTensor(m, fold->input(0)), gamma = detail::paramTensor(m, fold->input(1));
      const at::Tensor var = detail::paramTensor(m, fold->input(2));
      if (raw.defined() && gamma.defined() && var.defined())
        w = raw * (gamma / at::sqrt(var + fold->getOr<double>("eps", 1e-5))).reshape({-1, 1, 1, 1});
    }
    if (!w.defined()) continue;
    std::vector<at::Tensor> in = detail::inputTensors(m, *n);
    in[kX] = w.detach();
    observe(*n, in);
  }
}

void finalizeObservers(GraphModule& m) {
  for (ir::Node* n : fakeQuants(m))
    if (n->getOr<std::string>("observer", "") != "fixed") finalizeQuantizer(*n, detail::inputTensors(m, *n));
}

void foldForExport(GraphModule& m) {
  ir::Graph& g = m.graph();
  at::NoGradGuard no_grad;
  for (ir::Node* f : detail::callsOf(g, "conv_bn_qat")) {
    ir::Node* fq = f->input(1)->producer();
    ir::Node* fold = detail::isCall(fq, "fake_quant") ? fq->input(kX)->producer() : nullptr;
    if (!detail::isCall(fold, "bn_fold_weight") || !detail::paramTensor(m, fold->input(0)).defined())
      throw RuntimeFailure("quantization: conv_bn_qat '" + f->name() + "' does not read bn_fold_weight -> fake_quant");
    const bool has_bias = f->getOr<bool>("has_bias", false);
    const at::Tensor w = detail::paramTensor(m, fold->input(0));
    const at::Tensor gamma = detail::paramTensor(m, f->input(2)), beta = detail::paramTensor(m, f->input(3));
    const at::Tensor mean = detail::paramTensor(m, f->input(4)), var = detail::paramTensor(m, f->input(5));
    const at::Tensor factor = gamma / at::sqrt(var + f->getOr<double>("eps", 1e-5));
    at::Tensor folded_w = w * factor.reshape({-1, 1, 1, 1});
    if (fq->getOr<bool>("preserve_zeros", false)) folded_w = folded_w * w.ne(0);
    const at::Tensor bias = beta + ((has_bias ? detail::paramTensor(m, f->input(7)) : at::zeros_like(mean)) - mean) * factor;
    m.setTensor(fold->input(0)->producer()->target(), folded_w);
    fq->setInput(kX, fold->input(0));
    ir::Value* bias_value;
    ir::Node* conv;
    {
      auto guard = g.insertingBefore(f);
      if (has_bias) {
        m.setTensor(f->input(7)->producer()->target(), bias);
        bias_value = f->input(7);
      } else {
        const std::string name = detail::freeTensorName(m, f->name() + ".bias");
        m.registerParameter(name, bias);
        bias_value = g.param(name);
      }
      ir::Attrs attrs;
      for (const char* key : {"stride", "padding", "dilation", "groups"})
        if (f->hasAttr(key)) attrs.emplace(key, f->attr(key));
      if (f->getOr<bool>("has_bias_quant", false)) {
        const size_t scales = 7 + (has_bias ? 1 : 0) + (f->getOr<bool>("has_num_batches_tracked", false) ? 1 : 0);
        ir::Node* bq = g.call("bias_quant", {bias_value, f->input(scales), f->input(scales + 1), f->input(scales + 2)},
                              {}, f->name() + ".bias_quant");
        bias_value = bq->output();
      }
      conv = g.call("conv2d", {f->input(0), fq->output(), bias_value}, attrs, f->name() + ".folded");
      conv->setScope(f->scope());
      conv->setModuleType(f->moduleType());
    }
    const std::string name = f->name();
    g.replaceAllUsesWith(f->output(), conv->output());
    g.erase(f);
    g.erase(fold);
    detail::renameNode(g, conv, name);
  }
  detail::eraseUnusedParams(m);
  m.lint();
}

}  // namespace edgeopt::quant
