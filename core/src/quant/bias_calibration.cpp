// calibrateBiases (quant/quantize.h).
#include "quant_internal.h"

#include <edgeopt/ir/input_roles.h>
#include <edgeopt/passes/rewriter.h>
#include <edgeopt/quant/qparams.h>
#include <edgeopt/quant/quantize.h>

#include <ATen/ATen.h>

#include <map>

namespace edgeopt::quant {
namespace {

// Layers whose bias can absorb a mean shift: node name -> bias tensor.
std::map<std::string, at::Tensor> biasTargets(GraphModule& m) {
  std::map<std::string, at::Tensor> out;
  for (ir::Node* n : m.graph().nodes()) {
    if (detail::isCall(n, "conv_bn_qat")) {
      at::Tensor beta = paramTensor(m, n->input(kConvBnBeta));
      if (beta.defined()) out[n->name()] = beta;
    } else if ((detail::isCall(n, "conv2d") || detail::isCall(n, "linear")) && n->numInputs() > ir::kConvBias &&
               detail::isCall(n->input(ir::kConvWeight)->producer(), "fake_quant")) {
      // The bias tensor itself, also where bias_quant(bias, scales...) reads it.
      const ir::Node* b = n->input(ir::kConvBias)->producer();
      at::Tensor bias = paramTensor(m, detail::isCall(b, "bias_quant") ? b->input(0) : n->input(ir::kConvBias));
      if (bias.defined()) out[n->name()] = bias;
    }
  }
  return out;
}

// Per-channel (dim 1) output means of the target layers for one forward.
std::map<std::string, at::Tensor> channelMeans(GraphModule& m, const at::Tensor& images,
                                               const std::map<std::string, at::Tensor>& targets) {
  std::map<std::string, at::Tensor> means;
  m.forward({images}, [&](const ir::Node& n, const std::vector<at::Tensor>& outputs) {
    if (!targets.count(n.name())) return;
    const at::Tensor& y = outputs[0];
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < y.dim(); ++d)
      if (d != 1) dims.push_back(d);
    if (n.target() == "linear") means[n.name()] = y.reshape({-1, y.size(-1)}).mean(0);
    else means[n.name()] = y.mean(dims);
  });
  return means;
}

}  // namespace

namespace {

// Sets every quantizer's observer mode and enable flag; returns the old ones.
std::vector<std::pair<at::Tensor, at::Tensor>> switchQuantizers(GraphModule& m,
                                                                 const std::vector<std::pair<at::Tensor, at::Tensor>>* to) {
  std::vector<std::pair<at::Tensor, at::Tensor>> old;
  size_t i = 0;
  for (ir::Node* n : detail::callsOf(m.graph(), "fake_quant")) {
    at::Tensor mode = paramTensor(m, n->input(kObserverMode));
    at::Tensor enabled = paramTensor(m, n->input(kFakeQuantEnabled));
    old.emplace_back(mode.clone(), enabled.clone());
    if (to) {
      mode.copy_((*to)[i].first);
      enabled.copy_((*to)[i++].second);
    } else {
      mode.fill_(0);
      enabled.fill_(0);
    }
  }
  return old;
}

}  // namespace

BiasCalibrator::BiasCalibrator(GraphModule& model) : model_(model) {
  for (const auto& [name, bias] : biasTargets(model)) shifts_.emplace_back(name, at::zeros_like(bias.detach()));
}

double BiasCalibrator::step(const at::Tensor& images, double factor) {
  at::NoGradGuard no_grad;
  const auto targets = biasTargets(model_);
  if (targets.empty()) return 0;
  // The float reference: quantizers off, the biases without this
  // calibrator's shifts (with training in between, the trained biases).
  std::vector<std::pair<std::string, at::Tensor>> current;
  for (const auto& [name, shift] : shifts_) {
    auto it = targets.find(name);
    if (it == targets.end()) continue;
    current.emplace_back(name, it->second.clone());
    it->second.sub_(shift.to(it->second.scalar_type()));
  }
  const auto saved = switchQuantizers(model_, nullptr);
  std::map<std::string, at::Tensor> reference;
  try {
    reference = channelMeans(model_, images, targets);
  } catch (...) {
    switchQuantizers(model_, &saved);
    for (const auto& [name, bias] : current) targets.at(name).copy_(bias);
    throw;
  }
  switchQuantizers(model_, &saved);
  for (const auto& [name, bias] : current) targets.at(name).copy_(bias);
  const auto quantized = channelMeans(model_, images, targets);
  double total = 0;
  int64_t count = 0;
  for (auto& [name, applied] : shifts_) {
    auto t = targets.find(name);
    auto r = reference.find(name);
    auto q = quantized.find(name);
    if (t == targets.end() || r == reference.end() || q == quantized.end() || r->second.sizes() != t->second.sizes())
      continue;
    const at::Tensor& bias = t->second;
    const at::Tensor shift = (r->second - q->second) * factor;
    bias.add_(shift.to(bias.scalar_type()));
    applied.add_(shift.to(applied.scalar_type()));
    total += shift.abs().sum().item<double>();
    count += shift.numel();
  }
  return count ? total / static_cast<double>(count) : 0.0;
}

}  // namespace edgeopt::quant
