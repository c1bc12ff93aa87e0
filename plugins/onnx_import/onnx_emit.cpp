// Emission: IR ops named, scoped and typed like their ONNX node (with shapes
// propagated so converters can resolve Reshape's 0 or SAME padding),
// constants materialized as parameters or buffers, and IR ops folded on
// constants with the IR's own kernels.
#include "onnx_import_internal.h"

#include <edgeopt/error.h>
#include <edgeopt/ir/executor.h>
#include <edgeopt/ir/op_registry.h>

namespace edgeopt::onnx_import::detail {

// Runs one IR op on constant tensors (constant folding with the IR's own kernels).
std::vector<at::Tensor> runIrOp(const std::string& op, const std::vector<at::Tensor>& inputs, const Attrs& attrs,
                                size_t num_outputs) {
  ir::Graph g;
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i) ins.push_back(g.input("in" + std::to_string(i)));
  ir::Node* n = g.call(op, ins, attrs, "", num_outputs);
  g.output(n->outputs());
  ir::Executor ex(g);
  ir::ExecContext ctx;
  at::NoGradGuard no_grad;
  return ex.run(inputs, [](const std::string& name) -> const at::Tensor& {
    throw RuntimeFailure("no parameter " + name);
  }, ctx);
}

ir::Value* NodeContext::paramFrom(const at::Tensor& t, const std::string& onnx_name, ParamKind kind,
                                  const std::string& tag) {
  if (!t.is_floating_point()) kind = ParamKind::Buffer;  // only float tensors can train
  auto key = std::make_pair(onnx_name + "\n" + tag, kind);
  auto it = state_.materialized.find(key);
  if (it != state_.materialized.end()) return it->second;
  std::string base = sanitize(onnx_name);
  if (base.empty()) base = name_ + ".const";
  std::string name = base;
  for (int i = 1; state_.gm->hasTensor(name); ++i) name = base + "_" + std::to_string(i);
  if (kind == ParamKind::Parameter) state_.gm->registerParameter(name, t.clone());
  else state_.gm->registerBuffer(name, t.clone());
  ir::Value* v = state_.gm->graph().param(name);
  v->setShape(t.sizes().vec());
  auto dot = name.rfind('.');
  if (dot != std::string::npos) {
    ir::Scope scope;
    std::string owner = name.substr(0, dot);
    if (owner == name_) scope = scope_;
    v->producer()->setScope(scope);
    v->producer()->setModuleType(owner == name_ ? module_type_ : "");
  }
  state_.materialized[key] = v;
  return v;
}

ir::Value* NodeContext::irOf(const Val& v, ParamKind kind) {
  if (v.poison) fail("input is poisoned");
  if (v.quantized) fail("reads the integers of a QuantizeLinear (only a DequantizeLinear may)");
  if (v.isConst()) return paramFrom(v.constant, v.name, kind);
  return v.value;
}

ir::Node* NodeContext::emitNode(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs,
                             size_t num_outputs) {
  const ir::OpDef* def = ir::OpRegistry::instance().find(op);
  if (!def) fail("EdgeOpt's IR has no '" + op + "' op");
  ir::Node* n = state_.gm->graph().call(op, inputs, std::move(attrs), name_, num_outputs);
  n->setModuleType(module_type_);
  n->setScope(scope_);
  std::vector<Shape> shapes;
  for (ir::Value* v : inputs) {
    if (!v->shape()) return n;
    shapes.push_back(*v->shape());
  }
  std::vector<Shape> out;
  try {
    out = def->shape(*n, shapes);
  } catch (const std::exception& e) {
    failInput(e.what());
  }
  for (size_t i = 0; i < out.size() && i < n->numOutputs(); ++i) n->output(i)->setShape(out[i]);
  return n;
}

Val NodeContext::apply(const std::string& op, const std::vector<const Val*>& inputs, Attrs attrs) {
  bool all_const = true;
  for (const Val* v : inputs) all_const = all_const && v->isConst();
  if (all_const) {
    std::vector<at::Tensor> ts;
    for (const Val* v : inputs) ts.push_back(v->constant);
    Val out;
    out.constant = runIrOp(op, ts, attrs, 1)[0];
    return out;
  }
  std::vector<ir::Value*> ins;
  for (const Val* v : inputs) ins.push_back(irOf(*v));
  return wrap(emit(op, ins, std::move(attrs)));
}

bool NodeContext::hasOp(const std::string& op) const { return ir::OpRegistry::instance().find(op) != nullptr; }

}  // namespace edgeopt::onnx_import::detail
