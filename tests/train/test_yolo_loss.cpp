// The YOLOv5 loss against a PyTorch re-implementation of ultralytics'
// ComputeLoss (yolo_loss_reference.py, run with Debian's python3): loss,
// components and gradients on random head maps and boxes chosen to hit the
// neighbour-cell offsets, the anchor-ratio filter and shared cells.
#include <edgeopt/detection/yolo.h>

#include "test_support.h"

#include <ATen/ATen.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>

using namespace edgeopt;
using namespace edgeopt::detection;
using nlohmann::json;

namespace {

// The zoo's anchors (pixels at strides 8/16/32) in grid units.
at::Tensor zooAnchors() {
  const float px[3][6] = {{10, 13, 16, 30, 33, 23}, {30, 61, 62, 45, 59, 119}, {116, 90, 156, 198, 373, 326}};
  at::Tensor a = at::empty({3, 3, 2});
  for (int l = 0; l < 3; ++l)
    for (int j = 0; j < 6; ++j) a[l][j / 2][j % 2] = px[l][j] / static_cast<float>(8 << l);
  return a;
}

json tensorJson(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kFloat).contiguous();
  return {{"shape", c.sizes().vec()}, {"data", std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())}};
}

struct Case {
  std::vector<at::Tensor> heads;
  at::Tensor targets;
  YoloLossGains gains;
};

Case makeCase(int64_t nc, int64_t batch, int64_t size, at::Tensor targets) {
  Case c;
  for (int64_t s : {8, 16, 32}) c.heads.push_back((at::randn({batch, 3 * (5 + nc), size / s, size / s}) * 2).requires_grad_());
  c.targets = std::move(targets);
  c.gains = YoloLossGains::scaled(nc, 3, size);
  return c;
}

// Boxes (image, class, cx, cy, w, h), normalized: centres near cell borders
// (neighbour offsets at every level), a box too large for the small anchors,
// two boxes in one cell, plus random ones.
at::Tensor handPickedTargets(int64_t nc, int64_t batch) {
  at::Tensor t = at::tensor({0.f, 1.f, 0.30f, 0.40f, 0.20f, 0.25f,  //
                             0.f, 2.f, 0.52f, 0.55f, 0.50f, 0.60f,  //
                             1.f, 0.f, 0.81f, 0.14f, 0.06f, 0.05f,  //
                             1.f, 0.f, 0.80f, 0.15f, 0.08f, 0.07f,  //
                             1.f, 2.f, 0.50f, 0.50f, 0.90f, 0.90f,  //
                             0.f, 1.f, 0.97f, 0.03f, 0.04f, 0.05f})
                     .view({6, 6});
  at::Tensor random = at::rand({10, 6});
  random.select(1, 0).mul_(batch).floor_();
  random.select(1, 1).mul_(nc).floor_();
  random.narrow(1, 4, 2).mul_(0.6).add_(0.02);
  t = at::cat({t, random});
  t.select(1, 1).remainder_(nc);
  return t;
}

}  // namespace

TEST_CASE("yolo loss: matches the PyTorch ComputeLoss reference (loss, parts, gradients)", "[detection]") {
  at::manual_seed(3);
  std::vector<Case> cases;
  cases.push_back(makeCase(3, 2, 64, handPickedTargets(3, 2)));
  cases.push_back(makeCase(1, 2, 96, handPickedTargets(1, 2)));   // one class: no class loss
  cases.push_back(makeCase(3, 2, 64, at::zeros({0, 6})));         // no objects: objectness only
  cases.push_back(makeCase(5, 3, 128, handPickedTargets(5, 3)));

  const at::Tensor anchors = zooAnchors();
  json in = {{"cases", json::array()}};
  for (const Case& c : cases) {
    json heads = json::array();
    for (const auto& h : c.heads) heads.push_back(tensorJson(h));
    in["cases"].push_back({{"heads", heads},
                           {"anchors", tensorJson(anchors)},
                           {"targets", tensorJson(c.targets)},
                           {"gains", {{"box", c.gains.box}, {"obj", c.gains.obj}, {"cls", c.gains.cls},
                                      {"anchor_t", c.gains.anchor_t}}}});
  }
  const std::string dir = test::scratchDir("yolo-loss");
  test::writeText(dir + "/in.json", in.dump());
  const std::string cmd = std::string(EDGEOPT_SYSTEM_PYTHON) + " -B '" + EDGEOPT_SOURCE_DIR +
                          "/tests/train/yolo_loss_reference.py' '" + dir + "/in.json' '" + dir + "/out.json' > '" + dir +
                          "/python.log' 2>&1";
  if (std::system(cmd.c_str()) != 0) FAIL("reference failed (" << cmd << "):\n" << test::readText(dir + "/python.log"));
  const json out = json::parse(test::readText(dir + "/out.json"));

  for (size_t k = 0; k < cases.size(); ++k) {
    INFO("case " << k);
    const Case& c = cases[k];
    const json& ref = out["cases"][k];
    YoloLossResult r = yoloLoss(c.heads, anchors, c.targets, c.gains);
    r.total.backward();
    CHECK(r.total.item<double>() == Approx(ref["loss"].get<double>()).margin(1e-5).epsilon(1e-6));
    CHECK(r.box.item<double>() == Approx(ref["box"].get<double>()).margin(1e-6));
    CHECK(r.obj.item<double>() == Approx(ref["obj"].get<double>()).margin(1e-6));
    CHECK(r.cls.item<double>() == Approx(ref["cls"].get<double>()).margin(1e-6));
    if (k != 2) CHECK(r.box.item<double>() > 0);  // the cases with objects do assign targets
    for (size_t level = 0; level < 3; ++level) {
      const at::Tensor expected = at::tensor(ref["grads"][level].get<std::vector<float>>()).view_as(c.heads[level]);
      const double diff = (c.heads[level].grad() - expected).abs().max().item<double>();
      INFO("level " << level << " max |grad - reference| " << diff);
      CHECK(diff < 1e-7);  // gradients are ~1e-3; measured differences ~1e-10
      CHECK(expected.abs().max().item<double>() > 1e-4);  // gradients are not trivially zero
    }
  }
}

TEST_CASE("yolo loss: boxes of zero width and height give a finite loss and gradients", "[detection]") {
  // w and h logits of -100 underflow the sigmoid: every predicted box is 0 x 0
  // (a trained yolov5n's validation loss was NaN so); one target is 0 high.
  at::manual_seed(4);
  Case c = makeCase(3, 2, 64, handPickedTargets(3, 2));
  at::Tensor zero_height = at::tensor({1.f, 1.f, 0.5f, 0.5f, 0.3f, 0.f}).view({1, 6});
  c.targets = at::cat({c.targets, zero_height});
  for (at::Tensor& h : c.heads) {
    at::NoGradGuard no_grad;
    at::Tensor per_anchor = h.view({h.size(0), 3, 5 + 3, h.size(2), h.size(3)});
    per_anchor.narrow(2, 2, 2).fill_(-100.0);
  }
  YoloLossResult r = yoloLoss(c.heads, zooAnchors(), c.targets, c.gains);
  r.total.backward();
  CHECK(std::isfinite(r.total.item<double>()));
  // No overlap anywhere: CIoU <= 0, so each level with targets adds >= 1 before the gain.
  CHECK(r.box.item<double>() >= c.gains.box);
  for (const at::Tensor& h : c.heads) CHECK(h.grad().isfinite().all().item<bool>());
}

TEST_CASE("yolo loss: gains scaled as ultralytics' train.py", "[detection]") {
  // hyp.scratch-low box .05, cls .5, obj 1 with 3 levels, 80 classes, 640 px: unchanged.
  YoloLossGains g = YoloLossGains::scaled(80, 3, 640);
  CHECK(g.box == Approx(0.05));
  CHECK(g.cls == Approx(0.5));
  CHECK(g.obj == Approx(1.0));
  // 10 classes at 128 px: cls .5 * 10/80, obj 1 * (128/640)^2.
  g = YoloLossGains::scaled(10, 3, 128);
  CHECK(g.cls == Approx(0.0625));
  CHECK(g.obj == Approx(0.04));
}

TEST_CASE("yolo targets: normalized centre/size per image, crowd boxes left out", "[detection]") {
  Box a;
  a.x1 = 8, a.y1 = 16, a.x2 = 24, a.y2 = 48, a.label = 2;
  Box crowd = a;
  crowd.crowd = true;
  const at::Tensor t = yoloTargets({{}, {a, crowd}}, 64, 128);
  REQUIRE(t.sizes().vec() == std::vector<int64_t>{1, 6});
  const std::vector<float> expect{1, 2, 16.f / 64, 32.f / 128, 16.f / 64, 32.f / 128};
  for (int64_t i = 0; i < 6; ++i) CHECK(t[0][i].item<float>() == Approx(expect[static_cast<size_t>(i)]));
}

TEST_CASE("nms: greedy by score, IoU strictly above the threshold suppresses", "[detection]") {
  // A (0,0,10,10) .9; B (0,0,10,8) .8 has IoU 80/100 = .8 with A -> dropped at
  // .65; C (0,0,10,6.5) .7: IoU .65 with A -> kept (not > .65); D far away.
  const at::Tensor boxes = at::tensor({0.f, 0.f, 10.f, 10.f, 0.f, 0.f, 10.f, 8.f, 0.f, 0.f, 10.f, 6.5f,
                                       50.f, 50.f, 60.f, 60.f}).view({4, 4});
  const at::Tensor scores = at::tensor({0.9f, 0.8f, 0.7f, 0.95f});
  CHECK(nms(boxes, scores, 0.65) == std::vector<int64_t>{3, 0, 2});
  CHECK(nms(boxes, scores, 0.9) == std::vector<int64_t>{3, 0, 1, 2});
  CHECK(nms(boxes, scores, 0.5) == std::vector<int64_t>{3, 0});
  // max_keep: the first kept ones, as truncating the full result.
  CHECK(nms(boxes, scores, 0.9, 2) == std::vector<int64_t>{3, 0});
  CHECK(nms(boxes, scores, 0.65, 5) == std::vector<int64_t>{3, 0, 2});
}

TEST_CASE("yolo detections: an untrained model's thousands of candidates stay at 300 per image, fast", "[detection]") {
  // Every box of every class scores above .001: 3 * (16*16 + 8*8 + 4*4) = 1008
  // boxes x 10 classes = 10080 candidates per image, spread so that few overlap.
  const int64_t nc = 10, no = 5 + nc;
  std::vector<at::Tensor> heads;
  for (int64_t s : {8, 16, 32}) heads.push_back(at::full({2, 3 * no, 128 / s, 128 / s}, 3.f));
  for (auto& h : heads)
    for (int64_t a = 0; a < 3; ++a) h.narrow(1, a * no + 2, 2).fill_(-3.f);  // small boxes: sigmoid(-3) * 2
  const auto dets = yoloDetections(heads, zooAnchors(), 128, 128);
  REQUIRE(dets.size() == 2);
  CHECK(dets[0].size() == 300);
  CHECK(dets[1].size() == 300);
}

TEST_CASE("yolo detections: decoding puts a confident cell's box where Detect does", "[detection]") {
  // One class, 64 px input. All logits -10 (sigmoid ~ 0) except level 0
  // (stride 8), anchor 1 (16x30 px), cell (x 3, y 5): logits 0 give sigmoid .5
  // -> xy = (.5 * 2 - .5 + cell) * 8 = (28, 44), wh = (.5 * 2)^2 * anchor =
  // (16, 30); obj and class logits 10 -> score sigmoid(10)^2.
  const int64_t nc = 1, no = 5 + nc;
  std::vector<at::Tensor> heads;
  for (int64_t s : {8, 16, 32}) heads.push_back(at::full({1, 3 * no, 64 / s, 64 / s}, -10.f));
  for (int64_t k = 0; k < 4; ++k) heads[0][0][1 * no + k][5][3] = 0.f;
  heads[0][0][1 * no + 4][5][3] = 10.f;
  heads[0][0][1 * no + 5][5][3] = 10.f;
  const auto dets = yoloDetections(heads, zooAnchors(), 64, 64);
  REQUIRE(dets.size() == 1);
  REQUIRE(dets[0].size() == 1);  // everything else scores sigmoid(-10)^2 < .001
  const Detection& d = dets[0][0];
  CHECK(d.x1 == Approx(28 - 8));
  CHECK(d.y1 == Approx(44 - 15));
  CHECK(d.x2 == Approx(28 + 8));
  CHECK(d.y2 == Approx(44 + 15));
  const double s = 1 / (1 + std::exp(-10.0));
  CHECK(d.score == Approx(s * s));
  CHECK(d.label == 0);
}
