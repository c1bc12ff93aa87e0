#pragma once
// YOLOv5 training loss and inference decoding for models whose outputs are
// the raw head maps [N, na * (5 + nc), H / s, W / s], one per level (the zoo's
// yolov5n/s), with the anchors in grid units [levels, na, 2].
//
// yoloLoss follows ultralytics' ComputeLoss (utils/loss.py) with the default
// hyper-parameters (hyp.scratch-low): targets assigned to every anchor whose
// width/height ratio to the box is within anchor_t = 4, in the box's cell and
// the two neighbour cells nearest its centre (0.5 offsets); CIoU box loss;
// objectness BCE against the detached CIoU (gr = 1) weighted 4.0/1.0/0.4 per
// level; class BCE (only when nc > 1); loss = (box + obj + cls) * batch size.
// yoloDetections follows Detect's inference decoding and
// non_max_suppression(multi_label=True) as ultralytics' val.py runs it.
#include <edgeopt/detection/coco_eval.h>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace edgeopt {
class GraphModule;
}

namespace edgeopt::detection {

// The loss gains, as ultralytics' train.py scales hyp for the head:
// box 0.05 * 3 / nl, cls 0.5 * nc / 80 * 3 / nl, obj 1.0 * (size / 640)^2 * 3 / nl.
struct YoloLossGains {
  double box = 0.05, obj = 1.0, cls = 0.5;
  double anchor_t = 4.0;  // max width/height ratio between a box and its anchor
  static YoloLossGains scaled(int64_t num_classes, int64_t levels, int64_t image_size);
};

struct YoloLossResult {
  at::Tensor total;          // scalar: (box + obj + cls) * batch size
  at::Tensor box, obj, cls;  // [1] each, after gains, before the batch-size factor
};

// `targets` [nt, 6]: (image index in batch, class, cx, cy, w, h), the box
// normalized to the image size (ultralytics' label format).
YoloLossResult yoloLoss(const std::vector<at::Tensor>& heads, const at::Tensor& anchors, const at::Tensor& targets,
                        const YoloLossGains& gains);

// The targets tensor for a batch's boxes (pixels of an image_w x image_h
// input); crowd boxes are left out, as ultralytics' COCO labels leave them.
at::Tensor yoloTargets(const std::vector<std::vector<Box>>& boxes, int64_t image_w, int64_t image_h);

// The model's anchors: its buffer named "anchors" or "<path>.anchors", of
// shape [levels, na, 2]; RuntimeFailure naming what is missing otherwise.
at::Tensor yoloAnchors(const GraphModule& model);

struct NmsOptions {
  double conf_threshold = 0.001;  // on obj * cls
  double iou_threshold = 0.65;    // per class
  int64_t max_detections = 300;   // per image
  int64_t max_candidates = 30000;  // boxes entering NMS, by score
};

// Decodes the head maps of an image_w x image_h input into boxes in its
// pixels and runs per-class NMS; one list per image, by descending score.
std::vector<std::vector<Detection>> yoloDetections(const std::vector<at::Tensor>& heads, const at::Tensor& anchors,
                                                   int64_t image_w, int64_t image_h, const NmsOptions& options = {});

// Greedy NMS as torchvision.ops.nms: `boxes` [n, 4] corners, `scores` [n];
// returns the kept indices by descending score (a box is dropped when its IoU
// with a kept one is > iou_threshold). max_keep > 0 stops after that many:
// the same as truncating the full result, but O(max_keep * n) instead of
// O(n^2) when an untrained model scores thousands of boxes.
std::vector<int64_t> nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold,
                         int64_t max_keep = 0);

}  // namespace edgeopt::detection
