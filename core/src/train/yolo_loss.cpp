// The YOLOv5 loss (ultralytics utils/loss.py ComputeLoss), op for op so that
// the same inputs give the same floats, and target assignment order (which
// decides which write wins when two targets share a cell) is the same.
#include <edgeopt/detection/yolo.h>
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>

#include <ATen/ATen.h>

#include <cmath>

namespace edgeopt::detection {

namespace {

using at::indexing::Slice;

// bbox_iou(box1, box2, xywh=True, CIoU=True): both [n, 4] (cx, cy, w, h).
at::Tensor ciou(const at::Tensor& box1, const at::Tensor& box2) {
  constexpr double eps = 1e-7;
  constexpr double kPi = 3.14159265358979323846;
  auto c1 = box1.chunk(4, -1), c2 = box2.chunk(4, -1);
  const at::Tensor &x1 = c1[0], &y1 = c1[1], &w1 = c1[2], &h1 = c1[3];
  const at::Tensor &x2 = c2[0], &y2 = c2[1], &w2 = c2[2], &h2 = c2[3];
  const at::Tensor w1_ = w1 / 2, h1_ = h1 / 2, w2_ = w2 / 2, h2_ = h2 / 2;
  const at::Tensor b1_x1 = x1 - w1_, b1_x2 = x1 + w1_, b1_y1 = y1 - h1_, b1_y2 = y1 + h1_;
  const at::Tensor b2_x1 = x2 - w2_, b2_x2 = x2 + w2_, b2_y1 = y2 - h2_, b2_y2 = y2 + h2_;
  const at::Tensor inter = (at::minimum(b1_x2, b2_x2) - at::maximum(b1_x1, b2_x1)).clamp(0) *
                           (at::minimum(b1_y2, b2_y2) - at::maximum(b1_y1, b2_y1)).clamp(0);
  const at::Tensor uni = w1 * h1 + w2 * h2 - inter + eps;
  const at::Tensor iou = inter / uni;
  const at::Tensor cw = at::maximum(b1_x2, b2_x2) - at::minimum(b1_x1, b2_x1);
  const at::Tensor ch = at::maximum(b1_y2, b2_y2) - at::minimum(b1_y1, b2_y1);
  const at::Tensor c2sq = cw.pow(2) + ch.pow(2) + eps;
  const at::Tensor rho2 = ((b2_x1 + b2_x2 - b1_x1 - b1_x2).pow(2) + (b2_y1 + b2_y2 - b1_y1 - b1_y2).pow(2)) / 4;
  // ultralytics divides by the heights as they are: a predicted box whose w and
  // h logits are below about -88 has w = h = 0 in float (the sigmoid
  // underflows), and 0 / 0 made a trained model's validation loss NaN (as a
  // zero-height target box would). Heights below eps count as eps: the same
  // floats otherwise, finite always (and a zero gradient through the clamp).
  const at::Tensor v = (4 / (kPi * kPi)) * (at::atan(w2 / h2.clamp_min(eps)) - at::atan(w1 / h1.clamp_min(eps))).pow(2);
  at::Tensor alpha;
  {
    at::NoGradGuard no_grad;
    alpha = v / (v - iou + (1 + eps));
  }
  return iou - (rho2 / c2sq + v * alpha);
}

struct LevelTargets {
  at::Tensor image, anchor, gj, gi;  // indices into the level's [bs, na, ny, nx, no] map
  at::Tensor box;                    // [n, 4]: (cx, cy) offset in the cell, (w, h) in grid units
  at::Tensor cls;                    // [n]
  at::Tensor anchor_wh;              // [n, 2] grid units
};

// build_targets for one level. `all` is [na, nt, 7]: targets with their
// anchor index appended.
LevelTargets buildTargets(const at::Tensor& all, const at::Tensor& anchors, int64_t nx, int64_t ny, double anchor_t) {
  const double g = 0.5;  // neighbour-cell bias
  const at::Tensor off = at::tensor({0.f, 0.f, 1.f, 0.f, 0.f, 1.f, -1.f, 0.f, 0.f, -1.f}).view({5, 2}) * g;
  at::Tensor gain = at::ones({7});
  gain.index_put_({Slice(2, 6)}, at::tensor({float(nx), float(ny), float(nx), float(ny)}));
  at::Tensor t = all * gain;
  at::Tensor offsets = at::zeros({0, 2});
  if (all.size(1) > 0) {
    const at::Tensor r = t.index({"...", Slice(4, 6)}) / anchors.unsqueeze(1);
    const at::Tensor keep = std::get<0>(at::maximum(r, 1 / r).max(2)) < anchor_t;
    t = t.index({keep});
    const at::Tensor gxy = t.index({Slice(), Slice(2, 4)});
    const at::Tensor gxi = gain.index({at::tensor({int64_t{2}, int64_t{3}})}) - gxy;
    const at::Tensor jk = ((at::remainder(gxy, 1) < g) & (gxy > 1)).t();
    const at::Tensor lm = ((at::remainder(gxi, 1) < g) & (gxi > 1)).t();
    const at::Tensor j = at::stack({at::ones_like(jk[0]), jk[0], jk[1], lm[0], lm[1]});
    t = t.repeat({5, 1, 1}).index({j});
    offsets = (at::zeros_like(gxy).unsqueeze(0) + off.unsqueeze(1)).index({j});
  } else {
    t = all[0];
  }
  LevelTargets lt;
  const at::Tensor gxy = t.index({Slice(), Slice(2, 4)}), gwh = t.index({Slice(), Slice(4, 6)});
  lt.image = t.select(1, 0).to(at::kLong);
  lt.cls = t.select(1, 1).to(at::kLong);
  lt.anchor = t.select(1, 6).to(at::kLong);
  // ultralytics clamps gij in place before using it for the box offsets.
  at::Tensor gij = (gxy - offsets).to(at::kLong);
  gij.select(1, 0).clamp_(0, nx - 1);
  gij.select(1, 1).clamp_(0, ny - 1);
  lt.gi = gij.select(1, 0);
  lt.gj = gij.select(1, 1);
  lt.box = at::cat({gxy - gij, gwh}, 1);
  lt.anchor_wh = anchors.index({lt.anchor});
  return lt;
}

}  // namespace

YoloLossGains YoloLossGains::scaled(int64_t num_classes, int64_t levels, int64_t image_size) {
  YoloLossGains g;
  const double per_level = 3.0 / static_cast<double>(levels);
  g.box *= per_level;
  g.cls *= static_cast<double>(num_classes) / 80.0 * per_level;
  g.obj *= std::pow(static_cast<double>(image_size) / 640.0, 2) * per_level;
  return g;
}

YoloLossResult yoloLoss(const std::vector<at::Tensor>& heads, const at::Tensor& anchors, const at::Tensor& targets,
                        const YoloLossGains& gains) {
  const int64_t nl = static_cast<int64_t>(heads.size()), na = anchors.size(1);
  if (anchors.dim() != 3 || anchors.size(0) != nl || anchors.size(2) != 2)
    throw RuntimeFailure("yolo loss: anchors must be [" + std::to_string(nl) + ", na, 2] for " + std::to_string(nl) +
                         " head maps");
  const int64_t no = heads[0].size(1) / na, nc = no - 5;
  const std::vector<double> balance =
      nl == 3 ? std::vector<double>{4.0, 1.0, 0.4} : std::vector<double>{4.0, 1.0, 0.25, 0.06, 0.02};
  const at::Tensor anchors_f = anchors.to(at::kFloat);
  const at::Tensor t = targets.to(at::kFloat);
  const int64_t nt = t.size(0);
  const at::Tensor ai = at::arange(na, at::kFloat).view({na, 1}).repeat({1, nt});
  const at::Tensor all = at::cat({t.repeat({na, 1, 1}), ai.unsqueeze(-1)}, 2);
  const at::Tensor one = at::ones({1});  // BCEWithLogitsLoss(pos_weight=[1]) as ultralytics builds it

  at::Tensor lbox = at::zeros({1}), lobj = at::zeros({1}), lcls = at::zeros({1});
  int64_t bs = 0;
  for (int64_t i = 0; i < nl; ++i) {
    const at::Tensor& raw = heads[static_cast<size_t>(i)];
    bs = raw.size(0);
    const int64_t ny = raw.size(2), nx = raw.size(3);
    // Detect's training output: [bs, na, ny, nx, no].
    const at::Tensor p = raw.view({bs, na, no, ny, nx}).permute({0, 1, 3, 4, 2}).contiguous();
    const LevelTargets lt = buildTargets(all, anchors_f[i], nx, ny, gains.anchor_t);
    at::Tensor tobj = at::zeros({bs, na, ny, nx}, p.options());
    const int64_t n = lt.image.size(0);
    if (n > 0) {
      const at::Tensor ps = p.index({lt.image, lt.anchor, lt.gj, lt.gi});
      const at::Tensor pxy = ps.index({Slice(), Slice(0, 2)}).sigmoid() * 2 - 0.5;
      const at::Tensor pwh = (ps.index({Slice(), Slice(2, 4)}).sigmoid() * 2).pow(2) * lt.anchor_wh;
      const at::Tensor iou = ciou(at::cat({pxy, pwh}, 1), lt.box).squeeze();
      lbox = lbox + (1.0 - iou).mean();
      tobj.index_put_({lt.image, lt.anchor, lt.gj, lt.gi}, iou.detach().clamp(0).to(tobj.scalar_type()));
      if (nc > 1) {
        const at::Tensor pcls = ps.index({Slice(), Slice(5, at::indexing::None)});
        at::Tensor tcls = at::zeros_like(pcls);
        tcls.index_put_({at::arange(n), lt.cls}, 1.0);
        lcls = lcls + at::binary_cross_entropy_with_logits(pcls, tcls, {}, one);
      }
    }
    const at::Tensor obji = at::binary_cross_entropy_with_logits(p.select(-1, 4), tobj, {}, one);
    lobj = lobj + obji * balance[static_cast<size_t>(i)];
  }
  YoloLossResult r;
  r.box = lbox * gains.box;
  r.obj = lobj * gains.obj;
  r.cls = lcls * gains.cls;
  r.total = ((r.box + r.obj + r.cls) * static_cast<double>(bs)).squeeze();
  return r;
}

at::Tensor yoloTargets(const std::vector<std::vector<Box>>& boxes, int64_t image_w, int64_t image_h) {
  std::vector<float> rows;
  const double w = static_cast<double>(image_w), h = static_cast<double>(image_h);
  for (size_t image = 0; image < boxes.size(); ++image)
    for (const Box& b : boxes[image]) {
      if (b.crowd) continue;
      rows.insert(rows.end(), {static_cast<float>(image), static_cast<float>(b.label),
                               static_cast<float>((double(b.x1) + b.x2) / 2 / w),
                               static_cast<float>((double(b.y1) + b.y2) / 2 / h),
                               static_cast<float>((double(b.x2) - b.x1) / w),
                               static_cast<float>((double(b.y2) - b.y1) / h)});
    }
  return at::tensor(rows).view({static_cast<int64_t>(rows.size() / 6), 6});
}

at::Tensor yoloAnchors(const GraphModule& model) {
  for (const auto& [name, t] : model.namedBuffers()) {
    const bool named = name == "anchors" || (name.size() > 8 && name.compare(name.size() - 8, 8, ".anchors") == 0);
    if (named && t.dim() == 3 && t.size(2) == 2) return t;
  }
  throw RuntimeFailure("task: detection needs a YOLO-style model with an anchors buffer [levels, anchors, 2] "
                       "(model.24.anchors in the zoo's yolov5n/s); this model has none");
}

}  // namespace edgeopt::detection
