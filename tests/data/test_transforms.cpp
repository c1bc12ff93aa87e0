// Transforms against hand-computed values: pixel positions are encoded in the
// pixel values (value = 10 * y + x), so a crop's coordinates can be read off
// the output.
#include "data_test_util.h"

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

using namespace edgeopt;
using edgeopt::test::runPipeline;

namespace {

// h x w gray image with value 10 * y + x.
cv::Mat positions(int h, int w) {
  cv::Mat m(h, w, CV_8UC1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<uint8_t>(y, x) = static_cast<uint8_t>(10 * y + x);
  return m;
}

float px(const at::Tensor& t, int c, int y, int x) { return t[c][y][x].item<float>() * 255.f; }

}  // namespace

TEST_CASE("normalize maps RGB values with torchvision's mean and std", "[data][transforms]") {
  cv::Mat img(2, 2, CV_8UC3, cv::Scalar(10, 20, 30));  // B, G, R
  img.at<cv::Vec3b>(1, 1) = cv::Vec3b(0, 0, 200);
  const auto t = runPipeline("[{normalize: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}}]", img);
  REQUIRE(t.sizes() == at::IntArrayRef({3, 2, 2}));
  // Channel 0 is red: (30 / 255 - 0.485) / 0.229.
  CHECK(t[0][0][0].item<float>() == Approx(-1.6041613).epsilon(1e-6));
  CHECK(t[1][0][0].item<float>() == Approx(-1.6855742).epsilon(1e-6));
  CHECK(t[2][0][0].item<float>() == Approx(-1.6301525).epsilon(1e-6));
  CHECK(t[0][1][1].item<float>() == Approx(1.3070468).epsilon(1e-6));
}

TEST_CASE("without normalize the model sees RGB values / 255, with or without to_rgb", "[data][transforms]") {
  cv::Mat img(1, 1, CV_8UC3, cv::Scalar(51, 102, 255));  // B, G, R
  for (const char* list : {"[]", "[to_rgb]"}) {
    const auto t = runPipeline(list, img);
    CHECK(t[0][0][0].item<float>() == Approx(1.0));  // R
    CHECK(t[1][0][0].item<float>() == Approx(0.4));
    CHECK(t[2][0][0].item<float>() == Approx(0.2));
  }
}

TEST_CASE("imageToTensor copies a cropped (non-continuous) Mat correctly", "[data][transforms]") {
  cv::Mat big = positions(8, 9);
  cv::Mat roi = big(cv::Rect(2, 3, 4, 2));  // x 2..5, y 3..4
  REQUIRE_FALSE(roi.isContinuous());
  const auto t = imageToTensor(roi, false);
  CHECK(px(t, 0, 0, 0) == Approx(32));
  CHECK(px(t, 0, 1, 3) == Approx(45));
  CHECK(at::equal(t, imageToTensor(roi.clone(), false)));
}

TEST_CASE("center_crop takes torchvision's offsets, rounding half to even", "[data][transforms]") {
  // 5 x 7 -> 3: top = round(1.0) = 1, left = round(2.0) = 2.
  auto t = runPipeline("[{center_crop: 3}]", positions(5, 7));
  REQUIRE(t.sizes() == at::IntArrayRef({1, 3, 3}));
  CHECK(px(t, 0, 0, 0) == Approx(12));
  // 6 x 8 -> [3, 3]: top = round(1.5) = 2, left = round(2.5) = 2 (Python's round).
  t = runPipeline("[{center_crop: [3, 3]}]", positions(6, 8));
  CHECK(px(t, 0, 0, 0) == Approx(22));
  // Larger than the image: zero padding, (4 - 2) / 2 = 1 on each side.
  t = runPipeline("[{center_crop: 4}]", positions(2, 2));
  CHECK(px(t, 0, 0, 0) == 0);
  CHECK(px(t, 0, 1, 1) == Approx(0));
  CHECK(px(t, 0, 2, 2) == Approx(11));
  CHECK(px(t, 0, 3, 3) == 0);
}

TEST_CASE("center_crop moves and clips boxes, dropping those left outside", "[data][transforms]") {
  std::vector<Box> boxes{{1, 1, 6, 4, 0}, {0, 0, 1, 1, 1}};
  runPipeline("[{center_crop: 3}]", positions(5, 7), &boxes);  // crop x 2..4, y 1..3
  REQUIRE(boxes.size() == 1);
  CHECK(boxes[0].x1 == 0);
  CHECK(boxes[0].y1 == 0);
  CHECK(boxes[0].x2 == 3);
  CHECK(boxes[0].y2 == 3);
}

TEST_CASE("horizontal_flip mirrors pixels and boxes", "[data][transforms]") {
  std::vector<Box> boxes{{1, 2, 4, 5, 0}};
  auto t = runPipeline("[{horizontal_flip: 1}]", positions(6, 10), &boxes);
  CHECK(px(t, 0, 0, 0) == Approx(9));
  CHECK(px(t, 0, 2, 9) == Approx(20));
  CHECK(boxes[0].x1 == 6);
  CHECK(boxes[0].x2 == 9);
  CHECK(boxes[0].y1 == 2);
  t = runPipeline("[{horizontal_flip: {p: 0}}]", positions(6, 10));
  CHECK(px(t, 0, 0, 0) == 0);
}

TEST_CASE("resize scales the shorter side like torchvision, and the boxes with it", "[data][transforms]") {
  std::vector<Box> boxes{{10, 10, 50, 30, 0}};
  // w 100, h 50 -> shorter side 20: h 20, w int(20 * 100 / 50) = 40.
  auto t = runPipeline("[{resize: 20}]", cv::Mat(50, 100, CV_8UC3, cv::Scalar::all(7)), &boxes);
  CHECK(t.sizes() == at::IntArrayRef({3, 20, 40}));
  CHECK(boxes[0].x1 == Approx(4));
  CHECK(boxes[0].y2 == Approx(12));
  // int() truncates: 33 x 50 -> shorter 10: w int(10 * 50 / 33) = 15.
  t = runPipeline("[{resize: {size: 10, interpolation: area}}]", cv::Mat(33, 50, CV_8UC1, cv::Scalar(3)));
  CHECK(t.sizes() == at::IntArrayRef({1, 10, 15}));
  t = runPipeline("[{resize: [7, 9]}]", cv::Mat(33, 50, CV_8UC1, cv::Scalar(3)));
  CHECK(t.sizes() == at::IntArrayRef({1, 7, 9}));
}

TEST_CASE("letterbox fits, centres and pads, moving boxes", "[data][transforms]") {
  std::vector<Box> boxes{{20, 10, 60, 50, 0}};
  // 200 x 100 into 100 x 100: scale 0.5 -> 100 x 50 at top = 25.
  auto t = runPipeline("[{letterbox: 100}]", cv::Mat(100, 200, CV_8UC3, cv::Scalar::all(40)), &boxes);
  REQUIRE(t.sizes() == at::IntArrayRef({3, 100, 100}));
  CHECK(px(t, 0, 0, 0) == Approx(114));
  CHECK(px(t, 0, 24, 50) == Approx(114));
  CHECK(px(t, 0, 25, 50) == Approx(40));
  CHECK(px(t, 0, 74, 50) == Approx(40));
  CHECK(px(t, 0, 75, 50) == Approx(114));
  CHECK(boxes[0].x1 == Approx(10));
  CHECK(boxes[0].y1 == Approx(30));
  CHECK(boxes[0].x2 == Approx(30));
  CHECK(boxes[0].y2 == Approx(50));
  t = runPipeline("[{letterbox: {size: [50, 60], fill: 0}}]", cv::Mat(100, 200, CV_8UC1, cv::Scalar(40)));
  CHECK(t.sizes() == at::IntArrayRef({1, 50, 60}));  // scale 0.3: 60 x 30 at top 10
  CHECK(px(t, 0, 9, 0) == 0);
  CHECK(px(t, 0, 10, 0) == Approx(40));
}

TEST_CASE("random_resized_crop falls back to torchvision's centre crop", "[data][transforms]") {
  // scale 1, ratio 1 on 10 x 20: every try wants 14 x 14 > the height, so the
  // fallback takes the centred 10 x 10 at x = 5.
  for (uint64_t seed = 0; seed < 5; ++seed) {
    auto t = runPipeline("[{random_resized_crop: {size: 10, scale: [1, 1], ratio: [1, 1]}}]", positions(10, 20),
                         nullptr, seed);
    REQUIRE(t.sizes() == at::IntArrayRef({1, 10, 10}));
    CHECK(px(t, 0, 0, 0) == Approx(5));
    CHECK(px(t, 0, 9, 9) == Approx(104));
  }
}

TEST_CASE("random_resized_crop is fixed by the generator and varies with it", "[data][transforms]") {
  cv::Mat img(60, 80, CV_8UC3);
  cv::randu(img, 0, 256);
  const std::string list = "[{random_resized_crop: 16}]";
  const auto a = runPipeline(list, img, nullptr, 1), b = runPipeline(list, img, nullptr, 1);
  const auto c = runPipeline(list, img, nullptr, 2);
  CHECK(a.sizes() == at::IntArrayRef({3, 16, 16}));
  CHECK(at::equal(a, b));
  CHECK_FALSE(at::equal(a, c));
}

TEST_CASE("color_jitter factors and grayscale_to_rgb", "[data][transforms]") {
  cv::Mat img(1, 2, CV_8UC3);
  img.at<cv::Vec3b>(0, 0) = cv::Vec3b(100, 100, 100);
  img.at<cv::Vec3b>(0, 1) = cv::Vec3b(200, 50, 10);
  auto t = runPipeline("[{color_jitter: {brightness: [2, 2]}}]", img);
  CHECK(px(t, 0, 0, 0) == Approx(200));
  CHECK(px(t, 0, 0, 1) == Approx(20));   // R 10 -> 20
  CHECK(px(t, 2, 0, 1) == Approx(255));  // B 200 saturates
  // saturation 0 = greyscale: 0.299 R + 0.587 G + 0.114 B = 55.14 -> 55.
  t = runPipeline("[{color_jitter: {saturation: [0, 0]}}]", img);
  CHECK(px(t, 0, 0, 1) == Approx(55));
  CHECK(px(t, 2, 0, 1) == Approx(55));
  t = runPipeline("[grayscale_to_rgb]", positions(2, 2));
  REQUIRE(t.size(0) == 3);
  CHECK(at::equal(t[0], t[2]));
  CHECK(px(t, 1, 1, 1) == Approx(11));
}

TEST_CASE("transform lists: recipe errors point at the entry", "[data][transforms]") {
  using edgeopt::test::pipelineOf;
  EDGEOPT_REQUIRE_THROWS_MESSAGE(
      pipelineOf("[{resize: 8},\n {flip: 0.5}]"), RecipeError,
      "recipe.yaml:2:2: data.train_transforms.1: unknown transform 'flip'; did you mean 'horizontal_flip'? (known: "
      "center_crop, color_jitter, grayscale_to_rgb, horizontal_flip, letterbox, normalize, random_resized_crop, "
      "resize, to_rgb)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(pipelineOf("[{normalize: {mean: [123.7], std: [0.2]}}]"), RecipeError,
                                 "recipe.yaml:1:21: data.train_transforms.0.normalize.mean: values are in [0, 1] "
                                 "scale like torchvision's (got 123.7; divide by 255)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(pipelineOf("[{normalize: {mean: [0.5], std: [0.2]}}, {color_jitter: {hue: 0.1}}]"),
                                 RecipeError,
                                 "recipe.yaml:1:42: data.train_transforms.1: color_jitter works on 8-bit pixel "
                                 "values: put it before normalize");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(pipelineOf("[{random_resized_crop: {size: 8, scle: [0.5, 1]}}]"), RecipeError,
                                 "recipe.yaml:1:34: data.train_transforms.0.random_resized_crop.scle: unknown key; "
                                 "did you mean 'scale'? (known: size, scale, ratio, interpolation)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(pipelineOf("[{horizontal_flip: 2}]"), RecipeError,
                                 "recipe.yaml:1:20: data.train_transforms.0.horizontal_flip.p: must be between 0 and "
                                 "1 (got 2)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(pipelineOf("[{resize: 8, center_crop: 4}]"), RecipeError,
                                 "recipe.yaml:1:2: data.train_transforms.0: expected a transform: a name or a "
                                 "one-key map such as {resize: 256}, got a map");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(
      checkTransforms(test::dataOptions("dataset: x\nval_transforms: [{normalize: {mean: 0.5, std: 58.4}}]")),
      RecipeError,
      "recipe.yaml:2:47: data.val_transforms.0.normalize.std: values are in [0, 1] scale like torchvision's (got "
      "58.4; divide by 255)");
  CHECK(pipelineOf("[to_rgb, {horizontal_flip: null}, {center_crop: [4, 6]}]").describe() ==
        std::vector<std::string>{"to_rgb", "horizontal_flip(p=0.5)", "center_crop(size=[4, 6])"});
}

namespace {

// The loader's path: trailing flip/normalize deferred, done by writeCHW.
at::Tensor runDeferred(const std::string& list, const cv::Mat& image, std::vector<Box>* boxes, uint64_t seed) {
  Example e;
  e.image = image;
  if (boxes) e.boxes = *boxes;
  Sample s = Sample::fromExample(std::move(e));
  Rng rng(seed, 0, 0);
  edgeopt::test::pipelineOf(list).applyDeferred(s, rng);
  if (boxes) *boxes = s.boxes;
  at::Tensor t = at::empty({s.image.channels(), s.image.rows, s.image.cols}, at::kFloat);
  writeCHW(s, t.data_ptr<float>());
  return t;
}

bool sameBoxes(const std::vector<Box>& a, const std::vector<Box>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].x1 != b[i].x1 || a[i].y1 != b[i].y1 || a[i].x2 != b[i].x2 || a[i].y2 != b[i].y2) return false;
  return true;
}

}  // namespace

TEST_CASE("deferred flip and normalize write the same tensor as the transforms one by one", "[data][transforms]") {
  cv::Mat big(40, 50, CV_8UC3);
  cv::RNG(3).fill(big, cv::RNG::UNIFORM, 0, 256);
  const cv::Mat color = big(cv::Rect(3, 2, 41, 37));  // a view: strides differ from the width
  cv::Mat gray;
  cv::cvtColor(color, gray, cv::COLOR_BGR2GRAY);
  const std::string imagenet = "{normalize: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}}";
  const std::string one = "{normalize: {mean: [0.5], std: [0.25]}}";
  const std::vector<std::pair<std::string, cv::Mat>> cases = {
      {"[{random_resized_crop: 16}, {horizontal_flip: 0.5}, " + imagenet + "]", color},
      {"[" + imagenet + ", {horizontal_flip: 0.5}]", color},  // the order of the two doesn't matter
      {"[{horizontal_flip: 1}, {horizontal_flip: 0.5}]", color},
      {"[{horizontal_flip: 0.5}, {center_crop: 20}, " + one + "]", color},  // flip before a crop: done at once
      {"[" + one + ", {resize: [9, 7]}, {horizontal_flip: 0.5}]", gray},    // float image mirrored on write
      {"[{random_resized_crop: 16}, {horizontal_flip: 0.5}, " + one + "]", gray},
      {"[]", color},
  };
  for (const auto& [list, image] : cases) {
    for (uint64_t seed = 0; seed < 8; ++seed) {
      CAPTURE(list, seed);
      std::vector<Box> eager_boxes{{2, 3, 20, 30, 0}}, deferred_boxes = eager_boxes;
      const at::Tensor eager = runPipeline(list, image, &eager_boxes, seed);
      const at::Tensor deferred = runDeferred(list, image, &deferred_boxes, seed);
      REQUIRE(eager.sizes() == deferred.sizes());
      CHECK(at::equal(eager, deferred));  // bit for bit
      CHECK(sameBoxes(eager_boxes, deferred_boxes));
    }
  }
}

TEST_CASE("writeCHW scales bytes exactly as OpenCV's x / 255 conversion", "[data][transforms]") {
  cv::Mat row(1, 256, CV_8UC1);
  for (int x = 0; x < 256; ++x) row.at<uint8_t>(0, x) = static_cast<uint8_t>(x);
  cv::Mat reference;
  row.convertTo(reference, CV_32F, 1.0 / 255.0);
  const at::Tensor t = imageToTensor(row, false);
  for (int x = 0; x < 256; ++x) CHECK(t[0][0][x].item<float>() == reference.at<float>(0, x));
}
