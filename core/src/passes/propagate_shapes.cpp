// propagate-shapes: an analysis; writes every value's shape and each call's
// meta["macs"]/meta["params"] for the given input shape. Changes nothing else.
#include "passes.h"

#include <edgeopt/graph_module.h>
#include <edgeopt/ir/shape_prop.h>

namespace edgeopt::passes {
namespace {

class PropagateShapes : public Pass {
 public:
  explicit PropagateShapes(std::vector<int64_t> shape) : shape_(std::move(shape)) {}
  PassResult run(GraphModule& module) override {
    ir::propagateShapes(module, {shape_});
    return {false};
  }

 private:
  std::vector<int64_t> shape_;
};

}  // namespace

std::unique_ptr<Pass> createPropagateShapes(const Options& o) {
  return std::make_unique<PropagateShapes>(o.get<std::vector<int64_t>>("input_shape"));
}

}  // namespace edgeopt::passes
