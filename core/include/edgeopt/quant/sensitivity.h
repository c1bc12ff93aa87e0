#pragma once
// Per-layer quantization sensitivity: which quantized layers cost the most.
// Each layer's quantizers (its weight quantizer and the activation quantizer
// of its output group) are switched on alone ("only": the error that layer
// adds by itself) and switched off alone ("all but": what is left when that
// layer stays float), on the same batches, against the float model (every
// quantizer off). Scores: SQNR of the model's first output in dB and, for
// [N, classes] outputs, top-1 agreement with the float model. AIMET's
// per-layer analysis and torch.ao's Numeric Suite compare the same things;
// the layer names are what a quantization `overrides` selector matches, so
// the table says where 16-bit overrides pay.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace edgeopt {
class GraphModule;
}

namespace edgeopt::quant {
namespace detail {
class QuantizerStateGuard;
}

// SQNR when the outputs are identical (no noise): the score's ceiling.
constexpr double kExactSqnrDb = 300.0;

struct LayerSensitivity {
  std::string layer;                    // an override selector for it
  std::vector<std::string> quantizers;  // its fake_quant nodes
  double only_sqnr_db = 0, only_agreement = 0;        // only this layer quantized
  double all_but_sqnr_db = 0, all_but_agreement = 0;  // everything but this layer quantized
};

struct SensitivityResult {
  int64_t examples = 0;
  bool has_agreement = false;         // the output is [N, classes]
  double sqnr_db = 0, agreement = 0;  // every quantizer on
  std::vector<LayerSensitivity> layers;  // most sensitive first: lowest only_sqnr_db
};

// Runs the model in eval mode without gradients on `batches` (model inputs,
// one tensor each); observers do not record meanwhile. Every quantizer's
// enabled flag and observer mode, and the model's training flag, are as
// they were when it returns (or throws).
SensitivityResult measureSensitivity(GraphModule& model, const std::vector<at::Tensor>& batches);

// Top-1 agreement of a quantized classifier with its own float model (every
// quantizer off), counted over every batch it is given: the evaluate stage's
// `float_agreement` scores it on the whole val split, where the sensitivity
// table's agreement covers its few batches. While it lives the model is in
// eval mode with its observers off; the quantizer switches, observer modes
// and training flag are put back when it is destroyed (also on a throw).
class FloatAgreement {
 public:
  explicit FloatAgreement(GraphModule& model);  // RuntimeFailure without quantizers
  ~FloatAgreement();
  FloatAgreement(const FloatAgreement&) = delete;
  FloatAgreement& operator=(const FloatAgreement&) = delete;

  // The quantized model's outputs for `images` (without gradients, in the
  // evaluation's cache-sized pieces); the images also run with every
  // quantizer off, and the examples whose top-1 class (argmax over dim 1 of
  // the first output, which must be [N, classes]) is the same both ways are
  // counted.
  std::vector<at::Tensor> forward(const at::Tensor& images);
  int64_t examples() const { return examples_; }
  int64_t same() const { return same_; }
  double percent() const;  // 100 same / examples; 0 before any example

 private:
  GraphModule& model_;
  std::unique_ptr<detail::QuantizerStateGuard> guard_;
  std::vector<int64_t> shape_;  // the batch shape rows_ was worked out for
  int64_t rows_ = 0;
  int64_t examples_ = 0, same_ = 0;
};

// 10 log10(sum ref^2 / sum (x - ref)^2) over all tensors, capped at kExactSqnrDb.
double sqnrDb(const std::vector<at::Tensor>& reference, const std::vector<at::Tensor>& outputs);

}  // namespace edgeopt::quant
