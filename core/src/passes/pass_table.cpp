// The pass table: every built-in pass, declared once (MLIR's Passes.td).
#include "passes.h"

#include <edgeopt/error.h>

namespace edgeopt {

const std::vector<PassInfo>& passTable() {
  static const std::vector<PassInfo> table = [] {
    std::vector<PassInfo> t;
    t.push_back({"dce", "remove op calls whose results are unused, and unused parameters",
                 "Before: y = relu(x); z = sigmoid(x); output(y)\n"
                 "After:  y = relu(x); output(y)",
                 {}, passes::createDeadCodeElimination});
    t.push_back({"fold-constants", "compute op calls whose inputs are all constant buffers once",
                 "Before: c2 = mul(c, 2.0); y = add(x, c2)   (c a constant buffer)\n"
                 "After:  y = add(x, mul_folded)             (mul_folded = c * 2 as a buffer)",
                 {}, passes::createFoldConstants});
    t.push_back({"fold-conv-bn", "fold batch_norm into the preceding conv2d (inference semantics)",
                 "Before: y = conv2d(x, w); z = batch_norm(y, g, b, m, v)\n"
                 "After:  z = conv2d(x, w', b')   with w' = w*g/sqrt(v+eps), b' = b + (0-m)*g/sqrt(v+eps)",
                 {}, passes::createFoldConvBatchNorm});
    PassInfo shapes{"propagate-shapes", "record every value's shape and each op's MACs for an input shape",
                    "Writes Value::shape() and Node::meta()[\"macs\"], [\"params\"]; the graph is unchanged.",
                    {}, passes::createPropagateShapes};
    shapes.options.add("input_shape", OptionType::IntList).required().atLeast(1).help("[N, C, H, W]");
    t.push_back(std::move(shapes));
    return t;
  }();
  return table;
}

const PassInfo& findPass(const std::string& name) {
  std::string known;
  for (const auto& p : passTable()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw RuntimeFailure("unknown pass '" + name + "' (known: " + known + ")");
}

std::unique_ptr<Pass> createPass(const std::string& name) {
  const PassInfo& info = findPass(name);
  return info.create(info.options.validate(ConfigNode(), name));
}

}  // namespace edgeopt
