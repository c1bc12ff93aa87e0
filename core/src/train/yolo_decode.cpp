// YOLOv5 inference decoding (Detect in eval mode) and non-maximum
// suppression (utils/general.py non_max_suppression with multi_label=True, as
// val.py calls it). LibTorch's C++ API has no torchvision ops: nms() is here.
#include <edgeopt/detection/yolo.h>

#include <ATen/ATen.h>

#include <algorithm>

namespace edgeopt::detection {

namespace {

using at::indexing::Slice;

// [bs, boxes, no] rows (cx, cy, w, h, obj, cls...) in input pixels.
at::Tensor decode(const std::vector<at::Tensor>& heads, const at::Tensor& anchors, int64_t image_h) {
  const int64_t na = anchors.size(1);
  std::vector<at::Tensor> levels;
  for (size_t i = 0; i < heads.size(); ++i) {
    const at::Tensor& raw = heads[i];
    const int64_t bs = raw.size(0), no = raw.size(1) / na, ny = raw.size(2), nx = raw.size(3);
    const double stride = static_cast<double>(image_h) / static_cast<double>(ny);
    const at::Tensor y = raw.view({bs, na, no, ny, nx}).permute({0, 1, 3, 4, 2}).sigmoid();
    // _make_grid: cell (x, y) - 0.5, then the anchor sizes in pixels.
    auto mesh = at::meshgrid({at::arange(ny, at::kFloat), at::arange(nx, at::kFloat)}, "ij");
    const at::Tensor grid = at::stack({mesh[1], mesh[0]}, 2).view({1, 1, ny, nx, 2}) - 0.5;
    const at::Tensor anchor_grid =
        (anchors[static_cast<int64_t>(i)].to(at::kFloat) * stride).view({1, na, 1, 1, 2});
    const at::Tensor xy = (y.index({"...", Slice(0, 2)}) * 2 + grid) * stride;
    const at::Tensor wh = (y.index({"...", Slice(2, 4)}) * 2).pow(2) * anchor_grid;
    levels.push_back(at::cat({xy, wh, y.index({"...", Slice(4, at::indexing::None)})}, -1).view({bs, -1, no}));
  }
  return at::cat(levels, 1);
}

}  // namespace

std::vector<int64_t> nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold, int64_t max_keep) {
  const at::Tensor b = boxes.to(at::kFloat).contiguous();
  const at::Tensor order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const int64_t n = b.size(0);
  auto box = b.accessor<float, 2>();
  auto idx = order.accessor<int64_t, 1>();
  std::vector<float> area(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) area[static_cast<size_t>(i)] = (box[i][2] - box[i][0]) * (box[i][3] - box[i][1]);
  std::vector<char> suppressed(static_cast<size_t>(n), 0);
  std::vector<int64_t> keep;
  for (int64_t oi = 0; oi < n; ++oi) {
    const int64_t i = idx[oi];
    if (suppressed[static_cast<size_t>(i)]) continue;
    keep.push_back(i);
    if (max_keep > 0 && static_cast<int64_t>(keep.size()) >= max_keep) break;
    for (int64_t oj = oi + 1; oj < n; ++oj) {
      const int64_t j = idx[oj];
      if (suppressed[static_cast<size_t>(j)]) continue;
      const float w = std::max(0.f, std::min(box[i][2], box[j][2]) - std::max(box[i][0], box[j][0]));
      const float h = std::max(0.f, std::min(box[i][3], box[j][3]) - std::max(box[i][1], box[j][1]));
      const float inter = w * h;
      if (inter / (area[static_cast<size_t>(i)] + area[static_cast<size_t>(j)] - inter) > iou_threshold)
        suppressed[static_cast<size_t>(j)] = 1;
    }
  }
  return keep;
}

std::vector<std::vector<Detection>> yoloDetections(const std::vector<at::Tensor>& heads, const at::Tensor& anchors,
                                                   int64_t image_w, int64_t image_h, const NmsOptions& o) {
  (void)image_w;  // strides come from the height; square and letterboxed inputs share them
  at::NoGradGuard no_grad;
  const at::Tensor pred = decode(heads, anchors, image_h);
  const int64_t nc = pred.size(2) - 5;
  constexpr double kClassOffset = 7680;  // max_wh: boxes of different classes never overlap
  std::vector<std::vector<Detection>> out(static_cast<size_t>(pred.size(0)));
  for (int64_t image = 0; image < pred.size(0); ++image) {
    at::Tensor x = pred[image];
    x = x.index({x.select(1, 4) > o.conf_threshold});
    if (x.size(0) == 0) continue;
    const at::Tensor conf = x.index({Slice(), Slice(5, at::indexing::None)}) * x.index({Slice(), Slice(4, 5)});
    const at::Tensor c = x.index({Slice(), Slice(0, 2)}), half = x.index({Slice(), Slice(2, 4)}) / 2;
    const at::Tensor corners = at::cat({c - half, c + half}, 1);
    at::Tensor rows_boxes, rows_score, rows_class;
    if (nc > 1) {  // every class above the threshold is a candidate
      const at::Tensor ij = (conf > o.conf_threshold).nonzero();
      const at::Tensor i = ij.select(1, 0), j = ij.select(1, 1);
      rows_boxes = corners.index({i});
      rows_score = conf.index({i, j});
      rows_class = j;
    } else {
      auto [best, j] = conf.max(1);
      const at::Tensor keep = best > o.conf_threshold;
      rows_boxes = corners.index({keep});
      rows_score = best.index({keep});
      rows_class = j.index({keep});
    }
    if (rows_score.size(0) == 0) continue;
    at::Tensor order = std::get<1>(rows_score.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
    if (order.size(0) > o.max_candidates) order = order.narrow(0, 0, o.max_candidates);
    rows_boxes = rows_boxes.index({order});
    rows_score = rows_score.index({order});
    rows_class = rows_class.index({order});
    const at::Tensor shifted = rows_boxes + rows_class.unsqueeze(1).to(at::kFloat) * kClassOffset;
    const std::vector<int64_t> kept = nms(shifted, rows_score, o.iou_threshold, o.max_detections);
    auto bx = rows_boxes.accessor<float, 2>();
    auto sc = rows_score.accessor<float, 1>();
    auto cl = rows_class.accessor<int64_t, 1>();
    for (int64_t k : kept)
      out[static_cast<size_t>(image)].push_back({bx[k][0], bx[k][1], bx[k][2], bx[k][3], sc[k], cl[k]});
  }
  return out;
}

}  // namespace edgeopt::detection
