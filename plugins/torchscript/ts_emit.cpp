// Emission into the scratch graph: IR ops (with shapes inferred as a hint for
// converters that need them), parameters and buffers under their state_dict
// names, and constant tensors turned into buffers.
#include "ts_import_internal.h"

namespace edgeopt::torchscript::detail {

CellPtr Importer::paramCell(const std::string& name) {
  auto it = param_cells_.find(name);
  if (it != param_cells_.end()) return it->second;
  auto c = std::make_shared<Cell>();
  c->param = name;
  c->value = scratch_.param(name);
  c->value->setShape(gm_->tensor(name).sizes().vec());
  node_frame_[c->value->producer()] = frame_;
  param_cells_[name] = c;
  return c;
}

ir::Value* Importer::emit(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs) {
  return emitNode(op, std::move(inputs), std::move(attrs), 1)->output();
}

ir::Node* Importer::emitNode(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs, size_t num_outputs) {
  const ir::OpDef* def = ir::OpRegistry::instance().find(op);
  if (!def) throw Abort{"internal: IR op '" + op + "' is not registered"};
  ir::Node* node = scratch_.call(op, inputs, std::move(attrs), "", num_outputs);
  node_frame_[node] = frame_;
  std::vector<ir::Shape> shapes;
  for (ir::Value* v : inputs) {
    if (!v->shape()) return node;
    shapes.push_back(*v->shape());
  }
  try {
    auto out = def->shape(*node, shapes);
    for (size_t i = 0; i < out.size() && i < node->numOutputs(); ++i) node->output(i)->setShape(out[i]);
  } catch (const std::exception&) {
    // Shapes are only a hint while importing; shape propagation reports real mismatches.
  }
  return node;
}

// The IR value of a tensor argument; constant tensors become buffers.
ir::Value* Importer::valueOf(const SVal& s) {
  if (s.kind == SVal::Kind::Tensor) return s.cell->value;
  if (s.kind == SVal::Kind::Transposed && hasOp("transpose"))
    return emit("transpose", {s.cell->value}, {{"dim0", int64_t{0}}, {"dim1", int64_t{1}}});
  if (s.isConstTensor()) {
    const at::Tensor& t = s.iv.toTensor();
    auto it = const_values_.find(t.unsafeGetTensorImpl());
    if (it != const_values_.end()) return it->second.second;
    std::string name;
    do {
      name = join(frames_[frame_].path, "_const" + std::to_string(num_consts_++));
    } while (gm_->hasTensor(name));
    gm_->registerBuffer(name, t.clone());
    ir::Value* v = paramCell(name)->value;
    // Keyed by the tensor, which the entry keeps alive: a later constant
    // (another block's mask) can't reuse its address.
    const_values_[t.unsafeGetTensorImpl()] = {t, v};
    return v;
  }
  return nullptr;
}

}  // namespace edgeopt::torchscript::detail
