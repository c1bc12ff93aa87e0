#pragma once
// Quantization parameters and observers: the arithmetic behind the
// fake_quant op (core/src/ir/ops_quant_observer.cpp), public so that tests,
// calibration and exporters compute exactly what the kernel computes.
//
// scale/zero_point follow torch.ao's observers (_calculate_qparams):
//   lo = min(min, 0), hi = max(max, 0)        (0 is always representable)
//   range_max > 0: lo >= -range_max, hi <= range_max
//   symmetric: scale = max(-lo, hi) / ((qmax - qmin) / 2), zero_point 0
//              (signed grid; an unsigned grid uses (qmin + qmax + 1) / 2)
//   affine:    scale = (hi - lo) / (qmax - qmin), zero_point = qmin - round(lo / scale)
//   scale >= float32 epsilon; power_of_2: scale = 2^ceil(log2(scale)) (then
//   the affine zero point is recomputed), where symmetric power-of-2 scales
//   divide by (qmax - qmin + 1) / 2 as TIDL does (+-4 on int8 -> 2^-5). An empty range (nothing observed)
//   gives scale 1, zero point clamp(0, qmin, qmax).
#include <edgeopt/ir/graph.h>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace edgeopt::quant {

// Inputs of the fake_quant op.
enum FakeQuantInput : size_t {
  kX = 0,
  kScale,
  kZeroPoint,
  kMinVal,
  kMaxVal,
  kObserverMode,
  kFakeQuantEnabled,
  kHistogram,       // histogram observers only
  kHistogramRange,  // [lo, hi] of the histogram's bins
};
// Buffer name suffixes, in input order from kScale ("scale", "zero_point", ...).
const std::vector<std::string>& fakeQuantBufferSuffixes();
constexpr int64_t kHistogramBins = 2048;

// Inputs of the conv_bn_qat op (torch.ao's ConvBn2d under QAT): the conv's
// input and fake-quantized weight, the BN's four tensors and the bn_frozen
// flag (1: normalize with the running stats). Optional inputs follow; their
// positions depend on the node's attributes (ConvBnQatInputs::of).
enum ConvBnQatInput : size_t {
  kConvBnX = 0,
  kConvBnWeight,
  kConvBnGamma,
  kConvBnBeta,
  kConvBnRunningMean,
  kConvBnRunningVar,
  kConvBnFrozen,
  kConvBnFixedInputs,  // how many inputs every conv_bn_qat has
};

// Where a conv_bn_qat node's optional inputs are (0: absent), in this order:
// the conv bias (attribute has_bias), the BN's num_batches_tracked
// (has_num_batches_tracked), then the input scale, the weight scale and the
// weight quantizer's enable flag that put the folded bias on the int32 grid
// (has_bias_quant).
struct ConvBnQatInputs {
  size_t bias = 0, num_batches_tracked = 0, input_scale = 0, weight_scale = 0, enabled = 0;
  size_t count = kConvBnFixedInputs;  // all inputs the node should have
  static ConvBnQatInputs of(const ir::Node& conv_bn_qat);
};

// Inputs of bn_fold_weight (w * gamma / sqrt(running_var + eps), per output
// channel): the conv weight and the BN's gamma and running_var.
enum BnFoldWeightInput : size_t { kFoldWeight = 0, kFoldGamma, kFoldRunningVar };

struct QParamSpec {
  int64_t quant_min = 0;
  int64_t quant_max = 255;
  bool symmetric = false;
  bool power_of_2 = false;
  double range_max = 0;
  // From a fake_quant node's attributes.
  static QParamSpec of(const ir::Node& fake_quant);
};

// (scale as float32, zero point) for the range [min, max].
std::pair<float, int64_t> computeQParams(double min, double max, const QParamSpec& s);
// Element-wise over min_val/max_val ([1] or [C]) into scale (float) and
// zero_point (int32) of the same shape, in place.
void writeQParams(const QParamSpec& s, const at::Tensor& min_val, const at::Tensor& max_val, const at::Tensor& scale,
                  const at::Tensor& zero_point);

// Ranges from a histogram whose bins evenly cover [lo, hi]:
// percentile clips `percent` % of the mass at each end (0: the occupied bins);
// mse searches the range with the least expected quantization error on the
// spec's grid (clipping error + rounding error), shrinking from the ends.
std::pair<double, double> percentileRange(const at::Tensor& histogram, double lo, double hi, double percent);
std::pair<double, double> mseRange(const at::Tensor& histogram, double lo, double hi, const QParamSpec& s);
// Adds x to the histogram; the first call sets the bins to [min(x), max(x)],
// later calls double the covered range (merging bin pairs exactly) until x fits.
void histogramObserve(const at::Tensor& x, const at::Tensor& histogram, const at::Tensor& range);

// The observer step of a fake_quant node: updates min_val/max_val (and the
// histogram) from x per the node's `observer` attribute, then scale and
// zero_point. Called by the kernel when the observer mode allows it.
void observe(const ir::Node& fake_quant, const std::vector<at::Tensor>& inputs);
// Recomputes scale/zero_point from min_val/max_val (and, for histogram
// observers with range_search mse, the range by MSE search first).
void finalizeQuantizer(const ir::Node& fake_quant, const std::vector<at::Tensor>& inputs);

}  // namespace edgeopt::quant
