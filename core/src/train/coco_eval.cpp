// COCO box evaluation, following pycocotools' COCOeval.evaluateImg and
// COCOeval.accumulate step by step (see coco_eval.h for the semantics).
#include <edgeopt/detection/coco_eval.h>
#include <edgeopt/error.h>

#include <algorithm>
#include <numeric>
#include <optional>
#include <string>

namespace edgeopt::detection {

namespace {

constexpr size_t kMaxDetections = 100;

// maskApi.c bbIou on [x, y, w, h] boxes in double; a crowd box's "union" is
// the detection's own area.
double iou(const Detection& d, const Box& g) {
  const double dx = d.x1, dy = d.y1, dw = double(d.x2) - d.x1, dh = double(d.y2) - d.y1;
  const double gx = g.x1, gy = g.y1, gw = double(g.x2) - g.x1, gh = double(g.y2) - g.y1;
  const double w = std::min(dx + dw, gx + gw) - std::max(dx, gx);
  if (w <= 0) return 0;
  const double h = std::min(dy + dh, gy + gh) - std::max(dy, gy);
  if (h <= 0) return 0;
  const double inter = w * h;
  const double uni = g.crowd ? dw * dh : dw * dh + gw * gh - inter;
  return inter / uni;
}

// evaluateImg for one image and category: per threshold, which detections
// matched and which are ignored (matched to a crowd box).
struct ImageMatches {
  std::vector<float> scores;                   // detections, by descending score
  std::vector<std::vector<char>> matched;      // [threshold][detection]
  std::vector<std::vector<char>> ignored;      // [threshold][detection]
  int64_t objects = 0;                         // non-crowd ground truth
};

std::optional<ImageMatches> evaluateImage(std::vector<Box> gt, std::vector<Detection> dt,
                                          const std::vector<double>& thresholds) {
  if (gt.empty() && dt.empty()) return std::nullopt;
  // Non-ignored (non-crowd) ground truth first, each group in its order.
  std::stable_sort(gt.begin(), gt.end(), [](const Box& a, const Box& b) { return !a.crowd && b.crowd; });
  std::stable_sort(dt.begin(), dt.end(), [](const Detection& a, const Detection& b) { return a.score > b.score; });
  if (dt.size() > kMaxDetections) dt.resize(kMaxDetections);

  ImageMatches m;
  for (const Detection& d : dt) m.scores.push_back(d.score);
  for (const Box& g : gt) m.objects += !g.crowd;
  std::vector<std::vector<double>> ious(dt.size(), std::vector<double>(gt.size()));
  for (size_t d = 0; d < dt.size(); ++d)
    for (size_t g = 0; g < gt.size(); ++g) ious[d][g] = iou(dt[d], gt[g]);

  for (double t : thresholds) {
    std::vector<char> gt_taken(gt.size(), 0), matched(dt.size(), 0), ignored(dt.size(), 0);
    for (size_t d = 0; d < dt.size(); ++d) {
      double best = std::min(t, 1 - 1e-10);
      int64_t match = -1;
      for (size_t g = 0; g < gt.size(); ++g) {
        if (gt_taken[g] && !gt[g].crowd) continue;  // crowd boxes take any number of detections
        // Matched to a real object already and only crowd boxes are left.
        if (match > -1 && !gt[static_cast<size_t>(match)].crowd && gt[g].crowd) break;
        if (ious[d][g] < best) continue;
        best = ious[d][g];
        match = static_cast<int64_t>(g);
      }
      if (match == -1) continue;
      matched[d] = 1;
      ignored[d] = gt[static_cast<size_t>(match)].crowd;
      gt_taken[static_cast<size_t>(match)] = 1;
    }
    m.matched.push_back(std::move(matched));
    m.ignored.push_back(std::move(ignored));
  }
  return m;
}

// accumulate for one category: AP per threshold, or nullopt (-1) when the
// category has no non-crowd ground truth.
std::optional<std::vector<double>> averagePrecision(const std::vector<ImageMatches>& images,
                                                    const std::vector<double>& thresholds,
                                                    const std::vector<double>& recall_points) {
  int64_t objects = 0;
  std::vector<float> scores;
  for (const ImageMatches& im : images) {
    objects += im.objects;
    scores.insert(scores.end(), im.scores.begin(), im.scores.end());
  }
  if (objects == 0) return std::nullopt;
  // Detections of all images (in image id order) by descending score, stable.
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });

  std::vector<double> ap;
  for (size_t t = 0; t < thresholds.size(); ++t) {
    std::vector<char> matched, ignored;
    for (const ImageMatches& im : images) {
      matched.insert(matched.end(), im.matched[t].begin(), im.matched[t].end());
      ignored.insert(ignored.end(), im.ignored[t].begin(), im.ignored[t].end());
    }
    std::vector<double> recall, precision;
    double tp = 0, fp = 0;
    for (size_t i : order) {
      if (ignored[i]) continue;  // pycocotools keeps them as steps adding neither tp nor fp
      (matched[i] ? tp : fp) += 1;
      recall.push_back(tp / static_cast<double>(objects));
      precision.push_back(tp / (fp + tp + 2.220446049250313e-16));  // np.spacing(1)
    }
    // Ignored detections repeat the previous (tp, fp) point in pycocotools;
    // repeated points change neither the envelope nor the lookup, so they are
    // left out here.
    for (size_t i = precision.size(); i-- > 1;) precision[i - 1] = std::max(precision[i - 1], precision[i]);
    double sum = 0;
    for (double r : recall_points) {
      // np.searchsorted(rc, r, side="left"): the first point with recall >= r.
      const auto it = std::lower_bound(recall.begin(), recall.end(), r);
      if (it != recall.end()) sum += precision[static_cast<size_t>(it - recall.begin())];
    }
    ap.push_back(sum / static_cast<double>(recall_points.size()));
  }
  return ap;
}

}  // namespace

std::vector<double> CocoEvaluator::iouThresholds() {
  // np.linspace(.5, .95, 10): i * step + start, the last exactly stop.
  std::vector<double> t;
  const double step = (0.95 - 0.5) / 9;
  for (int i = 0; i < 9; ++i) t.push_back(i * step + 0.5);
  t.push_back(0.95);
  return t;
}

std::vector<double> CocoEvaluator::recallPoints() {
  std::vector<double> r;
  const double step = 1.0 / 100;
  for (int i = 0; i < 100; ++i) r.push_back(i * step);
  r.push_back(1.0);
  return r;
}

CocoEvaluator::CocoEvaluator(int64_t num_classes) : num_classes_(num_classes) {}

void CocoEvaluator::addImage(int64_t image_id, const std::vector<Box>& ground_truth,
                             const std::vector<Detection>& detections) {
  auto check = [&](int64_t label, const char* what) {
    if (label < 0 || label >= num_classes_)
      throw RuntimeFailure("COCO evaluation: image " + std::to_string(image_id) + " has a " + what + " of class " +
                           std::to_string(label) + ", outside the " + std::to_string(num_classes_) + " classes");
  };
  for (const Box& b : ground_truth) check(b.label, "ground-truth box");
  for (const Detection& d : detections) check(d.label, "detection");
  Image& image = images_[image_id];
  image.ground_truth.insert(image.ground_truth.end(), ground_truth.begin(), ground_truth.end());
  image.detections.insert(image.detections.end(), detections.begin(), detections.end());
}

CocoSummary CocoEvaluator::summarize() const {
  const std::vector<double> thresholds = iouThresholds(), recall_points = recallPoints();
  const size_t t75 = 5;
  CocoSummary s;
  double sum = 0, sum50 = 0, sum75 = 0;
  for (int64_t k = 0; k < num_classes_; ++k) {
    std::vector<ImageMatches> per_image;
    for (const auto& [id, image] : images_) {
      std::vector<Box> gt;
      std::vector<Detection> dt;
      for (const Box& b : image.ground_truth)
        if (b.label == k) gt.push_back(b);
      for (const Detection& d : image.detections)
        if (d.label == k) dt.push_back(d);
      if (auto m = evaluateImage(std::move(gt), std::move(dt), thresholds)) per_image.push_back(std::move(*m));
    }
    const auto ap = averagePrecision(per_image, thresholds, recall_points);
    if (!ap) continue;
    ++s.categories;
    sum += std::accumulate(ap->begin(), ap->end(), 0.0) / static_cast<double>(ap->size());
    sum50 += (*ap)[0];
    sum75 += (*ap)[t75];
  }
  if (s.categories == 0) return s;
  const double n = static_cast<double>(s.categories);
  s.map = sum / n;
  s.map50 = sum50 / n;
  s.map75 = sum75 / n;
  return s;
}

}  // namespace edgeopt::detection
