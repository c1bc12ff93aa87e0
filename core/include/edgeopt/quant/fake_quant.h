#pragma once
// EdgeOpt's fake-quantization kernels (CPU, float32), used by the fake_quant
// op. They compute exactly what LibTorch's
// at::fake_quantize_per_{tensor,channel}_affine compute, forward and
// backward, bit for bit:
//   q    = nearbyint(x * (1 / scale)) + zero_point   (round half to even)
//   y    = (clamp(q, quant_min, quant_max) - zero_point) * scale
//   dx   = dy * [quant_min <= q <= quant_max]         (straight-through)
// but in one vectorized pass that writes y and a one-byte gradient mask, and a
// backward that reads only that mask (LibTorch's backward multiplies by a
// bool tensor through type promotion; together both were ~half of a QAT step).
//
// A per-tensor quantizer may absorb the ReLU/ReLU6 in front of it (placement
// fuses them: the clamp costs no extra pass over the activation and no extra
// saved tensor):
//   y  = fakeQuant(clamp(x, lo, hi))
//   dx = lo < x < hi ? dy * [quant_min <= q <= quant_max] : 0
// which equals relu/hardtanh followed by the quantizer, forward and backward,
// including the signs of zero gradients.
//
// Non-finite inputs: LibTorch casts q to int64 (undefined for NaN/inf); here
// +inf saturates to quant_max and -inf to quant_min. Other dtypes, devices or
// grids wider than 2^20 fall back to LibTorch's kernels.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace edgeopt::ir {
class Node;
}

namespace edgeopt::quant {

// The activation folded into a per-tensor quantizer: relu = [0, inf),
// relu6 = [0, 6].
struct FusedClamp {
  float lo = 0.0f;
  float hi = 0.0f;
};
// From a fake_quant node's `fused_activation` attribute ("relu", "relu6"),
// nullopt when it has none. Throws RuntimeFailure naming the node for others.
std::optional<FusedClamp> fusedClampOf(const ir::Node& fake_quant);

// Differentiable in x (not in scale or zero point, as LibTorch's fixed-qparam
// fake quantization).
at::Tensor fakeQuantizePerTensor(const at::Tensor& x, float scale, int64_t zero_point, int64_t quant_min,
                                 int64_t quant_max, std::optional<FusedClamp> clamp = std::nullopt);
// scale (float) and zero_point (int) hold one value per slice along `axis`.
at::Tensor fakeQuantizePerChannel(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& zero_point,
                                  int64_t axis, int64_t quant_min, int64_t quant_max);

// Process-wide: route both functions to LibTorch's kernels (a fused clamp
// then runs as relu/hardtanh first). For equivalence tests and for benchmarks
// that compare against LibTorch in one run; off by default.
void setUseLibTorchKernels(bool on);
bool useLibTorchKernels();

}  // namespace edgeopt::quant
