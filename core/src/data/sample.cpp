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

namespace {

// One output plane: out[y][x] = in[y][x mirrored?][channel] * a + b, for
// uint8 or float pixels. Written per plane with the mirror as a template
// argument so the compiler vectorizes the inner loop.
template <typename T, bool Mirror>
void writePlane(const cv::Mat& image, int channel, float a, float b, float* out) {
  const int C = image.channels(), H = image.rows, W = image.cols;
  for (int y = 0; y < H; ++y) {
    const T* in = image.ptr<T>(y) + channel;
    float* o = out + size_t(y) * W;
    for (int x = 0; x < W; ++x) o[x] = static_cast<float>(in[size_t(Mirror ? W - 1 - x : x) * C]) * a + b;
  }
}

// The common case (8-bit, 3 channels) in one pass over each row, all three
// planes at once: each pixel's bytes are read once (~30% faster than per plane).
template <bool Mirror>
void writePlanes3(const cv::Mat& image, const int* channel, const float* a, const float* b, float* out) {
  const int H = image.rows, W = image.cols;
  const size_t plane = size_t(H) * W;
  const int s0 = channel[0], s1 = channel[1], s2 = channel[2];
  for (int y = 0; y < H; ++y) {
    const uint8_t* in = image.ptr<uint8_t>(y);
    float* o0 = out + size_t(y) * W;
    float* o1 = o0 + plane;
    float* o2 = o1 + plane;
    for (int x = 0; x < W; ++x) {
      const uint8_t* p = in + 3 * size_t(Mirror ? W - 1 - x : x);
      o0[x] = static_cast<float>(p[s0]) * a[0] + b[0];
      o1[x] = static_cast<float>(p[s1]) * a[1] + b[1];
      o2[x] = static_cast<float>(p[s2]) * a[2] + b[2];
    }
  }
}

}  // namespace

void writeCHW(const Sample& s, float* out) {
  const cv::Mat& image = s.image;
  const int C = image.channels();
  const bool u8 = image.depth() == CV_8U;
  if (!u8 && image.depth() != CV_32F) throw RuntimeFailure("writeCHW: expected an 8-bit or float image");
  if (s.pending.affine && !u8) throw RuntimeFailure("writeCHW: a pending normalize needs an 8-bit image");
  if (C > 4) throw RuntimeFailure("writeCHW: more than 4 channels");
  // Per output (RGB) channel: the stored channel it comes from, and out = x * a + b.
  // Without normalize: x / 255 as ToTensor, via the product with the float
  // 1/255 (what OpenCV's convertTo computes, bit for bit); float stays as is.
  int stored[4];
  float a[4], b[4];
  for (int c = 0; c < C; ++c) {
    stored[c] = (s.bgr && C == 3) ? 2 - c : c;
    a[c] = s.pending.affine ? s.pending.scale[stored[c]] : u8 ? static_cast<float>(1.0 / 255.0) : 1.f;
    b[c] = s.pending.affine ? s.pending.shift[stored[c]] : 0.f;
  }
  const bool mirror = s.pending.mirror;
  if (u8 && C == 3) {
    mirror ? writePlanes3<true>(image, stored, a, b, out) : writePlanes3<false>(image, stored, a, b, out);
    return;
  }
  const size_t plane = size_t(image.rows) * image.cols;
  for (int c = 0; c < C; ++c) {
    float* o = out + size_t(c) * plane;
    if (u8) mirror ? writePlane<uint8_t, true>(image, stored[c], a[c], b[c], o)
                   : writePlane<uint8_t, false>(image, stored[c], a[c], b[c], o);
    else mirror ? writePlane<float, true>(image, stored[c], a[c], b[c], o)
                : writePlane<float, false>(image, stored[c], a[c], b[c], o);
  }
}

void imageToCHW(const cv::Mat& image, bool bgr, float* out) {
  Sample s;
  s.image = image;  // a header: no pixel copy
  s.bgr = bgr;
  writeCHW(s, out);
}

at::Tensor imageToTensor(const cv::Mat& image, bool bgr) {
  at::Tensor t = at::empty({image.channels(), image.rows, image.cols}, at::kFloat);
  imageToCHW(image, bgr, t.data_ptr<float>());
  return t;
}

}  // namespace edgeopt
