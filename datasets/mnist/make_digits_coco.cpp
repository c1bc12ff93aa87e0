// edgeopt-make-digits-coco: a small COCO-format detection set made from MNIST
// digits pasted on black canvases, with boxes known exactly.
//
//   edgeopt-make-digits-coco MNIST_IDX_DIR OUT [--train 5000] [--val 1000]
//                            [--size 128] [--seed 0]
// writes
//   OUT/train/NNNNNN.png, OUT/val/NNNNNN.png        (size x size, 1 channel)
//   OUT/annotations/instances_{train,val}.json     (COCO instances)
// Train canvases take digits from MNIST's train split, val canvases from t10k,
// so no digit image is in both. Categories: id = digit + 1, name "0".."9"
// (the coco dataset maps them to labels 0..9 = the digit).
//
// Each canvas holds 0 digits (5 %) or 1-4 (uniform). A digit is the tight
// crop of its nonzero pixels, resized so its height is 12..56 px, cropped
// tight again, and pasted where its box keeps a 1-pixel gap to every other
// box (it is dropped after 50 failed tries). So each bbox equals the tight
// bounding box of the nonzero canvas pixels around it, and every nonzero pixel
// lies in exactly one box: tests check boxes against pixels. `area` is the
// digit's nonzero pixel count (COCO's area is the mask area).
//
// Every canvas draws from its own generator, seeded by (seed, split, index),
// with std::mt19937_64 (fully specified by the standard) and no library
// distributions (implementation-defined): the same arguments give the same
// bytes on any machine.
#include <edgeopt/fileutil.h>
#include <edgeopt/tool_main.h>

#include "idx_reader.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kMinHeight = 12, kMaxHeight = 56, kMaxDigits = 4, kPlacementTries = 50, kGap = 1;
constexpr double kEmptyFraction = 0.05;

class Draw {
 public:
  Draw(uint64_t seed, uint64_t split, uint64_t index) : rng_(mix(mix(mix(seed) ^ split) ^ index)) {}
  // Uniform integer in [lo, hi].
  int between(int lo, int hi) { return lo + static_cast<int>(rng_() % static_cast<uint64_t>(hi - lo + 1)); }
  size_t below(size_t n) { return static_cast<size_t>(rng_() % n); }
  double unit() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

 private:
  // SplitMix64's finalizer: nearby (seed, split, index) triples give unrelated streams.
  static uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  }
  std::mt19937_64 rng_;
};

// The tight crop of `m`'s nonzero pixels (empty Mat when all are zero).
cv::Mat tight(const cv::Mat& m) {
  std::vector<cv::Point> nonzero;
  cv::findNonZero(m, nonzero);
  if (nonzero.empty()) return {};
  return m(cv::boundingRect(nonzero)).clone();
}

// `r` grown by `gap` pixels on every side.
cv::Rect grown(const cv::Rect& r, int gap) { return {r.x - gap, r.y - gap, r.width + 2 * gap, r.height + 2 * gap}; }

struct Canvas {
  cv::Mat pixels;
  struct Digit {
    cv::Rect box;
    int digit;
    int area;
  };
  std::vector<Digit> digits;
};

Canvas makeCanvas(const edgeopt::idx::Split& mnist, int size, Draw& draw) {
  Canvas c{cv::Mat::zeros(size, size, CV_8UC1), {}};
  const int rows = static_cast<int>(mnist.images.dims[1]), cols = static_cast<int>(mnist.images.dims[2]);
  const int count = draw.unit() < kEmptyFraction ? 0 : draw.between(1, kMaxDigits);
  for (int k = 0; k < count; ++k) {
    const size_t index = draw.below(mnist.count());
    const cv::Mat source(rows, cols, CV_8UC1,
                         const_cast<uint8_t*>(mnist.images.data.data()) + index * size_t(rows) * cols);
    const cv::Mat crop = tight(source);
    const int height = draw.between(kMinHeight, std::min(kMaxHeight, size - 2 * kGap));
    if (crop.empty()) continue;
    const double scale = double(height) / crop.rows;
    const int width = std::clamp(int(std::lround(crop.cols * scale)), 1, size - 2 * kGap);
    cv::Mat resized;
    cv::resize(crop, resized, cv::Size(width, height), 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    const cv::Mat patch = tight(resized);  // interpolation can blank an edge row
    if (patch.empty()) continue;
    for (int attempt = 0; attempt < kPlacementTries; ++attempt) {
      const cv::Rect box(draw.between(0, size - patch.cols), draw.between(0, size - patch.rows), patch.cols,
                         patch.rows);
      const bool free = std::none_of(c.digits.begin(), c.digits.end(),
                                     [&](const Canvas::Digit& d) { return (grown(d.box, kGap) & box).area() > 0; });
      if (!free) continue;
      patch.copyTo(c.pixels(box));
      c.digits.push_back({box, int(mnist.labels.data[index]), cv::countNonZero(patch)});
      break;
    }
  }
  return c;
}

json categories() {
  json out = json::array();
  for (int d = 0; d < 10; ++d) out.push_back({{"id", d + 1}, {"name", std::to_string(d)}, {"supercategory", "digit"}});
  return out;
}

void writeSplit(const edgeopt::idx::Split& mnist, const std::string& out, const std::string& split, size_t count,
                int size, uint64_t seed) {
  for (size_t i = 0; i < mnist.count(); ++i)
    if (mnist.labels.data[i] > 9)
      throw edgeopt::InputError(mnist.labels.path + ": label " + std::to_string(mnist.labels.data[i]) +
                                " at index " + std::to_string(i) + " is not a digit 0..9");
  fs::create_directories(fs::path(out) / split);
  json images = json::array(), annotations = json::array();
  size_t boxes = 0;
  for (size_t i = 0; i < count; ++i) {
    Draw draw(seed, split == "train" ? 0 : 1, i);
    const Canvas c = makeCanvas(mnist, size, draw);
    char name[32];
    std::snprintf(name, sizeof name, "%06zu.png", i + 1);
    const std::string path = (fs::path(out) / split / name).string();
    if (!cv::imwrite(path, c.pixels)) throw edgeopt::InputError(path + ": cannot be written");
    const int64_t image_id = int64_t(i) + 1;
    images.push_back({{"id", image_id}, {"file_name", name}, {"width", size}, {"height", size}});
    for (const auto& d : c.digits)
      annotations.push_back({{"id", int64_t(++boxes)},
                             {"image_id", image_id},
                             {"category_id", d.digit + 1},
                             {"bbox", {d.box.x, d.box.y, d.box.width, d.box.height}},
                             {"area", d.area},
                             {"iscrowd", 0}});
  }
  const json doc = {{"info", {{"description", "EdgeOpt digits-coco: MNIST " + std::string(split == "train" ? "train" : "t10k") +
                                                  " digits on " + std::to_string(size) + "x" + std::to_string(size) +
                                                  " canvases, seed " + std::to_string(seed)}}},
                    {"images", images},
                    {"annotations", annotations},
                    {"categories", categories()}};
  fs::create_directories(fs::path(out) / "annotations");
  edgeopt::atomicWrite((fs::path(out) / "annotations" / ("instances_" + split + ".json")).string(), doc.dump() + "\n");
  std::cout << split << ": " << count << " images, " << boxes << " boxes\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Makes a COCO-format detection set of MNIST digits on larger canvases"};
  std::string in, out;
  size_t train = 5000, val = 1000;
  int size = 128;
  uint64_t seed = 0;
  app.add_option("mnist_dir", in, "folder with MNIST's train-images-idx3-ubyte[.gz], t10k-*, ...")->required();
  app.add_option("out_dir", out, "output folder (created)")->required();
  app.add_option("--train", train, "training canvases")->capture_default_str();
  app.add_option("--val", val, "validation canvases")->capture_default_str();
  app.add_option("--size", size, "canvas side in pixels")->check(CLI::Range(32, 4096))->capture_default_str();
  app.add_option("--seed", seed, "generator seed")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return edgeopt::reportErrors([&] {
    writeSplit(edgeopt::idx::readSplit(in, "train"), out, "train", train, size, seed);
    writeSplit(edgeopt::idx::readSplit(in, "t10k"), out, "val", val, size, seed);
    return 0;
  });
}
