// Dispatch of aten nodes to their converters, and the services converters
// use (OpContext). The converters themselves live in ts_aten_ops_<family>.cpp.
#include "ts_aten_ops.h"

#include <stdexcept>

namespace edgeopt::torchscript::detail {

OpContext::OpContext(Importer& importer, const jit::Node* node, Env& env, const std::vector<SVal>& in,
                     std::string base, bool inplace)
    : in(in), base(std::move(base)), inplace(inplace), importer_(importer), node_(node), env_(env) {}

ir::Value* OpContext::tensorAt(size_t i) { return i < in.size() ? importer_.valueOf(in[i]) : nullptr; }

void OpContext::fail(const std::string& reason) {
  importer_.unsupported(node_, reason);
  importer_.setAllDynamic(node_, env_);
}

void OpContext::done(ir::Value* v) {
  if (inplace) {
    if (!in[0].isTensor()) return fail("in-place op on a value that is not a tensor");
    for (Cell* view = in[0].cell.get(); view->view_of; view = view->view_of.get())
      if (!view->view_of->param.empty())
        return fail("in-place update of a slice of parameter/buffer '" + view->view_of->param + "'");
    in[0].cell->value = v;
    // A slice's new value is written into the tensor it was sliced from (and
    // that one's, for a slice of a slice): values are immutable in the IR.
    for (Cell* view = in[0].cell.get(); view->view_of; view = view->view_of.get())
      view->view_of->value = emit("slice_scatter", {view->view_of->value, view->value}, view->view_slice);
    env_[node_->output()] = in[0];
  } else {
    env_[node_->output()] = importer_.result(v);
  }
}

void OpContext::unary(const std::string& op, Attrs attrs) {
  ir::Value* x = tensorAt(0);
  if (!x) return fail("input is not a tensor");
  done(emit(op, {x}, std::move(attrs)));
}

void OpContext::setResult(SVal s) { env_[node_->output()] = std::move(s); }

ir::Value* OpContext::emit(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs) {
  return importer_.emit(op, std::move(inputs), std::move(attrs));
}

ir::Node* OpContext::emitNode(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs,
                              size_t num_outputs) {
  return importer_.emitNode(op, std::move(inputs), std::move(attrs), num_outputs);
}

ir::Value* OpContext::valueOf(const SVal& s) { return importer_.valueOf(s); }

SVal OpContext::result(ir::Value* v) { return importer_.result(v); }

bool OpContext::hasOp(const std::string& op) const { return importer_.hasOp(op); }

void OpContext::recordTrainingOp() { importer_.training_ops_.push_back(importer_.frames_[importer_.frame_].path); }

ir::Value* OpContext::moduleTensor(const std::string& name) {
  return importer_.gm_->hasTensor(name) ? importer_.paramCell(name)->value : nullptr;
}

// ---------------------------------------------------------------------------

void AtenOpTable::add(const std::string& aten_name, AtenConverter convert) {
  if (!converters_.emplace(aten_name, convert).second)
    throw std::logic_error("aten::" + aten_name + " has two converters");
}

AtenConverter AtenOpTable::find(const std::string& aten_name) const {
  auto it = converters_.find(aten_name);
  return it == converters_.end() ? nullptr : it->second;
}

const AtenOpTable& atenOps() {
  static const AtenOpTable table = [] {
    AtenOpTable t;
    addConvLinearOps(t);
    addNormOps(t);
    addActivationOps(t);
    addArithmeticOps(t);
    addShapeOps(t);
    addPoolResizeOps(t);
    addQuantOps(t);
    addWindowOps(t);
    addMathOps(t);
    return t;
  }();
  return table;
}

bool isMappedOp(const std::string& base) { return atenOps().find(base) != nullptr; }

void Importer::mapOp(const jit::Node* n, Env& env, const std::vector<SVal>& in) {
  const std::string qual = n->kind().toQualString();
  if (qual.rfind("aten::", 0) != 0) {
    unsupported(n);
    return setAllDynamic(n, env);
  }
  std::string base = qual.substr(6);
  const bool inplace = isInplaceName(base);
  if (inplace) base.pop_back();

  // Updates of parameters/buffers: BatchNorm's step counter is the IR's
  // batch_norm's job (its optional 6th input); anything else is unsupported.
  if (inplace && in[0].isTensor() && !in[0].cell->param.empty()) {
    const std::string& p = in[0].cell->param;
    const std::string suffix = "num_batches_tracked";
    if (base == "add" && p.size() >= suffix.size() && p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) {
      env[n->output()] = in[0];
      return;
    }
    unsupported(n, "in-place update of parameter/buffer '" + p + "'");
    return setAllDynamic(n, env);
  }

  OpContext op(*this, n, env, in, base, inplace);
  AtenConverter convert = atenOps().find(base);
  if (!convert) return op.fail("");
  convert(op);
}

}  // namespace edgeopt::torchscript::detail
