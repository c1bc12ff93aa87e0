// focus_to_reshape (off by default): YOLOv5's Focus / space-to-depth
//   cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)
// (four strided slices, a concat) becomes one reshape -> permute -> reshape:
//   x.reshape(-1, C, H/2, 2, W/2, 2).permute(0, 5, 3, 1, 2, 4).reshape(-1, 4C, H/2, W/2)
// which accelerators run as a single data movement. Exact (the same values in
// the same channel order); the permute follows the order of the four slices
// (column offset outer, as YOLOv5 writes it, or row offset outer).
#include "rules.h"

#include <array>
#include <limits>

namespace edgeopt::surgery {
namespace {

struct Phase {
  int64_t row = -1, col = -1;  // offsets (0 or 1) of the stride-2 slices on H and W
};

// Follows `v` back through slices to their source; nullopt if it is not a
// stride-2 slice on H and on W (plus slices that keep everything).
std::optional<std::pair<ir::Value*, Phase>> phaseOf(ir::Value* v) {
  Phase p;
  while (v->producer()->opcode() == ir::Opcode::Call && v->producer()->target() == "slice") {
    const ir::Node* s = v->producer();
    if (v->uses().size() != 1) return std::nullopt;
    int64_t dim = s->getOr<int64_t>("dim", 0);
    if (dim < 0) dim += 4;
    const int64_t start = s->getOr<int64_t>("start", 0), step = s->getOr<int64_t>("step", 1);
    const int64_t end = s->getOr<int64_t>("end", std::numeric_limits<int64_t>::max());
    const ir::Shape* in = knownShape(s->input(0));
    const bool to_end = end == std::numeric_limits<int64_t>::max() || (in && in->size() == 4 && end >= (*in)[dim]);
    if (step == 1 && start == 0 && to_end) {
      // keeps everything
    } else if ((dim == 2 || dim == 3) && step == 2 && (start == 0 || start == 1) && to_end) {
      int64_t& slot = dim == 2 ? p.row : p.col;
      if (slot >= 0) return std::nullopt;
      slot = start;
    } else {
      return std::nullopt;
    }
    v = s->input(0);
  }
  if (p.row < 0 || p.col < 0) return std::nullopt;
  return std::make_pair(v, p);
}

class FocusToReshape : public RewritePattern {
 public:
  FocusToReshape() : RewritePattern("cat") {}
  std::string name() const override { return "FocusToReshape"; }

  bool matchAndRewrite(ir::Node* root, Rewriter& rw) const override {
    if (root->numInputs() != 4 || (root->getOr<int64_t>("dim", 0) != 1 && root->getOr<int64_t>("dim", 0) != -3))
      return rw.notifyMatchFailure(*root, "not a 4-way concat over channels");
    ir::Value* x = nullptr;
    std::array<Phase, 4> phases;
    for (size_t i = 0; i < 4; ++i) {
      auto got = phaseOf(root->input(i));
      if (!got || (x && got->first != x)) return rw.notifyMatchFailure(*root, "inputs are not 2x2 phases of one tensor");
      x = got->first;
      phases[i] = got->second;
    }
    auto is = [&](std::array<int64_t, 8> rc) {
      for (size_t i = 0; i < 4; ++i)
        if (phases[i].row != rc[2 * i] || phases[i].col != rc[2 * i + 1]) return false;
      return true;
    };
    ir::Ints dims;
    if (is({0, 0, 1, 0, 0, 1, 1, 1})) dims = {0, 5, 3, 1, 2, 4};       // column offset outer (YOLOv5)
    else if (is({0, 0, 0, 1, 1, 0, 1, 1})) dims = {0, 3, 5, 1, 2, 4};  // row offset outer
    else return rw.notifyMatchFailure(*root, "phases in an order other than YOLOv5's or row-major");
    const ir::Shape* s = knownShape(x);
    if (!s || s->size() != 4 || (*s)[2] % 2 || (*s)[3] % 2)
      return rw.notifyMatchFailure(*root, "input shape unknown or H, W odd");
    const int64_t c = (*s)[1], h = (*s)[2] / 2, w = (*s)[3] / 2;
    ir::Value* y;
    {
      auto guard = rw.insertingBefore(root);
      y = rw.createOp("reshape", {x}, {{"shape", ir::Ints{-1, c, h, 2, w, 2}}}, root->name() + ".split", root)->output();
      y = rw.createOp("permute", {y}, {{"dims", dims}}, root->name() + ".permute", root)->output();
    }
    std::vector<ir::Node*> slices;
    for (ir::Value* in : root->inputs()) slices.push_back(in->producer());
    rw.replaceOpWithNewOp(root, "reshape", {y}, {{"shape", ir::Ints{-1, 4 * c, h, w}}});
    for (ir::Node* s : slices) rw.eraseDeadChain(s);
    return true;
  }
};

}  // namespace

void registerFocusRule(PluginRegistrar& r) {
  r.add<SurgeryRule>("focus_to_reshape",
                     patternRule("Focus / space-to-depth (4 strided slices + concat) -> reshape, permute, reshape (exact)",
                                 [] { return patternsOf<FocusToReshape>(); }));
}

}  // namespace edgeopt::surgery
