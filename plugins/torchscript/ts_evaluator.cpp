// Evaluating TorchScript graphs symbolically, node by node: prim nodes are
// dispatched to their handlers, nodes on tensors become IR ops (mapOp), and
// everything computed from constants only is folded with the node's own
// operator.
#include "ts_aten_ops.h"
#include "ts_import_internal.h"

#include <edgeopt/memory_budget.h>
#include <torch/csrc/jit/ir/constants.h>

#include <algorithm>
#include <set>

namespace edgeopt::torchscript::detail {

SVal& Importer::get(Env& env, const jit::Value* v) {
  auto it = env.find(v);
  if (it == env.end()) throw Abort{"internal: value %" + v->debugName() + " was not evaluated"};
  return it->second;
}

void Importer::setOutputs(const jit::Node* n, Env& env, std::vector<SVal> outs) {
  if (outs.size() != n->outputs().size())
    throw Abort{"internal: " + std::string(n->kind().toQualString()) + " produced " + std::to_string(outs.size()) +
                " values for " + std::to_string(n->outputs().size()) + " outputs"};
  for (size_t i = 0; i < outs.size(); ++i) env[n->output(i)] = std::move(outs[i]);
}

// Outputs of a construct we could not evaluate: tensors become poison (so
// their consumers are not reported again), everything else Dynamic.
void Importer::setAllDynamic(const jit::Node* n, Env& env) {
  bool taint = reported_.count(n) != 0;
  for (const jit::Value* v : n->inputs()) {
    auto it = env.find(v);
    taint = taint || (it != env.end() && poisoned(it->second));
  }
  for (const jit::Value* v : n->outputs()) {
    if (v->type()->kind() == c10::TypeKind::TensorType) {
      auto c = std::make_shared<Cell>();
      c->poison = true;
      env[v] = SVal::tensor(c);
    } else {
      env[v] = SVal::dynamic();
      env[v].tainted = taint;
    }
  }
}

std::vector<SVal> Importer::callGraph(const jit::Graph& g, const std::vector<SVal>& args) {
  if (++depth_ > 200) throw Abort{"calls nest deeper than 200 levels"};
  if (args.size() != g.inputs().size())
    throw Abort{"internal: a graph with " + std::to_string(g.inputs().size()) + " inputs called with " +
                std::to_string(args.size())};
  Env env;
  for (size_t i = 0; i < args.size(); ++i) env[g.inputs()[i]] = args[i];
  runBlock(g.block(), env);
  std::vector<SVal> out;
  for (const jit::Value* v : g.outputs()) out.push_back(get(env, v));
  --depth_;
  return out;
}

void Importer::runBlock(const jit::Block* b, Env& env) {
  for (const jit::Node* n : b->nodes()) runNode(n, env);
}

void Importer::runNode(const jit::Node* n, Env& env) {
  const c10::Symbol kind = n->kind();
  if (kind == c10::prim::Constant) {
    const jit::Value* out = n->output();
    if (out->type()->kind() == c10::TypeKind::FunctionType) {
      env[out] = SVal::dynamic();  // read by prim::CallFunction from the type
      return;
    }
    auto iv = jit::toIValue(out);
    env[out] = iv ? SVal::constant(*iv) : SVal::dynamic();
    return;
  }
  if (kind == c10::prim::GetAttr) return getAttr(n, env);
  if (kind == c10::prim::CallMethod) return callMethod(n, env);
  if (kind == c10::prim::CallFunction) return callFunction(n, env);
  if (kind == c10::prim::If) return runIf(n, env);
  if (kind == c10::prim::Loop) return runLoop(n, env);
  if (kind == c10::prim::RaiseException) {
    std::string msg;
    if (n->inputs().size() > 0) {
      const SVal& m = get(env, n->input(0));
      if (m.isConst() && m.iv.isString()) msg = m.iv.toStringRef();
    }
    throw Abort{"the model raises an exception at " + where(n) + (msg.empty() ? "" : ": " + firstLine(msg))};
  }
  if (kind == c10::prim::SetAttr) {
    unsupported(n, "modules that assign attributes in forward");
    return;
  }
  if (kind == c10::prim::Uninitialized) {
    env[n->output()] = SVal::dynamic();
    return;
  }
  if (kind == c10::prim::Print || kind == c10::aten::warn) return;

  std::vector<SVal> in;
  for (const jit::Value* v : n->inputs()) in.push_back(get(env, v));
  if (evalContainerOp(n, env, in)) return;
  if (evalTensorMetadata(n, env, in)) return;

  bool any_tensor = false, any_poison = false, any_dynamic = false, any_module = false;
  for (auto& s : in) {
    any_tensor = any_tensor || tensorLike(s);
    any_poison = any_poison || poisoned(s);
    any_dynamic = any_dynamic || hasDynamic(s);
    any_module = any_module || s.kind == SVal::Kind::Module;
  }
  if (any_poison) {
    // Downstream of an unsupported op: still report ops we could never map.
    const std::string qual = kind.toQualString();
    std::string base = qual.rfind("aten::", 0) == 0 ? qual.substr(6) : "";
    if (isInplaceName(base)) base.pop_back();
    if (any_tensor && !isMappedOp(base)) unsupported(n);
    return setAllDynamic(n, env);
  }
  if (any_tensor && foldBufferFlags(n, env, in)) return;
  if (any_tensor) return mapOp(n, env, in);
  if (any_module) {
    unsupported(n, "an operation on a module object");
    return setAllDynamic(n, env);
  }
  if (any_dynamic) {
    // Tensor results computed from run-time values (torch.empty(x.shape)) can't be imported.
    for (const jit::Value* v : n->outputs())
      if (typeHasTensor(v->type())) {
        unsupported(n, "creates a tensor from values known only at run time");
        return setAllDynamic(n, env);
      }
    return setAllDynamic(n, env);
  }
  constantFold(n, env, in);
}

// Comparisons and reductions of integer buffers, such as a fake-quantizer's
// flag in EdgeOpt's own TorchScript export (`if bool(torch.ne(flag, 0).any())`),
// are evaluated with the buffers' values while importing, so control flow on
// them is specialised like control flow on constants. The IR ops that read
// the flag (fake_quant) still read the buffer. num_batches_tracked changes
// while training: never folded.
bool Importer::foldBufferFlags(const jit::Node* n, Env& env, const std::vector<SVal>& in) {
  static const std::set<std::string> ops = {"aten::ne", "aten::eq", "aten::any", "aten::all",
                                            "aten::gt", "aten::lt", "aten::ge",  "aten::le"};
  if (!ops.count(n->kind().toQualString())) return false;
  std::vector<SVal> folded = in;
  const std::string counter = "num_batches_tracked";
  for (SVal& s : folded) {
    if (!s.isTensor()) {
      if (tensorLike(s)) return false;
      continue;
    }
    const std::string& p = s.cell->param;
    if (p.empty() || !gm_->isBuffer(p)) return false;
    if (p.size() >= counter.size() && p.compare(p.size() - counter.size(), counter.size(), counter) == 0) return false;
    const at::Tensor& t = gm_->tensor(p);
    if (at::isFloatingType(t.scalar_type()) || s.cell->value != paramCell(p)->value) return false;
    s = SVal::constant(t);
  }
  constantFold(n, env, folded);
  return true;
}

// The bytes a factory op (torch.zeros, ones, full, empty and their new_*
// forms) allocates for its constant `size`: of its dtype, else its self's
// (new_*), else float's; 0 for other ops. Saturates past 2^64.
uint64_t Importer::factoryBytes(const jit::Node* n, const std::vector<SVal>& in) const {
  static const std::set<std::string> kFactories = {"aten::zeros",    "aten::ones",      "aten::full",
                                                   "aten::empty",    "aten::new_zeros", "aten::new_ones",
                                                   "aten::new_full", "aten::new_empty", "aten::empty_strided"};
  const c10::FunctionSchema* schema = n->maybeSchema();
  if (!schema || !kFactories.count(n->kind().toQualString())) return 0;
  unsigned __int128 items = 0, item_bytes = sizeof(float);
  if (!in.empty() && in[0].isConst() && in[0].iv.isTensor()) item_bytes = in[0].iv.toTensor().element_size();
  bool sized = false;
  for (size_t i = 0; i < schema->arguments().size() && i < in.size(); ++i) {
    const std::string& name = schema->arguments()[i].name();
    if (name == "size" && in[i].isConst() && in[i].iv.isIntList()) {
      sized = true, items = 1;
      for (int64_t d : in[i].iv.toIntVector())
        if (items = items * static_cast<uint64_t>(std::max<int64_t>(d, 0)); items > UINT64_MAX) return UINT64_MAX;
    }
    if (name == "dtype" && in[i].isConst() && in[i].iv.isInt()) {
      const int64_t t = in[i].iv.toInt();
      if (t >= 0 && t < static_cast<int64_t>(c10::ScalarType::NumOptions) &&
          t != static_cast<int64_t>(c10::ScalarType::Undefined))
        item_bytes = c10::elementSize(static_cast<c10::ScalarType>(t));
    }
  }
  if (!sized) return 0;
  const unsigned __int128 bytes = items * item_bytes;
  return bytes > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(bytes);
}

void Importer::constantFold(const jit::Node* n, Env& env, const std::vector<SVal>& in) {
  if (n->isNondeterministic()) {
    unsupported(n, "random numbers");
    return setAllDynamic(n, env);
  }
  // Folding runs the op: a factory op allocates what the file's constants
  // say (8 GiB from torch.ones([65536, 32768]) in forward). Checked against
  // the memory budget, as the archive check does for the file's own sizes.
  if (const uint64_t bytes = factoryBytes(n, in); bytes > 0) {
    if (!memory_available_) memory_available_ = availableMemoryBytes();
    if (bytes > *memory_available_) {
      unsupported(n, "allocates " + std::to_string(bytes) + " bytes while importing, more than the " +
                         std::to_string(*memory_available_) + " bytes of memory available");
      return setAllDynamic(n, env);
    }
  }
  if (!n->maybeOperator()) {
    unsupported(n, "no operator to evaluate it while importing");
    return setAllDynamic(n, env);
  }
  jit::Stack stack;
  for (auto& s : in) stack.push_back(s.iv);
  try {
    n->getOperation()(stack);
  } catch (const std::exception& e) {
    // E.g. an index check on a path that raises at run time: fine unless a tensor depends on it.
    for (const jit::Value* v : n->outputs())
      if (typeHasTensor(v->type())) unsupported(n, "raises while importing: " + firstLine(e.what()));
    return setAllDynamic(n, env);
  }
  if (stack.size() != n->outputs().size()) return setAllDynamic(n, env);
  std::vector<SVal> out;
  for (auto& iv : stack) out.push_back(SVal::constant(iv));
  setOutputs(n, env, std::move(out));
}

}  // namespace edgeopt::torchscript::detail
