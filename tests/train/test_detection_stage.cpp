// Detection training and evaluation end to end through edgeopt-run on a tiny
// generated COCO set (bright and dim squares on black 64x64 canvases): the
// YOLOv5 loss trains, each epoch is scored with COCO mAP, the evaluate stage
// reproduces the trainer's last score, and wrong task/model/data pairings
// stop with one clear line.
#include "cli_runner.h"
#include "coco_squares.h"
#include "run_metrics.h"

#include <nlohmann/json.hpp>

#include <filesystem>

namespace fs = std::filesystem;
using namespace edgeopt::test;
using nlohmann::json;

namespace {

const char* kRecipe = R"(version: 1
name: det
seed: 1
deterministic: true
threads: 2
model: {source: zoo, name: yolov5n, num_classes: 2, input_size: 64, width_mult: 0.5}
data:
  dataset: coco
  train_json: squares/train.json
  train_images: squares/train
  val_json: squares/val.json
  val_images: squares/val
  batch_size: 16
  workers: 2
  train_transforms: [{letterbox: 64}]
  val_transforms: [{letterbox: 64}]
stages:
  - kind: train
    task: detection
    epochs: 30
    eval_every: 10
    lr: 0.05
    momentum: 0.937
    weight_decay: 0.0005
    warmup_epochs: 1
  - kind: evaluate
    task: detection
)";

std::string plugins() {
  static const std::string path = builtinSubset("detect", {"train", "coco", "zoo"});
  return path;
}

}  // namespace

TEST_CASE("detection stage: trains with the YOLO loss, scores COCO mAP per epoch, evaluate agrees", "[detection]") {
  const std::string dir = scratchDir("detect-stage");
  makeCocoSquares(dir + "/squares");
  writeText(dir + "/r.yaml", kRecipe);
  CliResult r = runCli("r.yaml --output out", dir, plugins());
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto rows = metricsRows(dir + "/out");
  REQUIRE(rows.size() == 31);  // 30 epochs + the evaluate stage
  for (size_t e = 0; e < 30; ++e) {
    for (const char* key : {"train_loss", "train_box", "train_obj", "train_cls"}) CHECK(rows[e].contains(key));
    const bool evaluated = (e + 1) % 10 == 0;
    CHECK(rows[e].contains("val_map") == evaluated);
    if (!evaluated) continue;
    CHECK(rows[e]["val_map"].get<double>() >= 0);
    CHECK(rows[e]["val_map"].get<double>() <= rows[e]["val_map50"].get<double>());
    CHECK(rows[e]["val_images"] == 16);
  }
  // The loss trains and boxes are found. Measured (seed 1, deterministic, 2026-12-06):
  // train loss 0.127 -> 0.059, val loss 0.198 (epoch 20) -> 0.096, val mAP@.5 0.161
  // (mAP 0.092) after 30 epochs of 4 batches; the floor leaves room for
  // other machines' rounding.
  CHECK(rows[29]["train_loss"].get<double>() < 0.7 * rows[0]["train_loss"].get<double>());
  CHECK(rows[29]["val_loss"].get<double>() < rows[19]["val_loss"].get<double>());
  CHECK(rows[29]["val_map50"].get<double>() > 0.05);
  CHECK(rows[29]["best_epoch"] == 30);
  // keep: last (default): the evaluate stage scores the same model on the
  // same loader, so the same numbers.
  const json& eval = rows[30];
  CHECK(eval["kind"] == "evaluate");
  CHECK(eval["val_map"].get<double>() == rows[29]["val_map"].get<double>());
  CHECK(eval["val_loss"].get<double>() == Approx(rows[29]["val_loss"].get<double>()).epsilon(1e-9));
  CHECK(fs::exists(dir + "/out/stages/0-train/best.edgeopt"));
  CHECK(fs::exists(dir + "/out/stages/0-train/last.edgeopt"));
}

TEST_CASE("detection stage: a task that does not fit the data or the model stops with one line", "[detection]") {
  const std::string dir = scratchDir("detect-errors");
  makeCocoSquares(dir + "/squares");
  writeText(dir + "/r.yaml", kRecipe);
  // Classification on a detection set: no class label per image.
  CliResult cls = runCli("r.yaml --output a --set stages.0.task=classification --set stages.0.epochs=1", dir, plugins());
  CHECK(cls.code == 1);
  CHECK(cls.lastErrLine().find("classification needs one per image; for a detection set use task: detection") !=
        std::string::npos);
  // Detection on a classifier: no anchors.
  CliResult model = runCli("r.yaml --output b --set stages.0.epochs=1 --set 'model={source: zoo, name: resnet18, "
                           "num_classes: 2, input_size: 64}'",
                           dir, plugins());
  CHECK(model.code == 1);
  CHECK(model.lastErrLine().find("task: detection needs a YOLO-style model with an anchors buffer") !=
        std::string::npos);
  // --dry-run finds the missing anchors before anything runs.
  CliResult dry = runCli("r.yaml --dry-run --set 'model={source: zoo, name: resnet18, num_classes: 2, input_size: 64}'",
                         dir, plugins());
  CHECK(dry.code == 1);
  CHECK(dry.lastErrLine().find("r.yaml:18:5: stages.0: planning stage 'train' (plugin train) failed: task: detection "
                               "needs a YOLO-style model") != std::string::npos);
  // A model with fewer classes than the data.
  CliResult classes = runCli("r.yaml --output c --set stages.0.epochs=1 --set model.num_classes=1", dir, plugins());
  CHECK(classes.code == 1);
  CHECK(classes.lastErrLine().find("classes; set model.num_classes to the dataset's") != std::string::npos);
}
