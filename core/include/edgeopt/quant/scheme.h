#pragma once
// Quantization schemes: how weights and activations are quantized. A scheme
// is a preset (names as in TI's edgeai-torchmodelopt) or a custom map in the
// recipe, optionally starting from a preset:
//
//   preset: WC8_AT8                  # default
//   scheme:                          # custom (overrides the preset's fields)
//     base: WC8_AT8
//     weight: {bits: 4, symmetric: true, per_channel: true, power_of_2: false, range_max: 4}
//     activation: {bits: 8, symmetric: false, observer: moving_average, shrink_percentile: 0.01}
//
// Field meanings (TensorQuant below): bits 2..16; symmetric (signed grid,
// zero point 0) or affine (unsigned grid for <= 8 bits, int16 for 16 bits);
// per_channel (axis 0, weights only); power_of_2 scales (ceil to 2^k);
// range_max clips |range| (0: off); fixed_range [lo, hi], or `true` meaning
// [-range_max, range_max], fixes the range (no observer); observer current |
// minmax | moving_average | histogram; shrink_percentile clips that percent of
// values at each end of an activation range (0.01 = 0.01 %); range_search
// percentile | mse picks a histogram observer's final range.
#include <edgeopt/options.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace edgeopt::quant {

enum class ObserverKind {
  Current,        // the range of the tensor being quantized (weights)
  MinMax,         // running min/max over everything observed
  MovingAverage,  // exponential moving average of per-batch ranges (torch.ao's)
  Histogram,      // a growing histogram; range by percentile or MSE search
  Fixed,          // a fixed range, never observed
};
const char* toString(ObserverKind k);
ObserverKind observerKindFromString(const std::string& s);  // throws std::invalid_argument

enum class RangeSearch { Percentile, Mse };

struct TensorQuant {
  int bits = 8;
  bool symmetric = true;
  bool per_channel = false;
  bool power_of_2 = false;
  double range_max = 0;                                   // 0: no limit
  std::optional<std::pair<double, double>> fixed_range;  // observer Fixed when set
  ObserverKind observer = ObserverKind::Current;
  double averaging_constant = 0.01;  // MovingAverage
  double shrink_percentile = 0;      // percent clipped at each end (0: off)
  RangeSearch range_search = RangeSearch::Percentile;

  // The integer grid: symmetric -> [-2^(b-1), 2^(b-1)-1]; affine -> [0, 2^b-1]
  // for b <= 8, the signed int16 grid for b = 16 (ONNX has no uint16 before
  // opset 21; the grid is the same up to a zero-point shift).
  int64_t quantMin() const;
  int64_t quantMax() const;
  ObserverKind effectiveObserver() const { return fixed_range ? ObserverKind::Fixed : observer; }
};

struct Scheme {
  std::string name = "WC8_AT8";  // preset name, or "custom(<base>)"
  TensorQuant weight;
  TensorQuant activation;
};

// Preset names, in documentation order.
const std::vector<std::string>& presetNames();
// Throws std::invalid_argument listing the presets for an unknown name.
Scheme presetScheme(const std::string& name);

// Declares `preset` (String, default WC8_AT8) and `scheme` (Map) on a stage.
void addSchemeOptions(OptionSchema& schema);
// The scheme the options describe; malformed maps are RecipeErrors at the
// offending key (unknown keys, types, ranges, fixed_range without range_max).
Scheme schemeFromOptions(const Options& options);
// One line for plans and reports: "WC8_AT8: weights int8 per-channel symmetric, activations uint8 affine".
std::string describe(const Scheme& s);

}  // namespace edgeopt::quant
