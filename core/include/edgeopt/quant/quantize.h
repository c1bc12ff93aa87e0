#pragma once
// Quantization on the IR: quantizer placement (the "prepare" step), the
// switches a QAT/calibration schedule flips, and the fold for export.
//
// All quantizer state lives in GraphModule buffers named after the quantizer
// node ("<node>.scale", ".zero_point", ".min_val", ".max_val",
// ".observer_mode", ".fake_quant_enabled", histogram observers also
// ".histogram", ".histogram_range"; fused conv+BN also "<conv>.bn_frozen"), so
// save/load, clone and --resume carry it without extra code.
//
// Ops (core/src/ir/ops_quant.cpp):
//   fake_quant(x, scale, zero_point, min_val, max_val, observer_mode, fake_quant_enabled
//              [, histogram, histogram_range])
//     observes (when observer_mode says so) and fake-quantizes x with the
//     kernels of quant/fake_quant.h (LibTorch's numerics, straight-through
//     gradient); attribute fused_activation relu|relu6 applies that op first.
//   bn_fold_weight(w, gamma, running_var)  w * gamma / sqrt(running_var + eps)
//   conv_bn_qat(x, w_folded_quantized, gamma, beta, running_mean, running_var, bn_frozen
//               [, bias] [, num_batches_tracked])
//     torch.ao ConvBn2d QAT: while BN trains, conv / scale_factor (+ bias) ->
//     batch_norm with batch statistics (running stats updated); frozen or in
//     eval, the folded conv: conv(x, w_q, beta + (bias - mean) * scale_factor),
//     that bias on the int32 grid when has_bias_quant (two more inputs: the
//     input and weight scales).
//   bias_quant(bias, input_scale, weight_scale)
//     a conv2d/linear bias on the int32 grid of input_scale * weight_scale,
//     as integer backends hold it (the QDQ export writes those int32 values).
#include <edgeopt/quant/scheme.h>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace edgeopt {
class GraphModule;
}

namespace edgeopt::quant {

// Per-layer bit widths: the layers are selectors (selector.h), resolved
// against the model when quantizers are placed. Later overrides win.
struct LayerOverride {
  Options options;  // validated: layers (Selectors), weight_bits, activation_bits (0: keep)
};
// Declares `overrides` (List) on a stage; overridesFromOptions validates each
// item ({layers: [...], weight_bits: 16, activation_bits: 16}) as a RecipeError.
void addOverrideOptions(OptionSchema& schema);
std::vector<LayerOverride> overridesFromOptions(const Options& options);

struct QuantizeOptions {
  Scheme scheme;
  std::vector<LayerOverride> overrides;
  bool fuse_batch_norm = true;  // conv2d -> batch_norm becomes conv_bn_qat (BN folding simulated)
  // relu|relu6 -> activation quantizer becomes one fake_quant with
  // fused_activation (same numerics, one pass instead of two; exported as
  // Relu/Clip -> QuantizeLinear -> DequantizeLinear as before).
  bool fuse_activations = true;
};

struct QuantizerCounts {
  int weight = 0;      // fake_quant nodes on weights (role "weight")
  int activation = 0;  // fake_quant nodes on activations
  int fixed = 0;       // of those, fixed-range ones (sigmoid, softmax, tanh, ...)
  int shared = 0;      // activation quantizers sharing another's buffers (cat inputs)
  int fused_conv_bn = 0;
};

// Places quantizers (a TIDL-style backend's view):
//  - fused groups conv2d [-> batch_norm] [-> relu|relu6], linear [-> relu],
//    add -> relu|relu6: one output quantizer after the group; conv/linear
//    weights quantized per layer (per-channel on axis 0 when the scheme says
//    so); weights with exact zeros (pruned) keep them (mask before fake-quant);
//  - activation quantizers on the model inputs and after every op that
//    changes the value range (add, mul, avg pools, mean, norms, activations,
//    matmul, bilinear resize, ...); none after max pool, reshape/flatten,
//    permute, slice, split, pad, dropout, nearest resize, identity;
//  - sigmoid/hardsigmoid/softmax -> fixed [0, 1], tanh -> fixed [-1, 1];
//  - cat: its inputs' quantizers share one set of buffers (one scale), the
//    output gets none; matmul inputs get symmetric quantizers;
//  - biases of layers whose input is on a per-tensor activation grid go on
//    the int32 grid of input scale x weight scale (bias_quant).
// Throws RuntimeFailure if the model already has quantizers.
QuantizerCounts insertQuantizers(GraphModule& model, const QuantizeOptions& options);
QuantizerCounts countQuantizers(const GraphModule& model);
bool isQuantized(const GraphModule& model);
// The scheme name recorded on the quantizers ("" if none).
std::string schemeName(const GraphModule& model);

// observer_mode buffer values.
enum class ObserverMode : int64_t {
  Off = 0,       // frozen
  Training = 1,  // observe in training forwards only (QAT: evaluation doesn't move ranges)
  Always = 2,    // observe in every forward (calibration runs in eval mode)
};
void setObserverMode(GraphModule& model, ObserverMode mode);  // fixed-range quantizers stay fixed
void setFakeQuantEnabled(GraphModule& model, bool on);
void setBatchNormFrozen(GraphModule& model, bool frozen);

// QAT freeze schedule (TI's defaults): BN statistics frozen from epoch
// epochs/2 - 1, observers from epochs/2 + 1 (0-based epochs; integer halves).
struct FreezeSchedule {
  int64_t bn_freeze_epoch = 0;
  int64_t observer_freeze_epoch = 0;
  static FreezeSchedule defaults(int64_t epochs);
};
// Sets BN-frozen and observer flags for `epoch` (idempotent, so resuming at
// any epoch gives the same state).
void applySchedule(GraphModule& model, const FreezeSchedule& schedule, int64_t epoch);

// Weight quantizers observe in training forwards, before the optimizer step
// moves the weights: this re-observes every weight (folded with its BN's
// current statistics where fused) so the stored ranges match the final
// weights. The qat stage calls it after training.
void refreshWeightRanges(GraphModule& model);

// Histogram observers with range_search mse: picks each range by MSE search
// over the histogram and recomputes scale/zero point. Others are unchanged.
void finalizeObservers(GraphModule& model);

// For export (use on a clone): conv_bn_qat becomes conv2d with the folded
// float weight (masked like in QAT) and bias, its weight quantizer reading the
// folded weight Param directly; the eval forward is unchanged.
void foldForExport(GraphModule& model);

}  // namespace edgeopt::quant

namespace edgeopt::quant {

// Bias calibration (TI's): each step runs a batch through the model twice,
// as the float model (fake-quantization off, the biases without the shifts
// this calibrator applied so far) and quantized (observers as set), and moves
// each quantized layer's bias by factor * (float mean - quantized mean) per
// output channel (conv_bn_qat: the BN beta; conv2d/linear: their bias).
// Keeping the shifts (not the original biases) makes it usable between QAT
// optimizer steps: the float reference follows the trained biases. Observer
// modes and enable flags are restored after each step.
class BiasCalibrator {
 public:
  explicit BiasCalibrator(GraphModule& model);
  // Returns the mean |shift| of this step.
  double step(const at::Tensor& images, double factor);

 private:
  GraphModule& model_;
  std::vector<std::pair<std::string, at::Tensor>> shifts_;  // node name -> sum of the shifts applied
};

}  // namespace edgeopt::quant
