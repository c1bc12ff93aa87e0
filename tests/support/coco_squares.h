#pragma once
// A tiny COCO detection set for end-to-end detection tests: class "bright"
// (255) and "dim" (110) squares, 1-2 per black 64x64 canvas, 14-30 px, apart
// from each other; canvas 5 of each split has none.
//   root/{train,val}/<i>.png    64 train and 16 val canvases
//   root/{train,val}.json       COCO annotations (category ids 1 and 2)
// The pixels and boxes are fixed (seed 11).
#include "test_support.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace edgeopt::test {

inline void makeCocoSquares(const std::string& root) {
  namespace fs = std::filesystem;
  using nlohmann::json;
  std::mt19937 rng(11);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int64_t annotation_id = 1;
  for (const char* split : {"train", "val"}) {
    const int count = std::string(split) == "train" ? 64 : 16;
    json images = json::array(), annotations = json::array();
    fs::create_directories(fs::path(root) / split);
    for (int i = 1; i <= count; ++i) {
      cv::Mat img = cv::Mat::zeros(64, 64, CV_8UC3);
      const int objects = i == 5 ? 0 : uniform(1, 2);
      std::vector<cv::Rect> placed;
      for (int k = 0; k < objects; ++k) {
        const int s = uniform(14, 30);
        // y before x, in statements: the order of a call's arguments is
        // unspecified (gcc took y first, clang x), and the data must not
        // depend on the compiler.
        const int y = uniform(0, 64 - s);
        const int x = uniform(0, 64 - s);
        cv::Rect r(x, y, s, s);
        bool overlaps = false;
        for (const cv::Rect& p : placed) overlaps = overlaps || (r & p).area() > 0;
        if (overlaps) continue;
        placed.push_back(r);
        const int category = uniform(1, 2);
        cv::rectangle(img, r, cv::Scalar::all(category == 1 ? 255 : 110), cv::FILLED);
        annotations.push_back({{"id", annotation_id++}, {"image_id", i}, {"category_id", category},
                               {"bbox", {r.x, r.y, r.width, r.height}}, {"area", r.area()}, {"iscrowd", 0}});
      }
      const std::string name = std::to_string(i) + ".png";
      cv::imwrite((fs::path(root) / split / name).string(), img);
      images.push_back({{"id", i}, {"file_name", name}, {"width", 64}, {"height", 64}});
    }
    const json coco = {{"images", images}, {"annotations", annotations},
                       {"categories", {{{"id", 1}, {"name", "bright"}}, {{"id", 2}, {"name", "dim"}}}}};
    writeText(root + "/" + split + ".json", coco.dump());
  }
}

}  // namespace edgeopt::test
