#pragma once
// COCO box evaluation with pycocotools' COCOeval semantics (iouType "bbox",
// area range "all", maxDets 100), so numbers compare with published mAPs:
//   - per image and category, detections sorted by score (stable), the first
//     100 kept, matched greedily to the unmatched ground truth of highest IoU
//     >= the threshold, for IoU thresholds .50:.05:.95;
//   - crowd ground truth: IoU = intersection / detection area, may absorb any
//     number of detections, and a detection matched to it is ignored (neither
//     TP nor FP); crowd boxes are not counted as objects to find;
//   - per category, precision at 101 recall points (0:.01:1) from the
//     monotone envelope of the precision/recall curve; a category without
//     ground truth in the evaluated images is left out of the mean (-1).
#include <edgeopt/dataset.h>

#include <cstdint>
#include <map>
#include <vector>

namespace edgeopt::detection {

// A predicted box in the same pixel space as the ground truth.
struct Detection {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  float score = 0;
  int64_t label = 0;
};

struct CocoSummary {
  double map = -1;    // mAP@[.5:.95]; -1 when no category has ground truth
  double map50 = -1;  // mAP@.5
  double map75 = -1;  // mAP@.75
  int64_t categories = 0;  // categories with ground truth (in the mean)
};

class CocoEvaluator {
 public:
  explicit CocoEvaluator(int64_t num_classes);
  // One image's ground truth and detections (labels outside [0, num_classes)
  // are an error). Images are evaluated in the order of their ids, as
  // pycocotools does; adding the same id twice appends.
  void addImage(int64_t image_id, const std::vector<Box>& ground_truth, const std::vector<Detection>& detections);
  CocoSummary summarize() const;

  // The IoU thresholds and recall points, as numpy.linspace makes them.
  static std::vector<double> iouThresholds();
  static std::vector<double> recallPoints();

 private:
  struct Image {
    std::vector<Box> ground_truth;
    std::vector<Detection> detections;
  };
  int64_t num_classes_;
  std::map<int64_t, Image> images_;
};

}  // namespace edgeopt::detection
