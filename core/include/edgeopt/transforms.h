#pragma once
// The data augmentation pipeline: OpenCV transforms parsed from the recipe's
// `data.train_transforms` / `data.val_transforms` lists (data_loader.h), then
// one conversion to a CHW float tensor.
//
// Recipe syntax: each entry is a name, or a one-key map {name: options}; an
// option map may be shortened to its main value ({resize: 256} is
// {resize: {size: 256}}):
//   resize:              {size: N | [h, w], interpolation: linear|area|nearest}   N: shorter side
//   center_crop:         {size: N | [h, w]}                        zero-pads when larger than the image
//   random_resized_crop: {size, scale: [0.08, 1], ratio: [0.75, 1.3333], interpolation}
//   horizontal_flip:     {p: 0.5}
//   color_jitter:        {brightness, contrast, saturation, hue}   x or [min, max], as torchvision
//   grayscale_to_rgb                                               1 channel -> 3 (others unchanged)
//   to_rgb                                                         BGR -> RGB now (see below)
//   normalize:           {mean: [..], std: [..]}                   [0, 1] scale, RGB order
//   letterbox:           {size: N | [h, w], fill: 114, interpolation}
//
// Channel order: datasets decode to OpenCV's BGR; the model always sees RGB,
// like torchvision. A Sample remembers whether its pixels are still BGR, the
// final conversion swaps them if so, and normalize/color_jitter take their
// per-channel values in RGB order whatever the storage order. `to_rgb` is
// therefore only needed to make the order explicit for later transforms.
//
// Value scale: images stay uint8 until `normalize`, which outputs float32
// (x / 255 - mean) / std; without it the final conversion gives x / 255, like
// torchvision's ToTensor. Photometric transforms (color_jitter) must come
// before normalize; geometric ones work on both.
//
// Boxes (detection) go through every geometric transform with the image; a
// box that a crop leaves empty is dropped.
#include <edgeopt/config.h>
#include <edgeopt/dataset.h>
#include <edgeopt/options.h>

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace edgeopt {

// Per-example randomness. Seeded from (seed, epoch, index) so an example's
// augmentation never depends on which worker thread draws it, or when.
// mt19937_64 is fully specified by the standard and the distributions are
// written out here (std's are implementation-defined), so the draws are the
// same with every compiler and library.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t epoch, uint64_t index);
  explicit Rng(uint64_t seed) : engine_(seed) {}
  uint64_t next() { return engine_(); }
  double uniform(double lo, double hi);     // [lo, hi)
  int64_t randint(int64_t lo, int64_t hi);  // [lo, hi], inclusive
  bool bernoulli(double p) { return uniform(0, 1) < p; }

 private:
  std::mt19937_64 engine_;
};

// Per-pixel work a Sample's image still owes, done while it is written into
// the batch tensor (writeCHW) instead of as separate passes over the image:
// a left-right mirror and a per-channel affine (normalize). Both commute with
// each other, so their order in the recipe does not matter.
struct PendingPixels {
  bool mirror = false;
  bool affine = false;     // normalize folded in: out = x * scale[c] + shift[c]
  float scale[4] = {}, shift[4] = {};  // per stored channel (BGR order when bgr)
};

// What transforms work on: the image (uint8 or, after normalize, float32,
// HxWxC) with the order of its channels, and the boxes that move with it.
struct Sample {
  cv::Mat image;
  bool bgr = false;  // 3+ channels stored B, G, R (OpenCV's decode order)
  std::vector<Box> boxes;
  PendingPixels pending;  // only TransformPipeline::applyDeferred sets it

  static Sample fromExample(Example&& e);
};

class Transform {
 public:
  virtual ~Transform() = default;
  virtual void apply(Sample& s, Rng& rng) const = 0;
  // "resize(size=256, interpolation=linear)", for plans and logs.
  virtual std::string describe() const = 0;
  // True for per-pixel transforms whose pixel work can wait in s.pending.
  virtual bool defersPixels() const { return false; }
  // As apply (same random draws, same boxes, same errors), but the pixel work
  // is recorded in s.pending. Only called when defersPixels().
  virtual void applyDeferred(Sample& s, Rng& rng) const { apply(s, rng); }
};

class TransformPipeline {
 public:
  void add(std::unique_ptr<Transform> t) {
    const bool defers = t->defersPixels();
    steps_.push_back(std::move(t));
    if (!defers) deferred_from_ = steps_.size();
  }
  // Every step on the image; s.image is the final result.
  void apply(Sample& s, Rng& rng) const {
    for (const auto& t : steps_) t->apply(s, rng);
  }
  // The same result once written with writeCHW, with the trailing run of
  // per-pixel steps (horizontal_flip, normalize) left in s.pending: the loader
  // saves a full-image pass (and a float image) per step that way.
  void applyDeferred(Sample& s, Rng& rng) const {
    for (size_t i = 0; i < steps_.size(); ++i)
      i < deferred_from_ ? steps_[i]->apply(s, rng) : steps_[i]->applyDeferred(s, rng);
  }
  size_t size() const { return steps_.size(); }
  std::vector<std::string> describe() const;

 private:
  std::vector<std::shared_ptr<const Transform>> steps_;
  size_t deferred_from_ = 0;  // steps from here on defer their pixel work
};

// Parses a transform list; errors are RecipeErrors at the offending entry,
// keyed `key.<i>` ("data.train_transforms.1: unknown transform 'flip'; ...").
// A null node gives an empty pipeline.
TransformPipeline parseTransforms(const ConfigNode& list, const std::string& key);
// Parses data.train_transforms and data.val_transforms of the validated
// `data:` options, for the recipe validator: errors before anything runs.
void checkTransforms(const Options& data);

// HxWxC uint8 (scaled by 1/255) or float32 (as is) -> CHW float32 tensor, RGB
// when `bgr`. Handles non-continuous Mats (crops/ROIs): it copies through
// OpenCV instead of torch::from_blob, which would read them wrongly.
at::Tensor imageToTensor(const cv::Mat& image, bool bgr);
// Writes the same into `out`, C*H*W floats.
void imageToCHW(const cv::Mat& image, bool bgr, float* out);
// Writes a Sample's image into `out` (C*H*W floats), RGB, doing its pending
// mirror and normalize on the way: one pass, bit-identical to apply() +
// imageToCHW (the loader's collate).
void writeCHW(const Sample& s, float* out);

}  // namespace edgeopt
