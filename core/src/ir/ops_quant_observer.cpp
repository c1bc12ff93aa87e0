// Observers and quantization parameters of the fake_quant op (quant/qparams.h).
// Kept in the IR library with the op so the IR stays self-contained.
#include <edgeopt/error.h>
#include <edgeopt/quant/fake_quant.h>
#include <edgeopt/quant/qparams.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace edgeopt::quant {
namespace {

constexpr double kEps = 1.1920928955078125e-07;  // torch.finfo(torch.float32).eps, torch.ao's minimum scale
constexpr int64_t kBatchBins = 1024;             // per-batch range shrink
constexpr int64_t kMaxShrinkSamples = 65536;

double ceilPowerOf2(double s) { return std::pow(2.0, std::ceil(std::log2(s))); }

std::vector<double> toVector(const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// The values a quantizer with a fused ReLU/ReLU6 quantizes.
at::Tensor clamped(const at::Tensor& x, const std::optional<FusedClamp>& clamp) {
  if (!clamp) return x;
  return std::isinf(clamp->hi) ? at::clamp_min(x, clamp->lo) : at::clamp(x, clamp->lo, clamp->hi);
}

// The range of one batch (of clamp(x) with a fused activation): exact, or
// with `percent` % clipped at each end, estimated from a strided sample of at
// most 64 Ki values. The sample is read with a plain loop: no extra ATen
// kernels (each costs a parallel region, expensive on a busy machine) for
// every quantizer on every training step.
std::pair<double, double> batchRange(const at::Tensor& x, double percent, const std::optional<FusedClamp>& clamp) {
  // The sampled path reads memory in order: any dense layout (channels-last too) will do.
  if (percent <= 0 || !x.is_non_overlapping_and_dense() || x.scalar_type() != at::kFloat || x.numel() == 0) {
    // clamp is monotone: the clamped extremes are the extremes of the clamped values.
    at::Tensor flat = percent <= 0 ? x : clamped(x, clamp);  // reductions over all elements: no reshape copy
    auto [mn, mx] = at::aminmax(flat);
    double lo = mn.item<double>(), hi = mx.item<double>();
    if (!std::isfinite(lo) || !std::isfinite(hi))
      throw RuntimeFailure("quantization observer: the tensor holds NaN or infinite values");
    if (clamp && percent <= 0) {
      lo = std::clamp<double>(lo, clamp->lo, clamp->hi);
      hi = std::clamp<double>(hi, clamp->lo, clamp->hi);
    }
    if (percent <= 0 || hi <= lo) return {lo, hi};
    return percentileRange(at::histc(flat.to(at::kFloat), kBatchBins, lo, hi), lo, hi, percent);
  }
  const float* data = x.data_ptr<float>();
  const int64_t n = x.numel();
  const int64_t stride = n > kMaxShrinkSamples ? (n / kMaxShrinkSamples) | 1 : 1;  // odd: no aliasing with W, H*W
  const float clamp_lo = clamp ? clamp->lo : -std::numeric_limits<float>::infinity();
  const float clamp_hi = clamp ? clamp->hi : std::numeric_limits<float>::infinity();
  auto value = [&](int64_t i) { return clamp ? std::min(std::max(data[i], clamp_lo), clamp_hi) : data[i]; };
  float lo = value(0), hi = value(0);
  for (int64_t i = 0; i < n; i += stride) {
    lo = std::min(lo, value(i));
    hi = std::max(hi, value(i));
  }
  if (!std::isfinite(lo) || !std::isfinite(hi))
    throw RuntimeFailure("quantization observer: the tensor holds NaN or infinite values");
  if (hi <= lo) return {lo, hi};
  std::vector<double> hist(kBatchBins, 0.0);
  const double bin = static_cast<double>(kBatchBins) / (static_cast<double>(hi) - lo);
  for (int64_t i = 0; i < n; i += stride) {
    const auto k = static_cast<int64_t>((static_cast<double>(value(i)) - lo) * bin);
    hist[static_cast<size_t>(std::clamp<int64_t>(k, 0, kBatchBins - 1))] += 1;
  }
  return percentileRange(at::from_blob(hist.data(), {kBatchBins}, at::kDouble), lo, hi, percent);
}

void updateRange(const std::string& kind, double averaging, const at::Tensor& min_val, const at::Tensor& max_val,
                 const at::Tensor& mn, const at::Tensor& mx) {
  // An observer that saw nothing yet has min > max (+inf, -inf).
  const bool first = (min_val > max_val).any().item<bool>();
  if (kind == "current" || first) {
    min_val.copy_(mn);
    max_val.copy_(mx);
  } else if (kind == "minmax") {
    min_val.copy_(at::minimum(min_val, mn));
    max_val.copy_(at::maximum(max_val, mx));
  } else if (kind == "moving_average") {
    min_val.add_((mn - min_val) * averaging);
    max_val.add_((mx - max_val) * averaging);
  } else {
    throw RuntimeFailure("quantization observer: unknown observer '" + kind + "'");
  }
}

// Per-channel observers on axis 0 of a contiguous float tensor (the weight
// quantizers, every training step): per-row min/max, the range update and the
// quantization parameters in plain loops, computing what the tensor path
// (aminmax, updateRange, writeQParams) computes without ~10 small ATen ops
// per weight. Returns false (nothing done) for other layouts or dtypes.
bool observePerChannelRows(const ir::Node& n, const std::string& kind, double averaging, const at::Tensor& x,
                           const std::vector<at::Tensor>& in) {
  const at::Tensor &min_val = in[kMinVal], &max_val = in[kMaxVal], &scale = in[kScale], &zero_point = in[kZeroPoint];
  const int64_t rows = x.dim() > 0 ? x.size(0) : 0;
  auto plain = [rows](const at::Tensor& t, at::ScalarType type) {
    return t.is_contiguous() && t.scalar_type() == type && t.numel() == rows && t.device().is_cpu();
  };
  // Contiguous or channels-last: either way each dim-0 row is one block of `cols` values.
  const bool rows_are_blocks = x.is_contiguous() || (x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast));
  if (rows == 0 || !rows_are_blocks || x.scalar_type() != at::kFloat || x.numel() % rows != 0 ||
      !plain(min_val, at::kFloat) || !plain(max_val, at::kFloat) || !plain(scale, at::kFloat) ||
      !plain(zero_point, at::kInt) || (kind != "current" && kind != "minmax" && kind != "moving_average"))
    return false;
  const int64_t cols = x.numel() / rows;
  if (cols == 0) return false;
  const float* data = x.data_ptr<float>();
  float* mn = min_val.data_ptr<float>();
  float* mx = max_val.data_ptr<float>();
  std::vector<float> lo(static_cast<size_t>(rows)), hi(static_cast<size_t>(rows));
  bool first = false;  // as updateRange: any channel without a range resets all
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = data + r * cols;
    float a = row[0], b = row[0];
    for (int64_t c = 1; c < cols; ++c) {
      a = std::min(a, row[c]);
      b = std::max(b, row[c]);
    }
    if (!std::isfinite(a) || !std::isfinite(b))
      throw RuntimeFailure("quantization observer: the tensor holds NaN or infinite values");
    lo[static_cast<size_t>(r)] = a;
    hi[static_cast<size_t>(r)] = b;
    first = first || mn[r] > mx[r];
  }
  const auto avg = static_cast<float>(averaging);  // ATen multiplies float tensors by a float scalar
  const QParamSpec spec = QParamSpec::of(n);
  float* sp = scale.data_ptr<float>();
  int32_t* zp = zero_point.data_ptr<int32_t>();
  for (int64_t r = 0; r < rows; ++r) {
    const float a = lo[static_cast<size_t>(r)], b = hi[static_cast<size_t>(r)];
    if (kind == "current" || first) {
      mn[r] = a;
      mx[r] = b;
    } else if (kind == "minmax") {
      mn[r] = std::min(mn[r], a);
      mx[r] = std::max(mx[r], b);
    } else {
      mn[r] = mn[r] + (a - mn[r]) * avg;
      mx[r] = mx[r] + (b - mx[r]) * avg;
    }
    const auto [s, z] = computeQParams(mn[r], mx[r], spec);
    sp[r] = s;
    zp[r] = static_cast<int32_t>(z);
  }
  return true;
}

}  // namespace

const std::vector<std::string>& fakeQuantBufferSuffixes() {
  static const std::vector<std::string> suffixes = {"scale",         "zero_point",         "min_val",   "max_val",
                                                    "observer_mode", "fake_quant_enabled", "histogram", "histogram_range"};
  return suffixes;
}

QParamSpec QParamSpec::of(const ir::Node& n) {
  QParamSpec s;
  s.quant_min = n.get<int64_t>("quant_min");
  s.quant_max = n.get<int64_t>("quant_max");
  s.symmetric = n.getOr<bool>("symmetric", false);
  s.power_of_2 = n.getOr<bool>("power_of_2", false);
  s.range_max = n.getOr<double>("range_max", 0.0);
  return s;
}

std::pair<float, int64_t> computeQParams(double min, double max, const QParamSpec& s) {
  const int64_t qmin = s.quant_min, qmax = s.quant_max;
  if (!std::isfinite(min) || !std::isfinite(max) || min > max) return {1.0f, std::clamp<int64_t>(0, qmin, qmax)};
  double lo = std::min(min, 0.0), hi = std::max(max, 0.0);
  if (s.range_max > 0) {
    lo = std::max(lo, -s.range_max);
    hi = std::min(hi, s.range_max);
  }
  double scale;
  if (s.symmetric && s.power_of_2) {  // TIDL: 2^(b-1) steps per side, so +-4 on 8 bits is 2^-5
    scale = std::max(-lo, hi) / (static_cast<double>(qmax - qmin + 1) / 2.0);
  } else if (s.symmetric) {
    scale = std::max(-lo, hi) / (static_cast<double>(qmax - qmin) / 2.0);
  } else {
    scale = (hi - lo) / static_cast<double>(qmax - qmin);
  }
  scale = std::max(scale, kEps);
  if (s.power_of_2) scale = ceilPowerOf2(scale);
  const float scale_f = static_cast<float>(scale);
  int64_t zp;
  if (s.symmetric) {
    zp = qmin < 0 ? 0 : (qmin + qmax + 1) / 2;
  } else {
    zp = qmin - static_cast<int64_t>(std::nearbyint(static_cast<float>(lo) / scale_f));
    zp = std::clamp(zp, qmin, qmax);
  }
  return {scale_f, zp};
}

void writeQParams(const QParamSpec& s, const at::Tensor& min_val, const at::Tensor& max_val, const at::Tensor& scale,
                  const at::Tensor& zero_point) {
  at::Tensor mn = min_val.detach().to(at::kFloat).contiguous(), mx = max_val.detach().to(at::kFloat).contiguous();
  at::Tensor sc = at::empty({mn.numel()}, at::kFloat), zp = at::empty({mn.numel()}, at::kInt);
  for (int64_t i = 0; i < mn.numel(); ++i) {
    auto [a, b] = computeQParams(mn.data_ptr<float>()[i], mx.data_ptr<float>()[i], s);
    sc.data_ptr<float>()[i] = a;
    zp.data_ptr<int32_t>()[i] = static_cast<int32_t>(b);
  }
  at::NoGradGuard no_grad;
  scale.copy_(sc.view(scale.sizes()));
  zero_point.copy_(zp.view(zero_point.sizes()));
}

std::pair<double, double> percentileRange(const at::Tensor& histogram, double lo, double hi, double percent) {
  const std::vector<double> h = toVector(histogram);
  const size_t bins = h.size();
  double total = 0;
  for (double v : h) total += v;
  if (total <= 0 || bins == 0) return {lo, hi};
  const double w = (hi - lo) / static_cast<double>(bins), threshold = percent / 100.0 * total;
  size_t a = 0, b = bins;  // kept bins: [a, b)
  for (double cum = 0; a < bins; ++a) {
    cum += h[a];
    if (cum > threshold) break;
  }
  for (double cum = 0; b > a + 1; --b) {
    cum += h[b - 1];
    if (cum > threshold) break;
  }
  return {lo + static_cast<double>(a) * w, lo + static_cast<double>(b) * w};
}

std::pair<double, double> mseRange(const at::Tensor& histogram, double lo, double hi, const QParamSpec& s) {
  const std::vector<double> h = toVector(histogram);
  const size_t bins = h.size();
  if (bins == 0 || hi <= lo) return {lo, hi};
  const double w = (hi - lo) / static_cast<double>(bins);
  const double levels = static_cast<double>(s.quant_max - s.quant_min);
  // Expected squared error of quantizing the histogram to the grid covering [r0, r1].
  auto error = [&](double r0, double r1) {
    double rlo = std::min(r0, 0.0), rhi = std::max(r1, 0.0);
    if (s.symmetric) {
      rhi = std::max(-rlo, rhi);
      rlo = -rhi;
    }
    const double delta = (rhi - rlo) / levels, rounding = delta * delta / 12.0;
    double e = 0;
    for (size_t i = 0; i < bins; ++i) {
      if (h[i] == 0) continue;
      const double c = lo + (static_cast<double>(i) + 0.5) * w;
      const double d = c < rlo ? rlo - c : (c > rhi ? c - rhi : 0.0);
      e += h[i] * (d * d + rounding);
    }
    return e;
  };
  size_t a = 0, b = bins;
  double best = error(lo, hi);
  std::pair<double, double> range{lo, hi};
  const size_t min_width = std::max<size_t>(bins / 64, 2);
  // Greedy: drop an end bin, keeping the mass dropped on both sides balanced
  // (empty bins go first), and keep the best range seen.
  double dropped_left = 0, dropped_right = 0;
  while (b - a > min_width) {
    if (dropped_left + h[a] <= dropped_right + h[b - 1]) dropped_left += h[a++];
    else dropped_right += h[--b];
    const double r0 = lo + static_cast<double>(a) * w, r1 = lo + static_cast<double>(b) * w;
    const double e = error(r0, r1);
    if (e < best) {
      best = e;
      range = {r0, r1};
    }
  }
  return range;
}

void histogramObserve(const at::Tensor& x, const at::Tensor& histogram, const at::Tensor& range) {
  at::NoGradGuard no_grad;
  auto [mn, mx] = at::aminmax(x.detach());
  const double xmin = mn.item<double>(), xmax = mx.item<double>();
  if (!std::isfinite(xmin) || !std::isfinite(xmax))
    throw RuntimeFailure("quantization observer: the tensor holds NaN or infinite values");
  double lo = range[0].item<double>(), hi = range[1].item<double>();
  const int64_t bins = histogram.numel();
  if (!(hi > lo)) {
    lo = xmin;
    hi = xmax > xmin ? xmax : xmin + std::max(1e-6, std::abs(xmin) * 1e-6);
    histogram.zero_();
  }
  for (int i = 0; i < 64 && (xmin < lo || xmax > hi); ++i) {
    // Double the range; old bin pairs merge exactly into new bins.
    at::Tensor merged = histogram.view({bins / 2, 2}).sum(1);
    at::Tensor zeros = at::zeros({bins / 2}, histogram.options());
    const bool left = xmin < lo;
    histogram.copy_(left ? at::cat({zeros, merged}) : at::cat({merged, zeros}));
    if (left) lo -= hi - lo;
    else hi += hi - lo;
  }
  histogram.add_(at::histc(x.detach().to(at::kFloat).reshape(-1), bins, lo, hi).to(histogram.scalar_type()));
  range[0].fill_(lo);
  range[1].fill_(hi);
}

void observe(const ir::Node& n, const std::vector<at::Tensor>& in) {
  const std::string kind = n.getOr<std::string>("observer", "minmax");
  if (kind == "fixed") return;
  at::NoGradGuard no_grad;
  const std::optional<FusedClamp> clamp = fusedClampOf(n);
  const at::Tensor x = in[kX].detach();
  const at::Tensor& min_val = in[kMinVal];
  const at::Tensor& max_val = in[kMaxVal];
  const int64_t axis = n.getOr<int64_t>("axis", -1);
  const double averaging = n.getOr<double>("averaging_constant", 0.01);
  if (axis == 0 && observePerChannelRows(n, kind, averaging, x, in)) {
    return;
  } else if (axis >= 0) {
    at::Tensor per_channel = clamped(x, clamp).transpose(0, axis).reshape({x.size(axis), -1});
    auto [mn, mx] = at::aminmax(per_channel, 1);
    updateRange(kind, averaging, min_val, max_val, mn.view(min_val.sizes()), mx.view(max_val.sizes()));
  } else if (kind == "histogram") {
    if (in.size() <= kHistogramRange) throw RuntimeFailure("fake_quant '" + n.name() + "': histogram observer without histogram buffers");
    histogramObserve(clamped(x, clamp), in[kHistogram], in[kHistogramRange]);
    auto [lo, hi] = percentileRange(in[kHistogram], in[kHistogramRange][0].item<double>(),
                                    in[kHistogramRange][1].item<double>(), n.getOr<double>("shrink_percentile", 0.0));
    min_val.fill_(lo);
    max_val.fill_(hi);
  } else if (min_val.is_contiguous() && min_val.scalar_type() == at::kFloat && min_val.numel() == 1 &&
             in[kScale].scalar_type() == at::kFloat && in[kZeroPoint].scalar_type() == at::kInt) {
    // Per tensor, every training step: scalars in plain C++, no small ATen ops.
    auto [lo, hi] = batchRange(x, n.getOr<double>("shrink_percentile", 0.0), clamp);
    float& mn = *min_val.data_ptr<float>();
    float& mx = *max_val.data_ptr<float>();
    if (kind == "current" || mn > mx) {
      mn = static_cast<float>(lo);
      mx = static_cast<float>(hi);
    } else if (kind == "minmax") {
      mn = std::min(mn, static_cast<float>(lo));
      mx = std::max(mx, static_cast<float>(hi));
    } else if (kind == "moving_average") {
      mn += static_cast<float>((lo - mn) * averaging);
      mx += static_cast<float>((hi - mx) * averaging);
    } else {
      throw RuntimeFailure("quantization observer: unknown observer '" + kind + "'");
    }
    auto [scale, zp] = computeQParams(mn, mx, QParamSpec::of(n));
    *in[kScale].data_ptr<float>() = scale;
    *in[kZeroPoint].data_ptr<int32_t>() = static_cast<int32_t>(zp);
    return;
  } else {
    auto [lo, hi] = batchRange(x, n.getOr<double>("shrink_percentile", 0.0), clamp);
    updateRange(kind, averaging, min_val, max_val, at::full(min_val.sizes(), lo, min_val.options()),
                at::full(max_val.sizes(), hi, max_val.options()));
  }
  writeQParams(QParamSpec::of(n), min_val, max_val, in[kScale], in[kZeroPoint]);
}

void finalizeQuantizer(const ir::Node& n, const std::vector<at::Tensor>& in) {
  at::NoGradGuard no_grad;
  const QParamSpec spec = QParamSpec::of(n);
  if (n.getOr<std::string>("observer", "") == "histogram" && n.getOr<std::string>("range_search", "") == "mse" &&
      in.size() > kHistogramRange && in[kHistogram].sum().item<double>() > 0) {
    auto [lo, hi] = mseRange(in[kHistogram], in[kHistogramRange][0].item<double>(),
                             in[kHistogramRange][1].item<double>(), spec);
    in[kMinVal].fill_(lo);
    in[kMaxVal].fill_(hi);
  }
  writeQParams(spec, in[kMinVal], in[kMaxVal], in[kScale], in[kZeroPoint]);
}

}  // namespace edgeopt::quant
