// Quantizer switches, the freeze schedule, observer finalization and the
// fold for export (quant/quantize.h), plus the shared graph helpers.
#include "quant_internal.h"

#include <edgeopt/error.h>
#include <edgeopt/passes/rewriter.h>
#include <edgeopt/quant/qparams.h>
#include <edgeopt/quant/quantize.h>

#include <ATen/ATen.h>

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

std::vector<at::Tensor> inputTensors(const GraphModule& m, const ir::Node& n) {
  std::vector<at::Tensor> out;
  for (const ir::Value* v : n.inputs()) out.push_back(paramTensor(m, v));
  return out;
}

}  // namespace detail

namespace {

std::vector<ir::Node*> fakeQuants(const GraphModule& m) { return detail::callsOf(m.graph(), "fake_quant"); }

void fillInput(GraphModule& m, ir::Node* n, size_t index, int64_t value) {
  at::Tensor t = paramTensor(m, n->input(index));
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
  for (ir::Node* n : detail::callsOf(m.graph(), "conv_bn_qat")) fillInput(m, n, kConvBnFrozen, frozen ? 1 : 0);
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
    at::Tensor w = paramTensor(m, n->input(kX));
    const ir::Node* fold = n->input(kX)->producer();
    if (!w.defined() && detail::isCall(fold, "bn_fold_weight")) {
      const at::Tensor raw = paramTensor(m, fold->input(kFoldWeight)), gamma = paramTensor(m, fold->input(kFoldGamma));
      const at::Tensor var = paramTensor(m, fold->input(kFoldRunningVar));
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

// Each conv_bn_qat -> bn_fold_weight -> fake_quant chain becomes conv2d(x,
// fake_quant(w folded into the module tensor), folded bias [-> bias_quant]),
// under the conv_bn_qat's name.
void foldForExport(GraphModule& m) {
  Rewriter rw(m);
  at::NoGradGuard no_grad;
  for (ir::Node* f : detail::callsOf(m.graph(), "conv_bn_qat")) {
    ir::Node* fq = f->input(kConvBnWeight)->producer();
    ir::Node* fold = detail::isCall(fq, "fake_quant") ? fq->input(kX)->producer() : nullptr;
    if (!detail::isCall(fold, "bn_fold_weight") || !paramTensor(m, fold->input(kFoldWeight)).defined())
      throw RuntimeFailure("quantization: conv_bn_qat '" + f->name() + "' does not read bn_fold_weight -> fake_quant");
    const ConvBnQatInputs in = ConvBnQatInputs::of(*f);
    auto tensor = [&](size_t i) { return paramTensor(m, f->input(i)); };
    const at::Tensor w = paramTensor(m, fold->input(kFoldWeight));
    const at::Tensor gamma = tensor(kConvBnGamma), beta = tensor(kConvBnBeta);
    const at::Tensor mean = tensor(kConvBnRunningMean), var = tensor(kConvBnRunningVar);
    const at::Tensor factor = gamma / at::sqrt(var + f->getOr<double>("eps", 1e-5));
    at::Tensor folded_w = w * factor.reshape({-1, 1, 1, 1});
    if (fq->getOr<bool>("preserve_zeros", false)) folded_w = folded_w * w.ne(0);
    const at::Tensor bias = beta + ((in.bias ? tensor(in.bias) : at::zeros_like(mean)) - mean) * factor;
    rw.setTensor(fold->input(kFoldWeight)->producer()->target(), folded_w);
    rw.setInput(fq, kX, fold->input(kFoldWeight));
    ir::Value* bias_value;
    ir::Node* conv;
    {
      auto guard = rw.insertingBefore(f);
      if (in.bias) {
        rw.setTensor(f->input(in.bias)->producer()->target(), bias);
        bias_value = f->input(in.bias);
      } else {
        bias_value = rw.createParameter(f->name() + ".bias", bias, f);
      }
      ir::Attrs attrs;
      for (const char* key : {"stride", "padding", "dilation", "groups"})
        if (f->hasAttr(key)) attrs.emplace(key, f->attr(key));
      if (in.input_scale) {
        ir::Node* bq = rw.createOp(
            "bias_quant", {bias_value, f->input(in.input_scale), f->input(in.weight_scale), f->input(in.enabled)}, {},
            f->name() + ".bias_quant");
        bias_value = bq->output();
      }
      conv = rw.createOp("conv2d", {f->input(kConvBnX), fq->output(), bias_value}, attrs, f->name() + ".folded", f);
    }
    const std::string name = f->name();
    rw.replaceOp(f, {conv->output()});
    rw.eraseNode(fold);
    rw.renameNode(conv, name);
  }
  rw.eraseUnusedParams();
  m.lint();
}

}  // namespace edgeopt::quant
