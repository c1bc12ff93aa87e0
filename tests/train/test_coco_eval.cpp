// COCO mAP against answers worked out by hand from pycocotools' COCOeval
// (bbox, area all, maxDets 100, IoU .50:.05:.95, 101 recall points).
// Notation: a category's AP at one IoU threshold is the mean over the 101
// recall points r = 0, .01, ..., 1 of the enveloped precision at the first
// point of the PR curve with recall >= r (0 when there is none). Precision
// is tp / (tp + fp + np.spacing(1)) as in pycocotools, so a "perfect" AP is
// 1 - 2e-16, not 1: compare with Approx.
#include <edgeopt/detection/coco_eval.h>

#include <catch2/catch.hpp>

using edgeopt::Box;
using edgeopt::detection::CocoEvaluator;
using edgeopt::detection::Detection;

namespace {

Box gt(float x1, float y1, float x2, float y2, int64_t label = 0, bool crowd = false) {
  Box b;
  b.x1 = x1, b.y1 = y1, b.x2 = x2, b.y2 = y2, b.label = label, b.crowd = crowd;
  return b;
}

Detection det(float x1, float y1, float x2, float y2, float score, int64_t label = 0) {
  return {x1, y1, x2, y2, score, label};
}

}  // namespace

TEST_CASE("coco eval: thresholds and recall points are numpy.linspace's", "[detection]") {
  const auto t = CocoEvaluator::iouThresholds();
  REQUIRE(t.size() == 10);
  CHECK(t[2] == 0.6);                    // np.linspace(.5, .95, 10)[2] == 0.6 exactly
  CHECK(t[8] == 0.8999999999999999);     // and [8] is just below .9
  const auto r = CocoEvaluator::recallPoints();
  REQUIRE(r.size() == 101);
  CHECK(r[57] == 0.5700000000000001);
}

TEST_CASE("coco eval: perfect detections score 1", "[detection]") {
  CocoEvaluator e(2);
  e.addImage(1, {gt(0, 0, 10, 10, 0), gt(20, 20, 40, 30, 1)},
             {det(0, 0, 10, 10, 0.9f, 0), det(20, 20, 40, 30, 0.8f, 1)});
  e.addImage(2, {gt(5, 5, 25, 45, 1)}, {det(5, 5, 25, 45, 0.3f, 1)});
  const auto s = e.summarize();
  CHECK(s.map == Approx(1.0).epsilon(1e-12));
  CHECK(s.map50 == Approx(1.0).epsilon(1e-12));
  CHECK(s.categories == 2);
}

TEST_CASE("coco eval: a false positive ranked above the true positive halves AP", "[detection]") {
  // Sorted: FP (.9), TP (.8). Cumulative tp [0, 1], fp [1, 1] -> recall [0, 1],
  // precision [0, .5]; envelope [.5, .5]; every recall point reads .5.
  CocoEvaluator above(1);
  above.addImage(1, {gt(0, 0, 10, 10)}, {det(50, 50, 60, 60, 0.9f), det(0, 0, 10, 10, 0.8f)});
  CHECK(above.summarize().map == Approx(0.5).epsilon(1e-12));
  // Ranked below instead: recall [1, 1], precision [1, .5]; every recall point
  // finds index 0 -> AP 1.
  CocoEvaluator below(1);
  below.addImage(1, {gt(0, 0, 10, 10)}, {det(50, 50, 60, 60, 0.1f), det(0, 0, 10, 10, 0.8f)});
  CHECK(below.summarize().map == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("coco eval: a detection's IoU decides the thresholds it counts at (>=)", "[detection]") {
  // IoU 60 / 100 = 0.6 exactly: matches at .5, .55 and .6 (>= compares), so
  // AP is 1 at 3 of 10 thresholds -> mAP .3, mAP@.5 1, mAP@.75 0.
  CocoEvaluator at60(1);
  at60.addImage(1, {gt(0, 0, 10, 10)}, {det(0, 0, 10, 6, 0.9f)});
  auto s = at60.summarize();
  CHECK(s.map == Approx(0.3).epsilon(1e-12));
  CHECK(s.map50 == Approx(1.0).epsilon(1e-12));
  CHECK(s.map75 == 0.0);
  // IoU 58 / 100: only .5 and .55 -> mAP .2.
  CocoEvaluator at58(1);
  at58.addImage(1, {gt(0, 0, 10, 10)}, {det(0, 0, 10, 5.8f, 0.9f)});
  CHECK(at58.summarize().map == Approx(0.2).epsilon(1e-12));
}

TEST_CASE("coco eval: precision envelope over 101 recall points", "[detection]") {
  // 3 objects; by score TP, FP, TP, FP. tp [1,1,2,2], fp [0,1,1,2]:
  // recall [1/3, 1/3, 2/3, 2/3], precision [1, 1/2, 2/3, 1/2] -> envelope
  // [1, 2/3, 2/3, 1/2]. r = 0..0.33 (34 points) read 1; r = .34...66 (33
  // points) read 2/3; r >= .67 read 0. AP = (34 + 33 * 2/3) / 101 = 56/101.
  CocoEvaluator e(1);
  e.addImage(7, {gt(0, 0, 10, 10), gt(20, 0, 30, 10), gt(40, 0, 50, 10)},
             {det(0, 0, 10, 10, 0.9f), det(60, 60, 70, 70, 0.8f), det(20, 0, 30, 10, 0.7f),
              det(80, 80, 90, 90, 0.6f)});
  CHECK(e.summarize().map == Approx(56.0 / 101.0).epsilon(1e-12));
}

TEST_CASE("coco eval: a crowd region absorbs detections without counting them", "[detection]") {
  // Crowd box C = (20,0)-(60,40). D = (30,10)-(40,20) lies inside it: IoU with
  // a crowd box is intersection / detection area = 100 / 100 = 1, so D is
  // ignored (neither TP nor FP), even ranked first; so is a second one. The
  // one real object is found: AP 1.
  CocoEvaluator crowd(1);
  crowd.addImage(1, {gt(0, 0, 10, 10), gt(20, 0, 60, 40, 0, true)},
                 {det(30, 10, 40, 20, 0.95f), det(0, 0, 10, 10, 0.9f), det(45, 20, 55, 30, 0.5f)});
  CHECK(crowd.summarize().map == Approx(1.0).epsilon(1e-12));
  // The same box not marked crowd is an object: 2 objects, D's IoU with it is
  // 100 / 1600 -> FP. By score FP, TP, FP: recall [0, 1/2, 1/2], precision
  // [0, 1/2, 1/3] -> envelope [1/2, 1/2, 1/3]; r <= .5 (51 points) read 1/2.
  // AP = 51 * 0.5 / 101.
  CocoEvaluator plain(1);
  plain.addImage(1, {gt(0, 0, 10, 10), gt(20, 0, 60, 40)},
                 {det(30, 10, 40, 20, 0.95f), det(0, 0, 10, 10, 0.9f), det(45, 20, 55, 30, 0.5f)});
  CHECK(plain.summarize().map == Approx(25.5 / 101.0).epsilon(1e-12));
  // A crowd-only category has nothing to find: it is left out (-1).
  CocoEvaluator only_crowd(1);
  only_crowd.addImage(1, {gt(20, 0, 60, 40, 0, true)}, {det(30, 10, 40, 20, 0.95f)});
  CHECK(only_crowd.summarize().map == -1.0);
}

TEST_CASE("coco eval: a detection on an image without ground truth is a false positive", "[detection]") {
  // Image 2 has no objects; its detection (.9) ranks above image 1's TP (.5):
  // as FP-above-TP, AP .5. Image 3 (nothing at all) changes nothing.
  CocoEvaluator e(1);
  e.addImage(1, {gt(0, 0, 10, 10)}, {det(0, 0, 10, 10, 0.5f)});
  e.addImage(2, {}, {det(0, 0, 10, 10, 0.9f)});
  e.addImage(3, {}, {});
  CHECK(e.summarize().map == Approx(0.5).epsilon(1e-12));
}

TEST_CASE("coco eval: categories without detections score 0, without ground truth are left out", "[detection]") {
  // Class 0 perfect (AP 1), class 1 has an object and no detection (AP 0),
  // class 2 has only a detection (no ground truth: -1, not in the mean).
  CocoEvaluator e(3);
  e.addImage(1, {gt(0, 0, 10, 10, 0), gt(20, 20, 30, 30, 1)},
             {det(0, 0, 10, 10, 0.9f, 0), det(50, 50, 60, 60, 0.9f, 2)});
  const auto s = e.summarize();
  CHECK(s.categories == 2);
  CHECK(s.map == Approx(0.5).epsilon(1e-12));
  CHECK(s.map50 == Approx(0.5).epsilon(1e-12));
  // No detections at all: every category with objects scores 0.
  CocoEvaluator none(2);
  none.addImage(1, {gt(0, 0, 10, 10, 1)}, {});
  CHECK(none.summarize().map == 0.0);
  // Nothing to evaluate: -1, as pycocotools prints.
  CHECK(CocoEvaluator(2).summarize().map == -1.0);
}

TEST_CASE("coco eval: each object matches once, the best-IoU free object wins", "[detection]") {
  // Two detections on one object: the higher-scored one is the TP, the other
  // a FP (duplicate) -> recall [1, 1], precision [1, .5] -> AP 1 at IoU .5.
  // At IoU .5 the duplicate (IoU 0.5 with the object: (0,0)-(10,5)) would
  // match a second object B = (0,5)-(10,10) better (IoU 1): with B present
  // it takes B, both objects are found and AP is 1 at every threshold.
  CocoEvaluator dup(1);
  dup.addImage(1, {gt(0, 0, 10, 10)}, {det(0, 0, 10, 10, 0.9f), det(0, 0, 10, 10, 0.8f)});
  CHECK(dup.summarize().map == Approx(1.0).epsilon(1e-12));
  CocoEvaluator two(1);
  two.addImage(1, {gt(0, 0, 10, 5), gt(0, 5, 10, 10)}, {det(0, 0, 10, 5, 0.9f), det(0, 5, 10, 10, 0.8f)});
  CHECK(two.summarize().map == Approx(1.0).epsilon(1e-12));
  // A detection over both halves (IoU .5 with each) matches the first free
  // one at IoU .5 only; the second half is missed: recall [1/2], precision
  // [1]: AP@.5 = 51/101; other thresholds 0.
  CocoEvaluator wide(1);
  wide.addImage(1, {gt(0, 0, 10, 5), gt(0, 5, 10, 10)}, {det(0, 0, 10, 10, 0.9f)});
  const auto s = wide.summarize();
  CHECK(s.map50 == Approx(51.0 / 101.0).epsilon(1e-12));
  CHECK(s.map == Approx(51.0 / 1010.0).epsilon(1e-12));
}

TEST_CASE("coco eval: only the 100 best detections per image and class count", "[detection]") {
  // 100 FPs scored above the TP push it out of the image's top 100: AP 0.
  // With 99 FPs it is the 100th: recall reaches 1 at precision 1/100
  // -> envelope 1/100 everywhere -> AP .01.
  for (int fps : {100, 99}) {
    std::vector<Detection> dets;
    for (int i = 0; i < fps; ++i) dets.push_back(det(100 + i, 100, 101 + i, 101, 0.9f));
    dets.push_back(det(0, 0, 10, 10, 0.5f));
    CocoEvaluator e(1);
    e.addImage(1, {gt(0, 0, 10, 10)}, dets);
    CHECK(e.summarize().map == Approx(fps == 100 ? 0.0 : 0.01).epsilon(1e-12));
  }
}

TEST_CASE("coco eval: a label outside the classes is an error naming the image", "[detection]") {
  CocoEvaluator e(2);
  CHECK_THROWS_WITH(e.addImage(4, {gt(0, 0, 1, 1, 2)}, {}),
                    "COCO evaluation: image 4 has a ground-truth box of class 2, outside the 2 classes");
}
