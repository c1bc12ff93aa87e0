// input_permute_to_nchw: models converted from TensorFlow take NHWC input
// and transpose it first (input -> permute(0, 3, 1, 2)). The rule removes that
// permute, so the model takes the NCHW batches EdgeOpt's data loaders make
// and its exports declare an NCHW input; the recorded example input shape is
// permuted to match. Exact: the new model on x.permute(0, 3, 1, 2) equals the
// old one on x.
#include "rules.h"

namespace edgeopt::surgery {
namespace {

class InputPermuteRule : public SurgeryRule {
 public:
  bool apply(Rewriter& rw, const SurgeryContext& ctx) const override {
    GraphModule& m = rw.module();
    std::vector<ir::Shape> shapes = m.exampleInputShapes();
    const std::vector<ir::Value*> inputs = rw.graph().inputs();
    bool changed = false;
    for (size_t i = 0; i < inputs.size(); ++i) {
      ir::Value* x = inputs[i];
      if (x->uses().size() != 1) continue;
      ir::Node* permute = x->uses()[0].user;
      if (permute->opcode() != ir::Opcode::Call || permute->target() != "permute" || !ctx.inScope(*permute) ||
          permute->get<ir::Ints>("dims") != ir::Ints{0, 3, 1, 2})
        continue;
      const std::string name = permute->name();
      rw.replaceOp(permute, {x});
      if (i < shapes.size() && shapes[i].size() == 4) shapes[i] = {shapes[i][0], shapes[i][3], shapes[i][1], shapes[i][2]};
      ctx.record(name);
      changed = true;
    }
    if (changed) m.setExampleInputShapes(shapes);
    return changed;
  }
};

}  // namespace

void registerInputLayoutRule(PluginRegistrar& r) {
  r.add<SurgeryRule>("input_permute_to_nchw",
                     simpleRule<InputPermuteRule>("a leading NHWC -> NCHW input permute is removed (input becomes NCHW)"));
}

}  // namespace edgeopt::surgery
