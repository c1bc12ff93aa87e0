// The detection task for YOLO-style models (detection/yolo.h): the YOLOv5
// loss on the raw head maps; val loss and COCO mAP of the decoded, NMS-ed
// boxes against the loader's boxes. Boxes stay in the network input's pixels
// on both sides: IoU is unchanged by the letterbox's scale and shift, so the
// mAP equals the one in original image coordinates.
#include "tasks.h"

#include <edgeopt/data_loader.h>
#include <edgeopt/detection/coco_eval.h>
#include <edgeopt/detection/yolo.h>
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>

#include <ATen/ATen.h>

#include <algorithm>

namespace edgeopt {

namespace {

using detection::yoloAnchors;

int64_t numClasses(const std::vector<at::Tensor>& heads, const at::Tensor& anchors) {
  return heads.at(0).size(1) / anchors.size(1) - 5;
}

// A dataset class the model has no output for would be silently dropped by
// the loss: stop and say which option to change.
void requireClassesFit(const Batch& batch, int64_t num_classes) {
  for (size_t i = 0; i < batch.boxes.size(); ++i)
    for (const Box& b : batch.boxes[i])
      if (b.label >= num_classes)
        throw RuntimeFailure(batch.sources.at(i) + ": box of class " + std::to_string(b.label) + ", but the model has " +
                             std::to_string(num_classes) + " classes; set model.num_classes to the dataset's");
}

class DetectionTask : public TrainTask {
 public:
  std::string name() const override { return "detection"; }
  std::string mainMetric() const override { return "map"; }

  std::string describeModel(const GraphModule& model) const override {
    const at::Tensor anchors = yoloAnchors(model);
    return "YOLO head: " + std::to_string(anchors.size(0)) + " levels x " + std::to_string(anchors.size(1)) +
           " anchors; COCO mAP after NMS (conf 0.001, IoU 0.65, 300 per image)";
  }

  BatchLoss loss(const GraphModule& model, const std::vector<at::Tensor>& outputs, const Batch& batch) override {
    const at::Tensor anchors = yoloAnchors(model);
    requireClassesFit(batch, numClasses(outputs, anchors));
    const detection::YoloLossResult r = lossOf(outputs, anchors, batch);
    return {r.total, {{"box", r.box.item<double>()}, {"obj", r.obj.item<double>()}, {"cls", r.cls.item<double>()}}};
  }

  void accumulate(const std::vector<at::Tensor>&, const Batch& batch, const BatchLoss& loss,
                  TrainStats& stats) const override {
    const double n = static_cast<double>(batch.images.size(0));
    double sum = 0;
    for (const auto& [name, value] : loss.parts) sum += value;
    stats.add("loss", sum, n);  // box + obj + cls, per image: ultralytics' printed loss
    for (const auto& [name, value] : loss.parts) stats.add(name, value, n);
  }

  MetricRow evaluateOutputs(const GraphModule& model, DataLoader& loader, const ForwardFn& forward,
                            int64_t max_batches) override {
    at::NoGradGuard no_grad;
    const at::Tensor anchors = yoloAnchors(model);
    std::unique_ptr<detection::CocoEvaluator> coco;
    double loss_sum = 0;
    int64_t images = 0, batches = 0;
    loader.startEpoch(0);
    while (auto batch = loader.next()) {
      const std::vector<at::Tensor> outputs = forward(batch->images);
      const int64_t nc = numClasses(outputs, anchors);
      requireClassesFit(*batch, nc);
      if (!coco) coco = std::make_unique<detection::CocoEvaluator>(nc);
      loss_sum += lossOf(outputs, anchors, *batch).total.item<double>();  // already x batch size
      const auto detections =
          detection::yoloDetections(outputs, anchors, batch->images.size(3), batch->images.size(2));
      for (size_t i = 0; i < detections.size(); ++i) {
        // Images without a dataset id get one past any id seen (unique).
        const int64_t id = i < batch->image_ids.size() && batch->image_ids[i] >= 0 ? batch->image_ids[i]
                                                                                   : -1 - images - int64_t(i);
        coco->addImage(id, batch->boxes[i], detections[i]);
      }
      images += batch->images.size(0);
      if (max_batches > 0 && ++batches >= max_batches) break;
    }
    const detection::CocoSummary s = coco ? coco->summarize() : detection::CocoSummary{};
    return {{"loss", images ? loss_sum / static_cast<double>(images) : 0.0},
            {"map", s.map},
            {"map50", s.map50},
            {"map75", s.map75},
            {"images", static_cast<double>(images)}};
  }

 private:
  static detection::YoloLossResult lossOf(const std::vector<at::Tensor>& outputs, const at::Tensor& anchors,
                                          const Batch& batch) {
    const int64_t h = batch.images.size(2), w = batch.images.size(3);
    const auto gains = detection::YoloLossGains::scaled(numClasses(outputs, anchors),
                                                        static_cast<int64_t>(outputs.size()), std::max(h, w));
    return detection::yoloLoss(outputs, anchors, detection::yoloTargets(batch.boxes, w, h), gains);
  }
};

}  // namespace

std::unique_ptr<TrainTask> makeDetectionTask(const TaskOptions&) { return std::make_unique<DetectionTask>(); }

}  // namespace edgeopt
