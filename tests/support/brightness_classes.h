#pragma once
// A tiny ImageNet-style folder for end-to-end training tests: 3 classes told
// apart by brightness (dark, mid, bright) with uniform noise, 12x12 PNGs,
//   root/train/class<c>/<i>.png  (24 per class: 9 batches of 8)
//   root/val/class<c>/<i>.png    (8 per class)
// The pixels depend only on `seed`: a 3-channel image repeats the gray value.
#include <opencv2/core/mat.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

namespace edgeopt::test {

inline void makeBrightnessClasses(const std::string& root, unsigned seed, int channels) {
  namespace fs = std::filesystem;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(0, 60);
  for (const char* split : {"train", "val"}) {
    const int per_class = std::string(split) == "train" ? 24 : 8;
    for (int c = 0; c < 3; ++c) {
      const fs::path dir = fs::path(root) / split / ("class" + std::to_string(c));
      fs::create_directories(dir);
      for (int i = 0; i < per_class; ++i) {
        cv::Mat img(12, 12, CV_8UC(channels));
        for (int y = 0; y < 12; ++y)
          for (int x = 0; x < 12; ++x) {
            const auto value = static_cast<uint8_t>(30 + 70 * c + noise(rng));
            for (int k = 0; k < channels; ++k) img.ptr<uint8_t>(y, x)[k] = value;
          }
        cv::imwrite((dir / (std::to_string(i) + ".png")).string(), img);
      }
    }
  }
}

}  // namespace edgeopt::test
