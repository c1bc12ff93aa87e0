#pragma once
// The transforms behind the recipe names (private to the core; the parser in
// transform_parse.cpp builds them, transforms.cpp implements them).
#include <edgeopt/transforms.h>

#include <array>
#include <optional>

namespace edgeopt::transforms {

struct Size2 {
  int h = 0, w = 0;
  bool shorter_side = false;  // resize: one number = the shorter side's length
};

std::unique_ptr<Transform> makeResize(Size2 size, int interpolation);
std::unique_ptr<Transform> makeCenterCrop(Size2 size);
std::unique_ptr<Transform> makeRandomResizedCrop(Size2 size, std::array<double, 2> scale,
                                                 std::array<double, 2> ratio, int interpolation);
std::unique_ptr<Transform> makeHorizontalFlip(double p);
// Each range is the [min, max] a factor is drawn from (hue: the shift in
// turns, within [-0.5, 0.5]); nullopt leaves that property alone.
struct JitterRanges {
  std::optional<std::array<double, 2>> brightness, contrast, saturation, hue;
};
std::unique_ptr<Transform> makeColorJitter(JitterRanges ranges);
std::unique_ptr<Transform> makeGrayscaleToRgb();
std::unique_ptr<Transform> makeToRgb();
// mean/std in RGB order, one value (all channels) or one per channel.
std::unique_ptr<Transform> makeNormalize(std::vector<double> mean, std::vector<double> std);
std::unique_ptr<Transform> makeLetterbox(Size2 size, double fill, int interpolation);

// torchvision's RandomResizedCrop.get_params: the crop (x, y, w, h) of a
// width x height image, with its 10 tries and the centre-crop fallback.
struct CropBox {
  int x = 0, y = 0, w = 0, h = 0;
};
CropBox randomResizedCropBox(int width, int height, std::array<double, 2> scale, std::array<double, 2> ratio,
                             Rng& rng);

}  // namespace edgeopt::transforms
