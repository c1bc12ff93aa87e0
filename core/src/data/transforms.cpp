// The OpenCV transforms (transforms.h lists them; transform_parse.cpp reads
// them from the recipe). Geometry follows torchvision's integer arithmetic
// (int() truncation, Python's round-half-even) so crops land on the same
// pixels as in the Python original.
#include "transform_ops.h"

#include <edgeopt/error.h>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace edgeopt {

namespace {

// Python's round(): half to even (std::nearbyint in the default rounding mode).
int pyRound(double x) { return static_cast<int>(std::nearbyint(x)); }

const char* interpolationName(int i) {
  return i == cv::INTER_AREA ? "area" : i == cv::INTER_NEAREST ? "nearest" : "linear";
}

std::string sizeText(const transforms::Size2& s) {
  return s.shorter_side ? std::to_string(s.h) : "[" + std::to_string(s.h) + ", " + std::to_string(s.w) + "]";
}

// Boxes: x' = x * sx + dx, y' = y * sy + dy.
void mapBoxes(std::vector<Box>& boxes, double sx, double sy, double dx, double dy) {
  for (auto& b : boxes) {
    b.x1 = static_cast<float>(b.x1 * sx + dx);
    b.x2 = static_cast<float>(b.x2 * sx + dx);
    b.y1 = static_cast<float>(b.y1 * sy + dy);
    b.y2 = static_cast<float>(b.y2 * sy + dy);
  }
}

// Moves boxes into the crop (x, y, w, h), clips them to it and drops the ones
// left with no area: a target outside the image can't be learned.
void cropBoxes(std::vector<Box>& boxes, int x, int y, int w, int h) {
  std::vector<Box> kept;
  for (Box b : boxes) {
    b.x1 = std::clamp(b.x1 - x, 0.f, float(w));
    b.x2 = std::clamp(b.x2 - x, 0.f, float(w));
    b.y1 = std::clamp(b.y1 - y, 0.f, float(h));
    b.y2 = std::clamp(b.y2 - y, 0.f, float(h));
    if (b.x2 > b.x1 && b.y2 > b.y1) kept.push_back(b);
  }
  boxes.swap(kept);
}

void resizeTo(Sample& s, int w, int h, int interpolation) {
  if (s.image.cols == w && s.image.rows == h) return;
  mapBoxes(s.boxes, double(w) / s.image.cols, double(h) / s.image.rows, 0, 0);
  cv::Mat out;
  cv::resize(s.image, out, cv::Size(w, h), 0, 0, interpolation);
  s.image = out;
}

// Zero-pads the image to at least h x w, as torchvision's center_crop does.
void padToAtLeast(Sample& s, int h, int w, double fill) {
  const int W = s.image.cols, H = s.image.rows;
  if (W >= w && H >= h) return;
  const int left = w > W ? (w - W) / 2 : 0, top = h > H ? (h - H) / 2 : 0;
  const int right = w > W ? (w - W + 1) / 2 : 0, bottom = h > H ? (h - H + 1) / 2 : 0;
  cv::Mat out;
  cv::copyMakeBorder(s.image, out, top, bottom, left, right, cv::BORDER_CONSTANT, cv::Scalar::all(fill));
  s.image = out;
  mapBoxes(s.boxes, 1, 1, left, top);
}

using transforms::Size2;

class Resize : public Transform {
 public:
  Resize(Size2 size, int interp) : size_(size), interp_(interp) {}
  void apply(Sample& s, Rng&) const override {
    int w = size_.w, h = size_.h;
    if (size_.shorter_side) {  // torchvision: the longer side is int(size * long / short)
      const int W = s.image.cols, H = s.image.rows;
      if (W <= H) { w = size_.h; h = static_cast<int>(double(size_.h) * H / W); }
      else { h = size_.h; w = static_cast<int>(double(size_.h) * W / H); }
    }
    resizeTo(s, w, h, interp_);
  }
  std::string describe() const override {
    return "resize(size=" + sizeText(size_) + ", interpolation=" + interpolationName(interp_) + ")";
  }

 private:
  Size2 size_;
  int interp_;
};

class CenterCrop : public Transform {
 public:
  explicit CenterCrop(Size2 size) : size_(size) {}
  void apply(Sample& s, Rng&) const override {
    padToAtLeast(s, size_.h, size_.w, 0);
    const int top = pyRound((s.image.rows - size_.h) / 2.0), left = pyRound((s.image.cols - size_.w) / 2.0);
    s.image = s.image(cv::Rect(left, top, size_.w, size_.h));  // a view: imageToCHW copies it properly
    cropBoxes(s.boxes, left, top, size_.w, size_.h);
  }
  std::string describe() const override { return "center_crop(size=" + sizeText(size_) + ")"; }

 private:
  Size2 size_;
};

class RandomResizedCrop : public Transform {
 public:
  RandomResizedCrop(Size2 size, std::array<double, 2> scale, std::array<double, 2> ratio, int interp)
      : size_(size), scale_(scale), ratio_(ratio), interp_(interp) {}
  void apply(Sample& s, Rng& rng) const override {
    const auto c = transforms::randomResizedCropBox(s.image.cols, s.image.rows, scale_, ratio_, rng);
    s.image = s.image(cv::Rect(c.x, c.y, c.w, c.h));
    cropBoxes(s.boxes, c.x, c.y, c.w, c.h);
    resizeTo(s, size_.w, size_.h, interp_);
  }
  std::string describe() const override {
    std::ostringstream o;
    o << "random_resized_crop(size=" << sizeText(size_) << ", scale=[" << scale_[0] << ", " << scale_[1]
      << "], ratio=[" << ratio_[0] << ", " << ratio_[1] << "], interpolation=" << interpolationName(interp_) << ")";
    return o.str();
  }

 private:
  Size2 size_;
  std::array<double, 2> scale_, ratio_;
  int interp_;
};

class HorizontalFlip : public Transform {
 public:
  explicit HorizontalFlip(double p) : p_(p) {}
  void apply(Sample& s, Rng& rng) const override {
    if (!rng.bernoulli(p_)) return;
    cv::Mat out;
    cv::flip(s.image, out, 1);
    s.image = out;
    flipBoxes(s);
  }
  bool defersPixels() const override { return true; }
  void applyDeferred(Sample& s, Rng& rng) const override {
    if (!rng.bernoulli(p_)) return;
    s.pending.mirror = !s.pending.mirror;
    flipBoxes(s);
  }
  std::string describe() const override {
    std::ostringstream o;
    o << "horizontal_flip(p=" << p_ << ")";
    return o.str();
  }

 private:
  static void flipBoxes(Sample& s) {
    const float W = static_cast<float>(s.image.cols);
    for (auto& b : s.boxes) {
      const float x1 = b.x1;
      b.x1 = W - b.x2;
      b.x2 = W - x1;
    }
  }
  double p_;
};

// torchvision's ColorJitter: the four adjustments in a random order, each a
// blend with a degenerate image (black, mean grey, greyscale) or a hue shift.
class ColorJitter : public Transform {
 public:
  explicit ColorJitter(transforms::JitterRanges r) : r_(r) {}
  void apply(Sample& s, Rng& rng) const override {
    if (s.image.depth() != CV_8U) throw RuntimeFailure("color_jitter needs an 8-bit image (put it before normalize)");
    int order[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; --i) std::swap(order[i], order[rng.randint(0, i)]);
    double f[4] = {1, 1, 1, 0};
    const std::optional<std::array<double, 2>>* ranges[4] = {&r_.brightness, &r_.contrast, &r_.saturation, &r_.hue};
    for (int k = 0; k < 4; ++k)
      if (*ranges[k]) f[k] = rng.uniform((**ranges[k])[0], (**ranges[k])[1]);
    for (int k : order) {
      if (!*ranges[k]) continue;
      if (k == 0) scale(s, f[0], 0);
      else if (k == 1) contrast(s, f[1]);
      else if (k == 2) saturation(s, f[2]);
      else hue(s, f[3]);
    }
  }
  std::string describe() const override {
    std::ostringstream o;
    o << "color_jitter(";
    const char* names[4] = {"brightness", "contrast", "saturation", "hue"};
    const std::optional<std::array<double, 2>>* ranges[4] = {&r_.brightness, &r_.contrast, &r_.saturation, &r_.hue};
    bool first = true;
    for (int k = 0; k < 4; ++k)
      if (*ranges[k]) {
        o << (first ? "" : ", ") << names[k] << "=[" << (**ranges[k])[0] << ", " << (**ranges[k])[1] << "]";
        first = false;
      }
    o << ")";
    return o.str();
  }

 private:
  static cv::Mat gray(const Sample& s) {
    if (s.image.channels() == 1) return s.image;
    cv::Mat g;
    cv::cvtColor(s.image, g, s.bgr ? cv::COLOR_BGR2GRAY : cv::COLOR_RGB2GRAY);
    return g;
  }
  // Always into a new Mat: the image may be a view sharing pixels with
  // whatever the dataset handed out, which must not change under it.
  static void scale(Sample& s, double a, double b) {
    cv::Mat out;
    s.image.convertTo(out, -1, a, b);
    s.image = out;
  }
  static void contrast(Sample& s, double f) { scale(s, f, (1 - f) * cv::mean(gray(s))[0]); }
  static void saturation(Sample& s, double f) {
    if (s.image.channels() == 1) return;  // torchvision leaves grey images alone
    cv::Mat g3;
    cv::cvtColor(gray(s), g3, cv::COLOR_GRAY2BGR);
    cv::Mat out;
    cv::addWeighted(s.image, f, g3, 1 - f, 0, out);
    s.image = out;
  }
  // Hue in 0..255 (OpenCV's *_FULL), shifted with wrap-around like PIL's path.
  static void hue(Sample& s, double h) {
    if (s.image.channels() == 1 || h == 0) return;
    cv::Mat hsv;
    cv::cvtColor(s.image, hsv, s.bgr ? cv::COLOR_BGR2HSV_FULL : cv::COLOR_RGB2HSV_FULL);
    const int shift = static_cast<int>(std::lround(h * 255));
    for (int y = 0; y < hsv.rows; ++y) {
      auto* p = hsv.ptr<uint8_t>(y);
      for (int x = 0; x < hsv.cols; ++x) p[3 * x] = static_cast<uint8_t>((p[3 * x] + shift) & 0xFF);
    }
    cv::cvtColor(hsv, s.image, s.bgr ? cv::COLOR_HSV2BGR_FULL : cv::COLOR_HSV2RGB_FULL);
  }
  transforms::JitterRanges r_;
};

class GrayscaleToRgb : public Transform {
 public:
  void apply(Sample& s, Rng&) const override {
    if (s.image.channels() != 1) return;
    cv::Mat out;
    cv::cvtColor(s.image, out, cv::COLOR_GRAY2RGB);
    s.image = out;
    s.bgr = false;
  }
  std::string describe() const override { return "grayscale_to_rgb"; }
};

class ToRgb : public Transform {
 public:
  void apply(Sample& s, Rng&) const override {
    if (!s.bgr) return;
    cv::Mat out;
    cv::cvtColor(s.image, out, cv::COLOR_BGR2RGB);
    s.image = out;
    s.bgr = false;
  }
  std::string describe() const override { return "to_rgb"; }
};

class Normalize : public Transform {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std) : mean_(std::move(mean)), std_(std::move(std)) {}
  void apply(Sample& s, Rng&) const override {
    const int C = s.image.channels();
    float a[4], b[4];
    coefficients(s, a, b);
    cv::Mat out(s.image.size(), CV_MAKETYPE(CV_32F, C));
    for (int y = 0; y < out.rows; ++y) {
      const uint8_t* in = s.image.ptr<uint8_t>(y);
      float* o = out.ptr<float>(y);
      for (int x = 0; x < out.cols; ++x)
        for (int c = 0; c < C; ++c) o[x * C + c] = in[x * C + c] * a[c] + b[c];
    }
    s.image = out;
  }
  // writeCHW computes the same x * a + b in float, so the values are equal.
  bool defersPixels() const override { return true; }
  void applyDeferred(Sample& s, Rng&) const override {
    coefficients(s, s.pending.scale, s.pending.shift);
    s.pending.affine = true;
  }
  std::string describe() const override {
    std::ostringstream o;
    o << "normalize(mean=[";
    for (size_t i = 0; i < mean_.size(); ++i) o << (i ? ", " : "") << mean_[i];
    o << "], std=[";
    for (size_t i = 0; i < std_.size(); ++i) o << (i ? ", " : "") << std_[i];
    o << "])";
    return o.str();
  }

 private:
  // Per stored channel: out = x * a + b with a = 1 / (255 std), b = -mean / std
  // (RGB values mapped onto BGR storage). Checks the image can be normalized.
  void coefficients(const Sample& s, float* a, float* b) const {
    const int C = s.image.channels();
    if ((mean_.size() != 1 && int(mean_.size()) != C) || (std_.size() != 1 && int(std_.size()) != C))
      throw RuntimeFailure("normalize has " + std::to_string(std::max(mean_.size(), std_.size())) +
                           " mean/std values but the image has " + std::to_string(C) +
                           " channels (add grayscale_to_rgb, or give one value per channel)");
    if (s.image.depth() != CV_8U || s.pending.affine)
      throw RuntimeFailure("normalize needs an 8-bit image (normalize only once)");
    for (int c = 0; c < C; ++c) {
      const size_t rgb = (s.bgr && C == 3) ? size_t(2 - c) : size_t(c);
      const double m = mean_.size() == 1 ? mean_[0] : mean_[rgb], sd = std_.size() == 1 ? std_[0] : std_[rgb];
      a[c] = static_cast<float>(1.0 / (255.0 * sd));
      b[c] = static_cast<float>(-m / sd);
    }
  }
  std::vector<double> mean_, std_;
};

// Fits the image inside h x w keeping its aspect ratio and pads the rest with
// `fill` (centred), as YOLO-style detectors expect.
class Letterbox : public Transform {
 public:
  Letterbox(Size2 size, double fill, int interp) : size_(size), fill_(fill), interp_(interp) {}
  void apply(Sample& s, Rng&) const override {
    const int W = s.image.cols, H = s.image.rows;
    const double r = std::min(double(size_.h) / H, double(size_.w) / W);
    const int nw = std::clamp(pyRound(W * r), 1, size_.w), nh = std::clamp(pyRound(H * r), 1, size_.h);
    resizeTo(s, nw, nh, interp_);
    const int left = (size_.w - nw) / 2, top = (size_.h - nh) / 2;
    cv::Mat out;
    cv::copyMakeBorder(s.image, out, top, size_.h - nh - top, left, size_.w - nw - left, cv::BORDER_CONSTANT,
                       cv::Scalar::all(fill_));
    s.image = out;
    mapBoxes(s.boxes, 1, 1, left, top);
  }
  std::string describe() const override {
    return "letterbox(size=" + sizeText(size_) + ", fill=" + std::to_string(int(fill_)) +
           ", interpolation=" + interpolationName(interp_) + ")";
  }

 private:
  Size2 size_;
  double fill_;
  int interp_;
};

}  // namespace

namespace transforms {

CropBox randomResizedCropBox(int width, int height, std::array<double, 2> scale, std::array<double, 2> ratio,
                             Rng& rng) {
  const double area = double(width) * height;
  const double log_lo = std::log(ratio[0]), log_hi = std::log(ratio[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(scale[0], scale[1]);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    const int w = pyRound(std::sqrt(target * aspect)), h = pyRound(std::sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int y = static_cast<int>(rng.randint(0, height - h)), x = static_cast<int>(rng.randint(0, width - w));
      return {x, y, w, h};
    }
  }
  // Fallback: the largest centred crop with an aspect ratio within `ratio`.
  int w = width, h = height;
  const double in_ratio = double(width) / height;
  if (in_ratio < ratio[0]) h = pyRound(w / ratio[0]);
  else if (in_ratio > ratio[1]) w = pyRound(h * ratio[1]);
  return {(width - w) / 2, (height - h) / 2, w, h};
}

std::unique_ptr<Transform> makeResize(Size2 s, int i) { return std::make_unique<Resize>(s, i); }
std::unique_ptr<Transform> makeCenterCrop(Size2 s) { return std::make_unique<CenterCrop>(s); }
std::unique_ptr<Transform> makeRandomResizedCrop(Size2 s, std::array<double, 2> scale, std::array<double, 2> ratio,
                                                 int i) {
  return std::make_unique<RandomResizedCrop>(s, scale, ratio, i);
}
std::unique_ptr<Transform> makeHorizontalFlip(double p) { return std::make_unique<HorizontalFlip>(p); }
std::unique_ptr<Transform> makeColorJitter(JitterRanges r) { return std::make_unique<ColorJitter>(r); }
std::unique_ptr<Transform> makeGrayscaleToRgb() { return std::make_unique<GrayscaleToRgb>(); }
std::unique_ptr<Transform> makeToRgb() { return std::make_unique<ToRgb>(); }
std::unique_ptr<Transform> makeNormalize(std::vector<double> m, std::vector<double> s) {
  return std::make_unique<Normalize>(std::move(m), std::move(s));
}
std::unique_ptr<Transform> makeLetterbox(Size2 s, double fill, int i) { return std::make_unique<Letterbox>(s, fill, i); }

}  // namespace transforms

}  // namespace edgeopt
