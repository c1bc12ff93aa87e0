#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/op_registry.h>
#include <edgeopt/ir/shape_prop.h>

#include <any>

namespace edgeopt::ir {

namespace {

// Shapes come from files (an .edgeopt's recorded input shape, an ONNX
// header): a negative size or an element count no machine holds is a
// malformed model, and would make the MAC counts overflow (a summary with
// negative MACs). 2^40 elements: 4 TiB of floats in one tensor.
constexpr int64_t kMaxElements = int64_t{1} << 40;

void checkShape(const Shape& shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) throw InputError("shape " + formatShape(shape) + " has a negative size");
    if (d > 0 && count > kMaxElements / d)
      throw InputError("shape " + formatShape(shape) + " has more than 2^40 elements");
    count *= d;
  }
}

}  // namespace

void propagateShapes(Graph& graph, const std::vector<Shape>& input_shapes, const ParamShapeLookup& param_shape) {
  size_t next_input = 0;
  auto inputs = graph.inputs();
  if (inputs.size() != input_shapes.size())
    throw RuntimeFailure("shape propagation: the graph takes " + std::to_string(inputs.size()) +
                         " input(s), got " + std::to_string(input_shapes.size()) + " shape(s)");
  for (Node* n : graph.nodes()) {
    try {
      switch (n->opcode()) {
        case Opcode::Input:
          checkShape(input_shapes[next_input]);
          n->output()->setShape(input_shapes[next_input++]);
          break;
        case Opcode::Param: {
          ParamInfo info = param_shape(n->target());
          n->output()->setShape(info.shape);
          n->meta()["is_buffer"] = info.is_buffer;
          break;
        }
        case Opcode::Output: break;
        case Opcode::Call: {
          const OpDef& op = OpRegistry::instance().get(n->target());
          std::vector<Shape> in;
          int64_t params = 0;
          for (Value* v : n->inputs()) {
            if (!v->shape()) throw RuntimeFailure("input %" + v->displayName() + " has no shape");
            in.push_back(*v->shape());
            Node* p = v->producer();
            if (p->opcode() == Opcode::Param && !std::any_cast<bool>(p->meta().at("is_buffer"))) {
              int64_t count = 1;
              for (int64_t d : *v->shape()) count *= d;
              params += count;
            }
          }
          std::vector<Shape> out = op.shape(*n, in);
          if (out.size() != n->numOutputs())
            throw RuntimeFailure("shape function gave " + std::to_string(out.size()) + " shapes for " +
                                 std::to_string(n->numOutputs()) + " outputs");
          for (const Shape& shape : out) checkShape(shape);
          for (size_t i = 0; i < out.size(); ++i) n->output(i)->setShape(out[i]);
          n->meta()["macs"] = op.macs ? op.macs(*n, in, out) : int64_t{0};
          n->meta()["params"] = params;
          break;
        }
      }
    } catch (const Error& e) {
      // Keeps the cause's exit code: an attribute no op accepts is a malformed
      // model file (InputError), a failing shape function a failure.
      throw Error(e.code(), "shape propagation failed at " + n->format() + ": " + e.what());
    } catch (const std::exception& e) {
      throw RuntimeFailure("shape propagation failed at " + n->format() + ": " + e.what());
    }
  }
}

void propagateShapes(GraphModule& module, const std::vector<Shape>& input_shapes) {
  propagateShapes(module.graph(), input_shapes, [&](const std::string& name) {
    const at::Tensor& t = module.tensor(name);
    return ParamInfo{Shape(t.sizes().begin(), t.sizes().end()), module.isBuffer(name)};
  });
}

}  // namespace edgeopt::ir
