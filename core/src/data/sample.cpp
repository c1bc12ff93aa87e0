// The parts of the pipeline around the transforms: the per-example random
// generator, Sample, and the conversion of the final image to a CHW tensor.
#include <edgeopt/error.h>
#include <edgeopt/transforms.h>

#include <ATen/ATen.h>
#include <opencv2/core.hpp>

namespace edgeopt {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

Rng::Rng(uint64_t seed, uint64_t epoch, uint64_t index)
    : engine_(splitmix64(splitmix64(splitmix64(seed) ^ epoch) ^ index)) {}

double Rng::uniform(double lo, double hi) {
  const double u = static_cast<double>(engine_() >> 11) * 0x1.0p-53;  // 53 random bits in [0, 1)
  return lo + u * (hi - lo);
}

int64_t Rng::randint(int64_t lo, int64_t hi) {
  const uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
  if (range == 0) return static_cast<int64_t>(engine_());  // the whole 64-bit range
  const uint64_t limit = UINT64_MAX - UINT64_MAX % range;    // rejection keeps it unbiased
  uint64_t x;
  do x = engine_(); while (x >= limit);
  return lo + static_cast<int64_t>(x % range);
}

Sample Sample::fromExample(Example&& e) {
  Sample s;
  s.bgr = e.image.channels() >= 3;
  s.image = std::move(e.image);
  s.boxes = std::move(e.boxes);
  return s;
}

std::vector<std::string> TransformPipeline::describe() const {
  std::vector<std::string> out;
  for (const auto& t : steps_) out.push_back(t->describe());
  return out;
}

void imageToCHW(const cv::Mat& image, bool bgr, float* out) {
  const int C = image.channels(), H = image.rows, W = image.cols;
  cv::Mat f = image;
  if (image.depth() == CV_8U) image.convertTo(f, CV_32F, 1.0 / 255.0);
  else if (image.depth() != CV_32F) throw RuntimeFailure("imageToCHW: expected an 8-bit or float image");
  // mixChannels reads through the Mat's strides, so views (crops) are copied
  // correctly, and writes each channel straight into its plane of `out`.
  std::vector<cv::Mat> planes;
  std::vector<int> from_to;
  for (int c = 0; c < C; ++c) {
    planes.emplace_back(H, W, CV_32F, out + size_t(c) * H * W);
    from_to.push_back((bgr && C == 3) ? 2 - c : c);
    from_to.push_back(c);
  }
  cv::mixChannels(&f, 1, planes.data(), planes.size(), from_to.data(), C);
}

at::Tensor imageToTensor(const cv::Mat& image, bool bgr) {
  at::Tensor t = at::empty({image.channels(), image.rows, image.cols}, at::kFloat);
  imageToCHW(image, bgr, t.data_ptr<float>());
  return t;
}

}  // namespace edgeopt
