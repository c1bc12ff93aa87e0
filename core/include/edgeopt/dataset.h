#pragma once
// Datasets and the data pipeline.
//
// A dataset plugin (datasets/<name>/) registers a Factory<Dataset>; the recipe's
// `data:` section names it (`dataset: imagenet`) with its options (root, ...).
// The core turns a Dataset into batches with DataLoader (data_loader.h):
// decode -> transforms (OpenCV, declared per split in the recipe) -> collate,
// on worker threads, in an order fixed by (seed, epoch).
#include <edgeopt/registry.h>

#include <opencv2/core/mat.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace edgeopt {

enum class Split { Train, Val };
const char* toString(Split s);  // "train", "val"

// A box in pixel coordinates of the example's image, corners (x1, y1, x2, y2).
struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  int64_t label = 0;   // contiguous class index
  bool crowd = false;  // COCO iscrowd
};

// One decoded example, before transforms.
struct Example {
  cv::Mat image;          // HxWxC uint8, as decoded (BGR, or 1 channel for gray)
  int64_t label = -1;     // classification target (-1: none)
  std::vector<Box> boxes;  // detection targets
  int64_t image_id = -1;  // detection: the dataset's image id (for COCO evaluation)
  std::string source;     // file path, or "file[index]", for messages
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size(Split split) const = 0;
  // Thread-safe. Throws InputError naming the file for an unreadable item.
  virtual Example get(Split split, size_t index) const = 0;
  // Class names; index = label.
  virtual const std::vector<std::string>& classes() const = 0;
  // Identifies the data (file list + sizes, or file hashes) for the run manifest.
  virtual std::string fingerprint() const = 0;
};

}  // namespace edgeopt
