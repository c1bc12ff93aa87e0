// TorchScript -> EdgeOpt IR. See torchscript_import.h for the approach.
//
// Phase 1 evaluates `forward` symbolically into a scratch ir::Graph whose
// nodes remember the module invocation ("frame") that emitted them. Phase 2
// drops dead nodes and copies the rest into the GraphModule's graph with their
// final names: a module call that emitted exactly one op (a leaf module such as
// Conv2d) gives that op the module's path ("features.0.0") and type; other ops
// are named "<module path>.<op>" like the zoo builder's functional calls.
#include "torchscript_import.h"

#include <edgeopt/error.h>
#include <edgeopt/ir/op_registry.h>

#include <ATen/ATen.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/serialization/import.h>

#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace edgeopt::torchscript {
namespace {

namespace jit = torch::jit;
using ir::Attrs;
using ir::Ints;

// ---------------------------------------------------------------------------
// Symbolic values

// A tensor in the model's data flow. In-place ops (relu_, add_) replace the
// cell's value, so every TorchScript value that aliases the tensor (a caller's
// argument, the op's own result) sees the update.
struct Cell {
  ir::Value* value = nullptr;  // in the scratch graph
  bool poison = false;         // produced by an unsupported op: consumers are not reported again
  std::string param;           // non-empty: a parameter or buffer of the module
};
using CellPtr = std::shared_ptr<Cell>;

struct ModuleRef {
  c10::intrusive_ptr<c10::ivalue::Object> obj;
  std::string path;  // "features.3.conv" ("" for the root)
  std::string type;  // "Sequential"
};

struct SVal {
  enum class Kind {
    Dynamic,     // known only at run time (shapes, dtypes, ...) or uninteresting
    Const,       // an IValue computed while importing
    Tensor,      // data flow: a Cell
    Transposed,  // aten::t of a tensor, folded into linear by addmm/mm/matmul
    Module,      // a submodule object
    List,        // a list/tuple with tensor or dynamic elements
    Tuple,
  };
  Kind kind = Kind::Dynamic;
  c10::IValue iv;
  CellPtr cell;
  std::shared_ptr<ModuleRef> mod;
  std::shared_ptr<std::vector<SVal>> elems;
  // Dynamic ints from x.size(d) (size_dim >= 0) or the list x.size() (size_dim == -1).
  CellPtr size_of;
  int64_t size_dim = -2;
  bool tainted = false;  // Dynamic because of an unsupported op upstream: not reported again

  static SVal dynamic() { return SVal{}; }
  static SVal constant(c10::IValue v) {
    SVal s;
    s.kind = Kind::Const;
    s.iv = std::move(v);
    return s;
  }
  static SVal tensor(CellPtr c) {
    SVal s;
    s.kind = Kind::Tensor;
    s.cell = std::move(c);
    return s;
  }
  static SVal sequence(Kind k, std::vector<SVal> items) {
    SVal s;
    s.kind = k;
    s.elems = std::make_shared<std::vector<SVal>>(std::move(items));
    return s;
  }
  bool isConst() const { return kind == Kind::Const; }
  bool isNone() const { return kind == Kind::Const && iv.isNone(); }
  bool isTensor() const { return kind == Kind::Tensor; }
  bool isConstTensor() const { return kind == Kind::Const && iv.isTensor(); }
};

bool tensorLike(const SVal& s) {
  if (s.kind == SVal::Kind::Tensor || s.kind == SVal::Kind::Transposed) return true;
  if (s.kind == SVal::Kind::List || s.kind == SVal::Kind::Tuple)
    for (auto& e : *s.elems)
      if (tensorLike(e)) return true;
  return false;
}

bool poisoned(const SVal& s) {
  if (s.kind == SVal::Kind::Tensor) return s.cell->poison;
  if (s.kind == SVal::Kind::Dynamic) return s.tainted;
  if (s.kind == SVal::Kind::List || s.kind == SVal::Kind::Tuple)
    for (auto& e : *s.elems)
      if (poisoned(e)) return true;
  return false;
}

bool hasDynamic(const SVal& s) {
  if (s.kind == SVal::Kind::Dynamic) return true;
  if (s.kind == SVal::Kind::List || s.kind == SVal::Kind::Tuple)
    for (auto& e : *s.elems)
      if (hasDynamic(e)) return true;
  return false;
}

bool typeHasTensor(const c10::TypePtr& t) {
  if (t->kind() == c10::TypeKind::TensorType) return true;
  for (const auto& c : t->containedTypes())
    if (typeHasTensor(c)) return true;
  return false;
}

// True if the block (recursively) calls methods/functions or touches tensors:
// skipping such a block would change the model, skipping others only loses
// run-time checks.
bool hasTensorEffects(const jit::Block* b) {
  for (const jit::Node* n : b->nodes()) {
    if (n->kind() == c10::prim::CallMethod || n->kind() == c10::prim::CallFunction) return true;
    for (const jit::Value* v : n->inputs())
      if (typeHasTensor(v->type())) return true;
    for (const jit::Value* v : n->outputs())
      if (typeHasTensor(v->type())) return true;
    for (const jit::Block* sub : n->blocks())
      if (hasTensorEffects(sub)) return true;
  }
  return false;
}

bool raisesAtTopLevel(const jit::Block* b) {
  for (const jit::Node* n : b->nodes())
    if (n->kind() == c10::prim::RaiseException) return true;
  return false;
}

// "file.py:line" of the node: the model's Python source when the file keeps
// debug info, else the serialized code inside the archive.
std::string sourceOf(const jit::Node* n) {
  jit::SourceRange range = n->sourceRange();
  if (auto original = range.findSourceRangeThatGenerated()) range = *original;
  if (auto flc = range.file_line_col()) {
    std::string file = std::get<0>(*flc);
    auto slash = file.rfind('/');
    if (slash != std::string::npos) file = file.substr(slash + 1);
    if (!file.empty()) return file + ":" + std::to_string(std::get<1>(*flc));
  }
  return "";
}

std::string firstLine(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::string typeBaseName(const c10::ClassTypePtr& t) {
  if (!t || !t->name()) return "";
  return t->name()->name();  // last component: "___torch_mangle_3.Conv2d" -> "Conv2d"
}

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// An in-place ATen op ("relu_"), not a dunder ("__is__").
bool isInplaceName(const std::string& base) {
  return base.size() > 1 && base.back() == '_' && base.rfind("__", 0) != 0;
}

// ATen ops mapOp knows (in-place spellings included), whatever their arguments.
bool isMappedOp(const std::string& base) {
  static const std::unordered_set<std::string> known = {
      "conv2d", "_convolution", "convolution", "linear", "t", "addmm", "mm", "matmul", "bmm", "batch_norm", "relu",
      "sigmoid", "silu", "hardswish", "hardsigmoid", "tanh", "relu6", "hardtanh", "clamp", "leaky_relu", "gelu",
      "softmax", "dropout", "add", "sub", "mul", "div", "rsub", "neg", "cat", "concat", "flatten", "view",
      "reshape", "contiguous", "clone", "adaptive_avg_pool2d", "max_pool2d", "avg_pool2d", "mean", "transpose",
      "permute", "chunk", "unsafe_chunk", "split", "unsafe_split", "split_with_sizes", "unsafe_split_with_sizes",
      "slice", "pad", "constant_pad_nd", "reflection_pad2d", "replication_pad2d", "reflection_pad1d",
      "replication_pad1d", "layer_norm", "group_norm", "conv_transpose2d", "upsample_nearest2d",
      "upsample_bilinear2d", "full_like", "zeros_like", "ones_like"};
  return known.count(base) != 0;
}

// Thrown when an unsupported construct makes evaluating the rest pointless.
struct Abort {
  std::string message;
};

// ---------------------------------------------------------------------------

class Importer {
 public:
  explicit Importer(const ImportOptions& o) : opt_(o), gm_(std::make_shared<GraphModule>()) {}

  std::shared_ptr<GraphModule> run();

 private:
  using Env = std::unordered_map<const jit::Value*, SVal>;

  struct Frame {
    std::string path, type;
    int parent;
  };

  // Evaluation
  std::vector<SVal> callGraph(const jit::Graph& g, const std::vector<SVal>& args);
  void runBlock(const jit::Block* b, Env& env);
  void runNode(const jit::Node* n, Env& env);
  SVal& get(Env& env, const jit::Value* v);
  void setOutputs(const jit::Node* n, Env& env, std::vector<SVal> outs);
  void setAllDynamic(const jit::Node* n, Env& env);
  void getAttr(const jit::Node* n, Env& env);
  void callMethod(const jit::Node* n, Env& env);
  void callFunction(const jit::Node* n, Env& env);
  void runIf(const jit::Node* n, Env& env);
  void runLoop(const jit::Node* n, Env& env);
  void constantFold(const jit::Node* n, Env& env, const std::vector<SVal>& in);
  bool genericOp(const jit::Node* n, Env& env, const std::vector<SVal>& in);
  void mapOp(const jit::Node* n, Env& env, const std::vector<SVal>& in);
  void stochasticDepth(const ModuleRef& m, const std::vector<SVal>& args, const jit::Node* n, Env& env);

  // Emission
  ir::Value* emit(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs = {});
  ir::Node* emitNode(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs, size_t num_outputs);
  bool hasOp(const std::string& op) const { return ir::OpRegistry::instance().find(op) != nullptr; }
  ir::Value* valueOf(const SVal& s);
  CellPtr paramCell(const std::string& name);
  SVal result(ir::Value* v) { return SVal::tensor(std::make_shared<Cell>(Cell{v, false, ""})); }
  void unsupported(const jit::Node* n, const std::string& reason = "");
  std::string where(const jit::Node* n) const;

  // Module hierarchy
  void registerTensors(const c10::intrusive_ptr<c10::ivalue::Object>& obj, const std::string& prefix);
  ir::Scope scopeOf(const std::string& path) const;
  std::shared_ptr<GraphModule> build(const std::vector<ir::Value*>& outputs);

  const ImportOptions& opt_;
  std::shared_ptr<GraphModule> gm_;
  ir::Graph scratch_;
  std::deque<Frame> frames_;
  int frame_ = 0;
  std::unordered_map<const ir::Node*, int> node_frame_;
  std::map<std::string, CellPtr> param_cells_;
  std::map<std::string, std::string> module_types_;  // path -> type, "" = root
  std::unordered_map<const c10::TensorImpl*, ir::Value*> const_values_;
  int num_consts_ = 0;
  int training_reads_ = 0;
  std::vector<std::string> training_ops_;  // batch_norm/dropout node locations
  std::vector<std::pair<std::string, std::string>> unsupported_;  // kind -> first occurrence
  std::unordered_set<const jit::Node*> reported_;  // nodes found unsupported
  int depth_ = 0;
};

// ---------------------------------------------------------------------------
// Small readers for constant arguments

std::optional<int64_t> asInt(const SVal& s) {
  if (s.isConst() && s.iv.isInt()) return s.iv.toInt();
  if (s.isConst() && s.iv.isBool()) return s.iv.toBool() ? 1 : 0;
  return std::nullopt;
}
std::optional<double> asDouble(const SVal& s) {
  if (!s.isConst()) return std::nullopt;
  if (s.iv.isDouble()) return s.iv.toDouble();
  if (s.iv.isInt()) return static_cast<double>(s.iv.toInt());
  if (s.iv.isBool()) return s.iv.toBool() ? 1.0 : 0.0;
  if (s.iv.isTensor() && s.iv.toTensor().numel() == 1 && s.iv.toTensor().dim() == 0)
    return s.iv.toTensor().item<double>();
  return std::nullopt;
}
std::optional<bool> asBool(const SVal& s) {
  if (s.isConst() && s.iv.isBool()) return s.iv.toBool();
  if (s.isConst() && s.iv.isInt()) return s.iv.toInt() != 0;
  return std::nullopt;
}
std::optional<Ints> asInts(const SVal& s) {
  if (!s.isConst()) return std::nullopt;
  if (s.iv.isIntList()) return s.iv.toIntVector();
  if (s.iv.isInt()) return Ints{s.iv.toInt()};
  return std::nullopt;
}
std::optional<std::string> asString(const SVal& s) {
  if (s.isConst() && s.iv.isString()) return s.iv.toStringRef();
  return std::nullopt;
}
// A Python number as an IR scalar operand (`other`).
std::optional<double> asNumber(const SVal& s) {
  if (!s.isConst()) return std::nullopt;
  if (s.iv.isDouble() || s.iv.isInt()) return asDouble(s);
  return std::nullopt;
}

// ---------------------------------------------------------------------------

std::string Importer::where(const jit::Node* n) const {
  const std::string& path = frames_[frame_].path;
  std::string w = path.empty() ? "the top-level module" : "'" + path + "'";
  std::string src = sourceOf(n);
  if (!src.empty()) w += " (" + src + ")";
  return w;
}

void Importer::unsupported(const jit::Node* n, const std::string& reason) {
  reported_.insert(n);
  std::string kind = n->kind().toQualString();
  for (auto& [k, _] : unsupported_)
    if (k == kind) return;
  unsupported_.emplace_back(kind, where(n) + (reason.empty() ? "" : ": " + reason));
}

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
    if (it != const_values_.end()) return it->second;
    std::string name;
    do {
      name = join(frames_[frame_].path, "_const" + std::to_string(num_consts_++));
    } while (gm_->hasTensor(name));
    gm_->registerBuffer(name, t.clone());
    ir::Value* v = paramCell(name)->value;
    const_values_[t.unsafeGetTensorImpl()] = v;
    return v;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Evaluation

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

  if (kind == c10::prim::ListConstruct || kind == c10::prim::TupleConstruct) {
    bool all_const = true;
    for (auto& s : in) all_const = all_const && s.isConst();
    if (all_const && kind == c10::prim::TupleConstruct) {
      std::vector<c10::IValue> items;
      for (auto& s : in) items.push_back(s.iv);
      env[n->output()] = SVal::constant(c10::ivalue::Tuple::create(std::move(items)));
      return;
    }
    if (all_const) {
      c10::impl::GenericList list(n->output()->type()->expectRef<c10::ListType>().getElementType());
      for (auto& s : in) list.push_back(s.iv);
      env[n->output()] = SVal::constant(c10::IValue(std::move(list)));
      return;
    }
    env[n->output()] = SVal::sequence(kind == c10::prim::ListConstruct ? SVal::Kind::List : SVal::Kind::Tuple, in);
    return;
  }
  if ((kind == c10::prim::ListUnpack || kind == c10::prim::TupleUnpack) &&
      (in[0].kind == SVal::Kind::List || in[0].kind == SVal::Kind::Tuple)) {
    if (in[0].elems->size() != n->outputs().size()) throw Abort{"internal: unpack size mismatch"};
    return setOutputs(n, env, *in[0].elems);
  }
  if ((kind == c10::prim::ListUnpack || kind == c10::prim::TupleUnpack) && in[0].isConst() &&
      (in[0].iv.isList() || in[0].iv.isTuple())) {
    std::vector<c10::IValue> items =
        in[0].iv.isList() ? in[0].iv.toListRef().vec() : in[0].iv.toTupleRef().elements().vec();
    if (items.size() != n->outputs().size()) return setAllDynamic(n, env);
    std::vector<SVal> outs;
    for (auto& iv : items) outs.push_back(SVal::constant(iv));
    return setOutputs(n, env, std::move(outs));
  }
  if (kind == c10::prim::TupleIndex && in[0].isConst() && in[0].iv.isTuple()) {
    auto i = asInt(in[1]);
    const auto& items = in[0].iv.toTupleRef().elements();
    int64_t size = static_cast<int64_t>(items.size());
    if (!i || *i < -size || *i >= size) return setAllDynamic(n, env);
    env[n->output()] = SVal::constant(items[*i < 0 ? *i + size : *i]);
    return;
  }
  if (kind == c10::prim::TupleIndex && in[0].kind == SVal::Kind::Tuple) {
    auto i = asInt(in[1]);
    if (!i) return setAllDynamic(n, env);
    int64_t k = *i < 0 ? *i + static_cast<int64_t>(in[0].elems->size()) : *i;
    env[n->output()] = in[0].elems->at(k);
    return;
  }
  if (kind == c10::prim::unchecked_cast) {
    env[n->output()] = in[0];
    return;
  }
  if (kind == c10::prim::isinstance && !in[0].isConst()) {
    bool match = false;
    for (const auto& t : n->tys(c10::attr::types)) match = match || n->input(0)->type()->isSubtypeOf(*t);
    env[n->output()] = SVal::constant(match);
    return;
  }
  if (kind == c10::aten::__is__ || kind == c10::aten::__isnot__) {
    bool is_op = kind == c10::aten::__is__;
    auto isObject = [](const SVal& s) { return s.kind == SVal::Kind::Tensor || s.kind == SVal::Kind::Module; };
    if ((isObject(in[0]) && in[1].isNone()) || (in[0].isNone() && isObject(in[1]))) {
      env[n->output()] = SVal::constant(!is_op);
      return;
    }
  }
  if (kind == c10::aten::len && (in[0].kind == SVal::Kind::List || in[0].kind == SVal::Kind::Tuple)) {
    env[n->output()] = SVal::constant(static_cast<int64_t>(in[0].elems->size()));
    return;
  }
  if (kind == c10::aten::__getitem__ && (in[0].kind == SVal::Kind::List || in[0].kind == SVal::Kind::Tuple)) {
    auto i = asInt(in[1]);
    if (!i) return setAllDynamic(n, env);
    int64_t size = static_cast<int64_t>(in[0].elems->size());
    int64_t k = *i < 0 ? *i + size : *i;
    if (k < 0 || k >= size) return setAllDynamic(n, env);
    env[n->output()] = in[0].elems->at(k);
    return;
  }
  if (kind == c10::aten::__getitem__ && in[0].kind == SVal::Kind::Dynamic && in[0].size_dim == -1) {
    SVal d = SVal::dynamic();
    if (auto i = asInt(in[1])) {
      d.size_of = in[0].size_of;
      d.size_dim = *i;
    }
    env[n->output()] = d;
    return;
  }
  if (kind == c10::aten::append && in[0].kind == SVal::Kind::List) {
    in[0].elems->push_back(in[1]);
    env[n->output()] = in[0];
    return;
  }
  // Traced graphs carry sizes through tensors: size -> NumToTensor -> Int.
  if ((kind == c10::prim::NumToTensor || kind == c10::aten::Int || kind == c10::aten::ScalarImplicit) &&
      in.size() == 1 && in[0].kind == SVal::Kind::Dynamic) {
    env[n->output()] = in[0];
    return;
  }
  // Tensor metadata: known only at run time (ranks when shapes are known).
  if (in.size() >= 1 && in[0].isTensor()) {
    const std::string k = kind.toQualString();
    if (k == "aten::dim") {
      const auto& shape = in[0].cell->value ? in[0].cell->value->shape() : std::nullopt;
      env[n->output()] = shape ? SVal::constant(static_cast<int64_t>(shape->size())) : SVal::dynamic();
      return;
    }
    if (k == "aten::size") {
      // The batch size is a run-time value (with its origin, for x.view(x.size(0), ...));
      // the other sizes are constants when the shape is known (input_shape given).
      const auto& shape = in[0].cell->value ? in[0].cell->value->shape() : std::nullopt;
      auto sizeAt = [&](int64_t d) {
        if (shape && d > 0) return SVal::constant((*shape)[d]);
        SVal v = SVal::dynamic();
        v.size_of = in[0].cell;
        v.size_dim = d;
        return v;
      };
      if (in.size() > 1) {
        auto i = asInt(in[1]);
        if (!i) return setAllDynamic(n, env);
        int64_t d = *i;
        if (shape && d < 0) d += static_cast<int64_t>(shape->size());
        env[n->output()] = sizeAt(d);
        return;
      }
      if (shape) {
        std::vector<SVal> items;
        for (int64_t d = 0; d < static_cast<int64_t>(shape->size()); ++d) items.push_back(sizeAt(d));
        env[n->output()] = SVal::sequence(SVal::Kind::List, std::move(items));
        return;
      }
      SVal d = SVal::dynamic();
      d.size_of = in[0].cell;
      d.size_dim = -1;
      env[n->output()] = d;
      return;
    }
    if (k == "prim::dtype" || k == "prim::device" || k == "prim::layout" || k == "prim::requires_grad" ||
        k == "aten::numel" || k == "aten::Int" || k == "aten::Float" || k == "aten::Bool" ||
        k == "prim::is_cuda" || k == "aten::is_floating_point" || k == "aten::item" || k == "aten::__len__" ||
        k == "aten::len" || k == "prim::shape") {
      return setAllDynamic(n, env);
    }
  }

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

void Importer::constantFold(const jit::Node* n, Env& env, const std::vector<SVal>& in) {
  if (n->isNondeterministic()) {
    unsupported(n, "random numbers");
    return setAllDynamic(n, env);
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

void Importer::getAttr(const jit::Node* n, Env& env) {
  const SVal& self = get(env, n->input(0));
  const std::string name = n->s(c10::attr::name);
  if (self.kind != SVal::Kind::Module) {
    if (self.isConst() && self.iv.isObject()) {
      auto obj = self.iv.toObject();
      auto slot = obj->type()->findAttributeSlot(name);
      if (slot) {
        env[n->output()] = SVal::constant(obj->getSlot(*slot));
        return;
      }
    }
    unsupported(n, "attribute '" + name + "' of a value that is not a module");
    return setAllDynamic(n, env);
  }
  const ModuleRef& m = *self.mod;
  if (name == "training") {
    ++training_reads_;
    env[n->output()] = SVal::constant(opt_.train);
    return;
  }
  auto type = m.obj->type();
  auto slot = type->findAttributeSlot(name);
  if (!slot) throw Abort{"module '" + m.path + "' has no attribute '" + name + "'"};
  c10::IValue v = m.obj->getSlot(*slot);
  const std::string path = join(m.path, name);
  if (v.isObject() && v.toObject()->type()->is_module()) {
    auto child = std::make_shared<ModuleRef>();
    child->obj = v.toObject();
    child->path = path;
    child->type = typeBaseName(child->obj->type());
    SVal s;
    s.kind = SVal::Kind::Module;
    s.mod = child;
    env[n->output()] = s;
    return;
  }
  if (v.isTensor() && gm_->hasTensor(path)) {
    env[n->output()] = SVal::tensor(paramCell(path));
    return;
  }
  env[n->output()] = SVal::constant(v);
}

void Importer::callMethod(const jit::Node* n, Env& env) {
  const SVal& self = get(env, n->input(0));
  const std::string name = n->s(c10::attr::name);
  if (self.kind != SVal::Kind::Module) {
    unsupported(n, "method '" + name + "' of a value that is not a module");
    return setAllDynamic(n, env);
  }
  std::shared_ptr<ModuleRef> m = self.mod;
  std::vector<SVal> args;
  for (const jit::Value* v : n->inputs()) args.push_back(get(env, v));

  const int saved = frame_;
  const bool enter = m->path != frames_[frame_].path;
  if (enter) {
    frames_.push_back({m->path, m->type, frame_});
    frame_ = static_cast<int>(frames_.size()) - 1;
  }
  struct Restore {
    int& f;
    int v;
    ~Restore() { f = v; }
  } restore{frame_, saved};

  if (m->type == "StochasticDepth" && name == "forward" && hasOp("stochastic_depth"))
    return stochasticDepth(*m, args, n, env);

  jit::Function* fn = m->obj->type()->findMethod(name);
  if (!fn) throw Abort{"module '" + m->path + "' (" + m->type + ") has no method '" + name + "'"};
  auto outs = callGraph(*jit::toGraphFunction(*fn).graph(), args);
  setOutputs(n, env, std::move(outs));
}

void Importer::callFunction(const jit::Node* n, Env& env) {
  auto ft = n->input(0)->type()->cast<c10::FunctionType>();
  if (!ft || !ft->function()) {
    unsupported(n, "call of an unknown function");
    return setAllDynamic(n, env);
  }
  std::vector<SVal> args;
  for (size_t i = 1; i < n->inputs().size(); ++i) args.push_back(get(env, n->input(i)));
  auto outs = callGraph(*jit::toGraphFunction(*ft->function()).graph(), args);
  setOutputs(n, env, std::move(outs));
}

void Importer::runIf(const jit::Node* n, Env& env) {
  // A condition tainted by an unsupported op is treated like a run-time one.
  const SVal& cond = get(env, n->input(0));
  const jit::Block* chosen = nullptr;
  if (auto c = asBool(cond)) {
    chosen = n->blocks()[*c ? 0 : 1];
  } else {
    bool raise0 = raisesAtTopLevel(n->blocks()[0]), raise1 = raisesAtTopLevel(n->blocks()[1]);
    if (raise0 != raise1) {
      chosen = n->blocks()[raise0 ? 1 : 0];  // a run-time check: the model is assumed valid
    } else if (!hasTensorEffects(n->blocks()[0]) && !hasTensorEffects(n->blocks()[1])) {
      return setAllDynamic(n, env);
    } else {
      unsupported(n, "control flow that depends on values known only at run time");
      return setAllDynamic(n, env);
    }
  }
  runBlock(chosen, env);
  std::vector<SVal> outs;
  for (const jit::Value* v : chosen->outputs()) outs.push_back(get(env, v));
  setOutputs(n, env, std::move(outs));
}

void Importer::runLoop(const jit::Node* n, Env& env) {
  const jit::Block* body = n->blocks()[0];
  auto trips = asInt(get(env, n->input(0)));
  auto cond = asBool(get(env, n->input(1)));
  std::vector<SVal> carried;
  for (size_t i = 2; i < n->inputs().size(); ++i) carried.push_back(get(env, n->input(i)));
  if (!trips || !cond) {
    if (!hasTensorEffects(body)) return setAllDynamic(n, env);
    unsupported(n, "a loop whose trip count is known only at run time");
    return setAllDynamic(n, env);
  }
  bool go = *cond;
  for (int64_t i = 0; i < *trips && go; ++i) {
    if (i >= 100000) {
      unsupported(n, "a loop with more than 100000 iterations");
      return setAllDynamic(n, env);
    }
    env[body->inputs()[0]] = SVal::constant(i);
    for (size_t k = 0; k < carried.size(); ++k) env[body->inputs()[k + 1]] = carried[k];
    runBlock(body, env);
    auto c = asBool(get(env, body->outputs()[0]));
    if (!c) {
      unsupported(n, "a loop whose condition is known only at run time");
      return setAllDynamic(n, env);
    }
    go = *c;
    for (size_t k = 0; k < carried.size(); ++k) carried[k] = get(env, body->outputs()[k + 1]);
  }
  setOutputs(n, env, std::move(carried));
}

// torchvision's StochasticDepth (drops whole samples, "row", or the whole
// batch with probability p in training) becomes the IR's stochastic_depth op
// in both modes (identity in eval), so the module survives a round trip; its
// forward would otherwise need random tensors shaped at run time.
void Importer::stochasticDepth(const ModuleRef& m, const std::vector<SVal>& args, const jit::Node* n, Env& env) {
  auto type = m.obj->type();
  auto p = type->findAttributeSlot("p") ? asDouble(SVal::constant(m.obj->getAttr("p"))) : std::nullopt;
  auto mode = type->findAttributeSlot("mode") ? m.obj->getAttr("mode") : c10::IValue();
  if (args.size() != 2 || !args[1].isTensor() || !p || !mode.isString()) {
    unsupported(n, "StochasticDepth without attributes p and mode");
    return setAllDynamic(n, env);
  }
  if (args[1].cell->poison) return setAllDynamic(n, env);
  if (*p == 0.0) {
    env[n->output()] = args[1];
    return;
  }
  training_ops_.push_back(m.path);
  env[n->output()] =
      result(emit("stochastic_depth", {args[1].cell->value}, {{"p", *p}, {"mode", mode.toStringRef()}}));
}

// ---------------------------------------------------------------------------
// ATen ops on tensors

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

  auto tensorAt = [&](size_t i) -> ir::Value* { return i < in.size() ? valueOf(in[i]) : nullptr; };
  auto fail = [&](const std::string& reason) {
    unsupported(n, reason);
    setAllDynamic(n, env);
  };
  auto done = [&](ir::Value* v) {
    if (inplace) {
      if (!in[0].isTensor()) return fail("in-place op on a value that is not a tensor");
      in[0].cell->value = v;
      env[n->output()] = in[0];
    } else {
      env[n->output()] = result(v);
    }
  };
  auto unary = [&](const std::string& op, Attrs attrs = {}) {
    ir::Value* x = tensorAt(0);
    if (!x) return fail("input is not a tensor");
    done(emit(op, {x}, std::move(attrs)));
  };
  // Binary arithmetic: tensor (op) tensor, or tensor (op) number as attribute `other`.
  auto binary = [&](const std::string& op, const SVal& a, const SVal& b, double alpha) {
    auto scalarOf = [](const SVal& s) -> std::optional<double> {
      if (auto d = asNumber(s)) return d;
      if (s.isConstTensor() && s.iv.toTensor().dim() == 0) return s.iv.toTensor().item<double>();
      return std::nullopt;
    };
    auto sb = scalarOf(b);
    if (tensorLike(a) && sb) {
      ir::Value* x = valueOf(a);
      if (!x) return fail("operand is not a tensor");
      return done(emit(op, {x}, {{"other", *sb * alpha}}));
    }
    auto sa = scalarOf(a);
    if (sa && tensorLike(b) && alpha == 1.0 && (op == "add" || op == "mul")) {
      ir::Value* y = valueOf(b);
      if (!y) return fail("operand is not a tensor");
      return done(emit(op, {y}, {{"other", *sa}}));
    }
    if (a.kind == SVal::Kind::Dynamic || b.kind == SVal::Kind::Dynamic)
      return fail("an operand known only at run time (a size, or a value read from a tensor)");
    ir::Value* x = valueOf(a);
    ir::Value* y = valueOf(b);
    if (!x || !y) return fail("operands must be tensors or numbers");
    if (alpha != 1.0) y = emit("mul", {y}, {{"other", alpha}});
    done(emit(op, {x, y}));
  };

  if (base == "conv2d" || base == "_convolution" || base == "convolution") {
    ir::Value* x = tensorAt(0);
    ir::Value* w = tensorAt(1);
    if (!x || !w) return fail("input and weight must be tensors");
    std::vector<ir::Value*> ins{x, w};
    if (!in[2].isNone()) {
      ir::Value* b = tensorAt(2);
      if (!b) return fail("bias must be a tensor");
      ins.push_back(b);
    }
    auto stride = asInts(in[3]);
    auto dilation = asInts(in[5]);
    std::optional<Ints> padding = asInts(in[4]);
    std::optional<int64_t> groups;
    if (base == "conv2d") {
      groups = asInt(in[6]);
      if (auto mode = asString(in[4])) {
        if (*mode == "valid") {
          padding = Ints{0, 0};
        } else if (*mode == "same" && w->shape() && w->shape()->size() == 4 && dilation) {
          Ints dil = dilation->size() == 1 ? Ints{(*dilation)[0], (*dilation)[0]} : *dilation;
          padding = Ints{};
          for (size_t i = 0; i < 2; ++i) {
            int64_t total = dil[i] * ((*w->shape())[2 + i] - 1);
            if (total % 2 != 0) return fail("padding='same' with an even kernel pads asymmetrically");
            padding->push_back(total / 2);
          }
        } else {
          return fail("padding='" + *mode + "'");
        }
      }
    } else {
      auto transposed = asBool(in[6]);
      if (!transposed) return fail("transposed must be a constant");
      groups = asInt(in[8]);
      if (*transposed) {
        auto output_padding = asInts(in[7]);
        if (!hasOp("conv_transpose2d")) return fail("transposed convolution");
        if (!stride || !padding || !dilation || !groups || !output_padding)
          return fail("stride, padding, dilation and groups must be constants");
        return done(emit("conv_transpose2d", ins, {{"stride", *stride}, {"padding", *padding},
                                                   {"output_padding", *output_padding}, {"dilation", *dilation},
                                                   {"groups", *groups}}));
      }
    }
    if (!stride || !padding || !dilation || !groups)
      return fail("stride, padding, dilation and groups must be constants");
    if (stride->size() != 2 || (w->shape() && w->shape()->size() != 4))
      return fail("only 2-d convolutions are supported");
    return done(emit("conv2d", ins, {{"stride", *stride}, {"padding", *padding}, {"dilation", *dilation},
                                     {"groups", *groups}}));
  }
  if (base == "linear") {
    ir::Value* x = tensorAt(0);
    ir::Value* w = tensorAt(1);
    if (!x || !w) return fail("input and weight must be tensors");
    std::vector<ir::Value*> ins{x, w};
    if (in.size() > 2 && !in[2].isNone()) {
      ir::Value* b = tensorAt(2);
      if (!b) return fail("bias must be a tensor");
      ins.push_back(b);
    }
    return done(emit("linear", ins));
  }
  if (base == "t" && !inplace) {
    if (!in[0].isTensor()) return fail("input is not a tensor");
    SVal s;
    s.kind = SVal::Kind::Transposed;
    s.cell = in[0].cell;
    env[n->output()] = s;
    return;
  }
  if (base == "addmm" || base == "mm" || base == "matmul" || base == "bmm") {
    const size_t xi = base == "addmm" ? 1 : 0;
    const SVal& w = in[xi + 1];
    std::optional<double> beta = 1.0, alpha = 1.0;
    if (base == "addmm") {
      beta = asDouble(in[3]);
      alpha = asDouble(in[4]);
      if (!beta || !alpha) return fail("beta and alpha must be constants");
    }
    ir::Value* x = tensorAt(xi);
    if (!x) return fail("input is not a tensor");
    // x @ W.t() (+ b): a linear layer, as nn.Linear was traced before aten::linear.
    if (w.kind == SVal::Kind::Transposed && *alpha == 1.0 && *beta == 1.0 && base != "bmm") {
      std::vector<ir::Value*> ins{x, w.cell->value};
      if (base == "addmm") {
        ir::Value* b = tensorAt(0);
        if (!b) return fail("bias is not a tensor");
        ins.push_back(b);
      }
      return done(emit("linear", ins));
    }
    if (!hasOp("matmul")) return fail("only x @ W.t() (a linear layer) is supported; the IR has no matmul op");
    ir::Value* y = valueOf(w);
    if (!y) return fail("operand is not a tensor");
    ir::Value* prod = emit("matmul", {x, y});
    if (*alpha != 1.0) prod = emit("mul", {prod}, {{"other", *alpha}});
    if (base == "addmm") {
      ir::Value* b = tensorAt(0);
      if (!b) return fail("bias is not a tensor");
      if (*beta != 1.0) b = emit("mul", {b}, {{"other", *beta}});
      prod = emit("add", {prod, b});
    }
    return done(prod);
  }
  if (base == "batch_norm") {
    ir::Value* x = tensorAt(0);
    if (!x) return fail("input is not a tensor");
    if (in[1].isNone() || in[2].isNone()) return fail("BatchNorm without affine weight and bias");
    if (in[3].isNone() || in[4].isNone()) return fail("BatchNorm without running statistics");
    auto momentum = asDouble(in[6]);
    auto eps = asDouble(in[7]);
    if (!momentum) return fail("BatchNorm momentum=None (cumulative moving average)");
    if (!eps) return fail("eps must be a constant");
    std::vector<ir::Value*> ins{x, tensorAt(1), tensorAt(2), tensorAt(3), tensorAt(4)};
    for (ir::Value* v : ins)
      if (!v) return fail("weight, bias and running statistics must be tensors");
    // The step counter next to the running mean, as nn.BatchNorm2d keeps it.
    if (in[3].isTensor() && !in[3].cell->param.empty()) {
      const std::string& rm = in[3].cell->param;
      const std::string suffix = "running_mean";
      if (rm.size() >= suffix.size() && rm.compare(rm.size() - suffix.size(), suffix.size(), suffix) == 0) {
        std::string counter = rm.substr(0, rm.size() - suffix.size()) + "num_batches_tracked";
        if (gm_->hasTensor(counter)) ins.push_back(paramCell(counter)->value);
      }
    }
    training_ops_.push_back(frames_[frame_].path);
    return done(emit("batch_norm", ins, {{"eps", *eps}, {"momentum", *momentum}}));
  }
  if (base == "relu" || base == "sigmoid" || base == "silu" || base == "hardswish" || base == "hardsigmoid" ||
      base == "tanh" || base == "relu6")
    return unary(base);
  if (base == "hardtanh" || base == "clamp") {
    std::optional<double> lo = in.size() > 1 && !in[1].isNone() ? asDouble(in[1]) : std::nullopt;
    std::optional<double> hi = in.size() > 2 && !in[2].isNone() ? asDouble(in[2]) : std::nullopt;
    bool lo_none = in.size() > 1 && in[1].isNone(), hi_none = in.size() > 2 && in[2].isNone();
    if ((!lo && !lo_none) || (!hi && !hi_none)) return fail("bounds must be constants");
    if (lo && *lo == 0.0 && hi && *hi == 6.0) return unary("relu6");
    if (lo && *lo == 0.0 && hi_none) return unary("relu");
    if (lo && hi) return unary("hardtanh", {{"min_val", *lo}, {"max_val", *hi}});
    return fail("one-sided clamp other than at 0");
  }
  if (base == "leaky_relu") {
    auto slope = in.size() > 1 ? asDouble(in[1]) : std::optional<double>(0.01);
    if (!slope) return fail("negative_slope must be a constant");
    return unary("leaky_relu", {{"negative_slope", *slope}});
  }
  if (base == "gelu") {
    auto approx = in.size() > 1 ? asString(in[1]) : std::optional<std::string>("none");
    if (!approx) return fail("approximate must be a constant");
    return unary("gelu", {{"approximate", *approx}});
  }
  if (base == "softmax") {
    auto dim = asInt(in[1]);
    if (!dim) return fail("dim must be a constant");
    if (in.size() > 2 && !in[2].isNone()) return fail("softmax with a dtype");
    return unary("softmax", {{"dim", *dim}});
  }
  if (base == "dropout") {
    auto p = asDouble(in[1]);
    if (!p) return fail("p must be a constant");
    training_ops_.push_back(frames_[frame_].path);
    return unary("dropout", {{"p", *p}});
  }
  if (base == "add" || base == "sub") {
    double alpha = 1.0;
    if (in.size() > 2) {
      auto a = asDouble(in[2]);
      if (!a) return fail("alpha must be a constant");
      alpha = *a;
    }
    return binary(base, in[0], in[1], alpha);
  }
  if (base == "mul") return binary("mul", in[0], in[1], 1.0);
  if (base == "div") {
    if (in.size() > 2 && !in[2].isNone()) return fail("division with a rounding mode");
    return binary("div", in[0], in[1], 1.0);
  }
  if (base == "rsub") {  // other - alpha * self
    auto other = asNumber(in[1]);
    auto alpha = in.size() > 2 ? asDouble(in[2]) : std::optional<double>(1.0);
    ir::Value* x = tensorAt(0);
    if (!x || !alpha) return fail("operands must be a tensor and constants");
    ir::Value* scaled = emit("mul", {x}, {{"other", -*alpha}});
    if (other) return done(emit("add", {scaled}, {{"other", *other}}));
    ir::Value* y = tensorAt(1);
    if (!y) return fail("operand is not a tensor");
    return done(emit("add", {y, scaled}));
  }
  if (base == "neg") return unary("mul", {{"other", -1.0}});
  if (base == "cat" || base == "concat") {
    auto dim = asInt(in[1]);
    if (!dim) return fail("dim must be a constant");
    if (in[0].kind != SVal::Kind::List) return fail("the tensors must be a list");
    std::vector<ir::Value*> ins;
    for (auto& e : *in[0].elems) {
      ir::Value* v = valueOf(e);
      if (!v) return fail("every element must be a tensor");
      ins.push_back(v);
    }
    return done(emit("cat", ins, {{"dim", *dim}}));
  }
  if (base == "flatten") {
    auto start = in.size() > 1 ? asInt(in[1]) : std::optional<int64_t>(0);
    auto end = in.size() > 2 ? asInt(in[2]) : std::optional<int64_t>(-1);
    if (!start || !end) return fail("start_dim and end_dim must be constants");
    return unary("flatten", {{"start_dim", *start}, {"end_dim", *end}});
  }
  if (base == "view" || base == "reshape") {
    if (auto shape = asInts(in[1])) return unary("reshape", {{"shape", *shape}});
    // x.view(x.size(0), ...): the batch size stays free. (-1) flattens from
    // dim 1; other sizes must be constants (give input_shape when the model
    // computes them from x.size()).
    if (in[1].kind == SVal::Kind::List && !in[1].elems->empty() && in[0].isTensor()) {
      const SVal& d0 = (*in[1].elems)[0];
      Ints shape{-1};
      bool ok = d0.kind == SVal::Kind::Dynamic && d0.size_of && d0.size_dim == 0;
      if (ok && d0.size_of != in[0].cell) {
        // The batch of another tensor: the same batch if both shapes agree on it.
        const auto& a = in[0].cell->value->shape();
        const auto& b = d0.size_of->value ? d0.size_of->value->shape() : std::nullopt;
        ok = a && b && !a->empty() && !b->empty() && (*a)[0] == (*b)[0];
      }
      int64_t infer = -1, known = 1;
      for (size_t i = 1; ok && i < in[1].elems->size(); ++i) {
        auto d = asInt((*in[1].elems)[i]);
        ok = d.has_value() && (*d != -1 || infer < 0);
        if (!ok) break;
        if (*d == -1) infer = static_cast<int64_t>(i);
        else known *= *d;
        shape.push_back(*d);
      }
      if (ok && infer > 0) {  // a second -1: resolved from the known input shape
        const auto& a = in[0].cell->value->shape();
        int64_t rest = 1;
        if (a)
          for (size_t i = 1; i < a->size(); ++i) rest *= (*a)[i];
        ok = a && !a->empty() && known > 0 && rest % known == 0;
        if (ok) shape[infer] = rest / known;
      }
      if (ok && shape.size() == 1) return unary("reshape", {{"shape", Ints{-1}}});
      if (ok) return unary("reshape", {{"shape", shape}});
      auto d1 = in[1].elems->size() == 2 ? asInt((*in[1].elems)[1]) : std::nullopt;
      if (d0.kind == SVal::Kind::Dynamic && d0.size_of == in[0].cell && d0.size_dim == 0 && d1 && *d1 == -1)
        return unary("flatten", {{"start_dim", int64_t{1}}, {"end_dim", int64_t{-1}}});
    }
    return fail("a shape computed at run time (x.view(x.size(0), -1) is recognised; other sizes need "
                "input_shape)");
  }
  if (base == "contiguous" || base == "clone") {
    if (!in[0].isTensor()) return fail("input is not a tensor");
    env[n->output()] = in[0];  // values are immutable in the IR: no copy needed
    return;
  }
  if (base == "adaptive_avg_pool2d") {
    auto size = asInts(in[1]);
    if (!size) return fail("output_size must be a constant");
    return unary("adaptive_avg_pool2d", {{"output_size", *size}});
  }
  if (base == "max_pool2d") {
    auto k = asInts(in[1]);
    auto s = asInts(in[2]);
    auto p = asInts(in[3]);
    auto d = asInts(in[4]);
    auto ceil = asBool(in[5]);
    if (!k || !s || !p || !d || !ceil) return fail("pooling arguments must be constants");
    if (s->empty()) s = k;
    return unary("max_pool2d", {{"kernel_size", *k}, {"stride", *s}, {"padding", *p}, {"dilation", *d},
                                {"ceil_mode", *ceil}});
  }
  if (base == "avg_pool2d") {
    auto k = asInts(in[1]);
    auto s = asInts(in[2]);
    auto p = asInts(in[3]);
    auto ceil = asBool(in[4]);
    auto cip = asBool(in[5]);
    if (!k || !s || !p || !ceil || !cip) return fail("pooling arguments must be constants");
    if (in.size() > 6 && !in[6].isNone()) return fail("avg_pool2d with divisor_override");
    if (s->empty()) s = k;
    return unary("avg_pool2d", {{"kernel_size", *k}, {"stride", *s}, {"padding", *p}, {"ceil_mode", *ceil},
                                {"count_include_pad", *cip}});
  }
  if (base == "mean") {
    Attrs attrs;
    if (in.size() >= 3) {  // mean.dim(self, dim, keepdim, dtype)
      if (!in[1].isNone()) {
        auto dims = asInts(in[1]);
        if (!dims) return fail("dim must be a constant");
        attrs.insert_or_assign("dim", *dims);
      }
      auto keep = asBool(in[2]);
      if (!keep) return fail("keepdim must be a constant");
      attrs.insert_or_assign("keepdim", *keep);
      if (in.size() > 3 && !in[3].isNone()) return fail("mean with a dtype");
    } else if (in.size() == 2 && !in[1].isNone()) {
      return fail("mean with a dtype");
    }
    return unary("mean", std::move(attrs));
  }
  // Ops that appeared in the IR later: mapped when the registry has them.
  if (base == "transpose" && hasOp("transpose")) {
    auto d0 = asInt(in[1]), d1 = asInt(in[2]);
    if (!d0 || !d1) return fail("dims must be constants");
    return unary("transpose", {{"dim0", *d0}, {"dim1", *d1}});
  }
  if (base == "permute" && hasOp("permute")) {
    auto dims = asInts(in[1]);
    if (!dims) return fail("dims must be constants");
    return unary("permute", {{"dims", *dims}});
  }
  if ((base == "chunk" || base == "unsafe_chunk" || base == "split" || base == "unsafe_split" ||
       base == "split_with_sizes" || base == "unsafe_split_with_sizes") &&
      hasOp(base.find("chunk") != std::string::npos ? "chunk" : "split")) {
    ir::Value* x = tensorAt(0);
    auto dim = asInt(in[2]);
    if (!x || !dim) return fail("input must be a tensor and dim a constant");
    Attrs attrs{{"dim", *dim}};
    size_t pieces = 0;
    std::string op = "split";
    if (base.find("chunk") != std::string::npos) {
      auto chunks = asInt(in[1]);
      if (!chunks || *chunks <= 0) return fail("chunks must be a positive constant");
      op = "chunk";
      attrs.insert_or_assign("chunks", *chunks);
      pieces = static_cast<size_t>(*chunks);
      if (x->shape()) {  // torch.chunk may return fewer pieces
        const ir::Shape& sh = *x->shape();
        int64_t d = *dim < 0 ? *dim + static_cast<int64_t>(sh.size()) : *dim;
        int64_t size = sh.at(d), piece = (size + *chunks - 1) / *chunks;
        if (size > 0) pieces = static_cast<size_t>((size + piece - 1) / piece);
      }
    } else if (auto sizes = in[1].isConst() && in[1].iv.isIntList() ? asInts(in[1]) : std::nullopt) {
      attrs.insert_or_assign("split_sizes", *sizes);
      pieces = sizes->size();
    } else if (auto size = asInt(in[1])) {
      if (!x->shape()) return fail("split by size needs a known input shape (set input_shape)");
      const ir::Shape& sh = *x->shape();
      int64_t d = *dim < 0 ? *dim + static_cast<int64_t>(sh.size()) : *dim;
      if (*size <= 0) return fail("split_size must be positive");
      attrs.insert_or_assign("split_size", *size);
      pieces = static_cast<size_t>(std::max<int64_t>(1, (sh.at(d) + *size - 1) / *size));
    } else {
      return fail("split sizes must be constants");
    }
    ir::Node* node = emitNode(op, {x}, attrs, pieces);
    std::vector<SVal> items;
    for (size_t i = 0; i < pieces; ++i) items.push_back(result(node->output(i)));
    env[n->output()] = SVal::sequence(SVal::Kind::List, std::move(items));
    return;
  }
  if (base == "slice" && hasOp("slice")) {
    auto dim = asInt(in[1]);
    auto start = in[2].isNone() ? std::optional<int64_t>(0) : asInt(in[2]);
    auto end = in[3].isNone() ? std::optional<int64_t>(std::numeric_limits<int64_t>::max()) : asInt(in[3]);
    auto step = asInt(in[4]);
    if (!dim || !start || !end || !step) return fail("slice bounds must be constants");
    return unary("slice", {{"dim", *dim}, {"start", *start}, {"end", *end}, {"step", *step}});
  }
  if ((base == "pad" || base == "constant_pad_nd" || base == "reflection_pad2d" || base == "replication_pad2d" ||
       base == "reflection_pad1d" || base == "replication_pad1d") &&
      hasOp("pad")) {
    auto pad = asInts(in[1]);
    if (!pad) return fail("pad must be a constant");
    Attrs attrs{{"pad", *pad}};
    std::string mode = base == "constant_pad_nd" ? "constant"
                       : base.rfind("reflection", 0) == 0 ? "reflect"
                       : base.rfind("replication", 0) == 0 ? "replicate"
                                                           : "";
    if (base == "pad") {
      auto m = asString(in[2]);
      if (!m) return fail("mode must be a constant");
      mode = *m;
    }
    attrs.insert_or_assign("mode", mode);
    size_t vi = base == "pad" ? 3 : 2;
    if (mode == "constant" && in.size() > vi && !in[vi].isNone()) {
      auto value = asDouble(in[vi]);
      if (!value) return fail("value must be a constant");
      attrs.insert_or_assign("value", *value);
    }
    return unary("pad", std::move(attrs));
  }
  if ((base == "layer_norm" && hasOp("layer_norm")) || (base == "group_norm" && hasOp("group_norm"))) {
    ir::Value* x = tensorAt(0);
    auto eps = asDouble(in[4]);
    if (!x || !eps) return fail("input must be a tensor and eps a constant");
    std::vector<ir::Value*> ins{x};
    if (!in[2].isNone()) {
      if (!tensorAt(2) || in[3].isNone() || !tensorAt(3)) return fail("weight without bias");
      ins.push_back(tensorAt(2));
      ins.push_back(tensorAt(3));
    } else if (!in[3].isNone()) {
      return fail("bias without weight");
    }
    Attrs attrs{{"eps", *eps}};
    if (base == "layer_norm") {
      auto shape = asInts(in[1]);
      if (!shape) return fail("normalized_shape must be a constant");
      attrs.insert_or_assign("normalized_shape", *shape);
    } else {
      auto groups = asInt(in[1]);
      if (!groups) return fail("num_groups must be a constant");
      attrs.insert_or_assign("num_groups", *groups);
    }
    return done(emit(base, ins, std::move(attrs)));
  }
  if (base == "conv_transpose2d" && hasOp("conv_transpose2d")) {
    ir::Value* x = tensorAt(0);
    ir::Value* w = tensorAt(1);
    auto stride = asInts(in[3]), padding = asInts(in[4]), output_padding = asInts(in[5]), dilation = asInts(in[7]);
    auto groups = asInt(in[6]);
    if (!x || !w || !stride || !padding || !output_padding || !dilation || !groups)
      return fail("input and weight must be tensors, the other arguments constants");
    std::vector<ir::Value*> ins{x, w};
    if (!in[2].isNone()) {
      if (!tensorAt(2)) return fail("bias is not a tensor");
      ins.push_back(tensorAt(2));
    }
    return done(emit("conv_transpose2d", ins, {{"stride", *stride}, {"padding", *padding},
                                               {"output_padding", *output_padding}, {"dilation", *dilation},
                                               {"groups", *groups}}));
  }
  if ((base == "upsample_nearest2d" || base == "upsample_bilinear2d") && hasOp("interpolate")) {
    const bool bilinear = base == "upsample_bilinear2d";
    const bool vec = in.size() == (bilinear ? 4u : 3u);  // .vec: (x, output_size?, [align_corners,] scale_factors?)
    Attrs attrs{{"mode", std::string(bilinear ? "bilinear" : "nearest")}};
    if (bilinear) {
      auto align = asBool(in[2]);
      if (!align) return fail("align_corners must be a constant");
      attrs.insert_or_assign("align_corners", *align);
    }
    const SVal& scales = in[bilinear ? 3 : 2];
    if (!in[1].isNone()) {
      auto size = asInts(in[1]);
      if (!size) return fail("the output size must be a constant");
      attrs.insert_or_assign("size", *size);
    } else if (vec && scales.isConst() && scales.iv.isDoubleList()) {
      auto list = scales.iv.toDoubleVector();
      attrs.insert_or_assign("scale_factor", ir::Doubles(list.begin(), list.end()));
    } else {
      return fail("an output size computed at run time");
    }
    return unary("interpolate", std::move(attrs));
  }
  if ((base == "full_like" || base == "zeros_like" || base == "ones_like") && hasOp("full_like")) {
    std::optional<double> value = base == "zeros_like" ? 0.0 : base == "ones_like" ? 1.0 : asDouble(in[1]);
    if (!value) return fail("value must be a constant");
    size_t dtype_at = base == "full_like" ? 2 : 1;
    if (in.size() > dtype_at && !in[dtype_at].isNone()) return fail("with a dtype");
    return unary("full_like", {{"value", *value}});
  }
  fail("");
}

// ---------------------------------------------------------------------------
// Module hierarchy and the final graph

// Parameters and buffers in state_dict order: a module's own parameters, then
// its buffers, then its submodules.
void Importer::registerTensors(const c10::intrusive_ptr<c10::ivalue::Object>& obj, const std::string& prefix) {
  auto type = obj->type();
  module_types_[prefix] = typeBaseName(type);
  const size_t n = type->numAttributes();
  for (size_t i = 0; i < n; ++i) {
    if (!type->is_parameter(i)) continue;
    c10::IValue v = obj->getSlot(i);
    std::string name = join(prefix, type->getAttributeName(i));
    if (v.isTensor() && !gm_->hasTensor(name)) gm_->registerParameter(name, v.toTensor(), v.toTensor().requires_grad());
  }
  for (size_t i = 0; i < n; ++i) {
    if (!type->is_buffer(i)) continue;
    c10::IValue v = obj->getSlot(i);
    std::string name = join(prefix, type->getAttributeName(i));
    if (v.isTensor() && !gm_->hasTensor(name)) gm_->registerBuffer(name, v.toTensor());
  }
  for (size_t i = 0; i < n; ++i) {
    c10::IValue v = obj->getSlot(i);
    if (v.isObject() && v.toObject()->type()->is_module())
      registerTensors(v.toObject(), join(prefix, type->getAttributeName(i)));
  }
}

ir::Scope Importer::scopeOf(const std::string& path) const {
  ir::Scope scope;
  if (path.empty()) return scope;
  size_t pos = 0;
  while (true) {
    size_t dot = path.find('.', pos);
    std::string prefix = path.substr(0, dot);
    auto it = module_types_.find(prefix);
    scope.push_back({prefix, it == module_types_.end() ? "" : it->second});
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return scope;
}

std::shared_ptr<GraphModule> Importer::build(const std::vector<ir::Value*>& outputs) {
  // Live nodes: those the outputs depend on.
  std::unordered_set<const ir::Node*> live;
  std::vector<const ir::Node*> work;
  for (ir::Value* v : outputs) work.push_back(v->producer());
  while (!work.empty()) {
    const ir::Node* n = work.back();
    work.pop_back();
    if (!live.insert(n).second) continue;
    for (ir::Value* v : n->inputs()) work.push_back(v->producer());
  }
  // A frame is a leaf call if it emitted exactly one live op and no frame below it emitted any.
  std::vector<int> direct(frames_.size(), 0);
  std::vector<bool> below(frames_.size(), false);
  for (ir::Node* n : scratch_.nodes())
    if (n->opcode() == ir::Opcode::Call && live.count(n)) ++direct[node_frame_.at(n)];
  for (size_t f = 0; f < frames_.size(); ++f)
    if (direct[f] > 0)
      for (int p = frames_[f].parent; p >= 0; p = frames_[p].parent) below[p] = true;

  ir::Graph& g = gm_->graph();
  std::unordered_map<const ir::Value*, ir::Value*> map;
  bool first_input = true;
  for (ir::Node* n : scratch_.nodes()) {
    if (n->opcode() == ir::Opcode::Input) {
      ir::Value* v = g.input(n->target());
      if (first_input && opt_.input_shape) v->setShape(*opt_.input_shape);
      first_input = false;
      map[n->output()] = v;
      continue;
    }
    if (!live.count(n) || n->opcode() == ir::Opcode::Output) continue;
    if (n->opcode() == ir::Opcode::Param) {
      ir::Value* v = g.param(n->target());
      auto dot = n->target().rfind('.');
      std::string owner = dot == std::string::npos ? "" : n->target().substr(0, dot);
      v->producer()->setScope(scopeOf(owner));
      auto it = module_types_.find(owner);
      v->producer()->setModuleType(owner.empty() || it == module_types_.end() ? "" : it->second);
      map[n->output()] = v;
      continue;
    }
    const int f = node_frame_.at(n);
    const Frame& fr = frames_[f];
    const bool leaf = f != 0 && direct[f] == 1 && !below[f];
    std::string name = leaf ? fr.path : join(fr.path, n->target());
    std::vector<ir::Value*> ins;
    for (ir::Value* v : n->inputs()) ins.push_back(map.at(v));
    ir::Node* m = g.call(n->target(), ins, n->attrs(), name, n->numOutputs());
    m->setScope(scopeOf(fr.path));
    m->setModuleType(leaf ? fr.type : "");
    for (size_t i = 0; i < n->numOutputs(); ++i) map[n->output(i)] = m->output(i);
  }
  std::vector<ir::Value*> outs;
  for (ir::Value* v : outputs) outs.push_back(map.at(v));
  g.output(outs);
  return gm_;
}

std::shared_ptr<GraphModule> Importer::run() {
  const std::string& path = opt_.path;
  jit::Module module;
  try {
    module = jit::load(path);
  } catch (const std::exception& e) {
    throw InputError(path + ": not a readable TorchScript file (" + firstLine(e.what()) + ")");
  }
  try {
    auto root = module._ivalue();
    registerTensors(root, "");
    frames_.push_back({"", typeBaseName(root->type()), -1});
    jit::Function* forward = root->type()->findMethod("forward");
    if (!forward) throw InputError(path + ": the TorchScript module has no forward method");
    const jit::Graph& graph = *jit::toGraphFunction(*forward).graph();

    std::vector<SVal> args;
    SVal self;
    self.kind = SVal::Kind::Module;
    self.mod = std::make_shared<ModuleRef>(ModuleRef{root, "", frames_[0].type});
    args.push_back(self);
    for (size_t i = 1; i < graph.inputs().size(); ++i) {
      const jit::Value* in = graph.inputs()[i];
      if (in->type()->kind() != c10::TypeKind::TensorType)
        throw InputError(path + ": forward's input '" + in->debugNameBase() + "' is a " + in->type()->repr_str() +
                         "; only tensor inputs are supported");
      auto c = std::make_shared<Cell>();
      c->value = scratch_.input(in->debugNameBase());
      if (i == 1 && opt_.input_shape) c->value->setShape(*opt_.input_shape);
      args.push_back(SVal::tensor(c));
    }

    std::vector<SVal> results;
    try {
      results = callGraph(graph, args);
    } catch (const Abort& a) {
      if (unsupported_.empty()) throw InputError(path + ": " + a.message);
    }

    if (!unsupported_.empty()) {
      std::string msg = path + ": unsupported TorchScript operations (EdgeOpt's IR has no equivalent): ";
      for (size_t i = 0; i < unsupported_.size(); ++i)
        msg += (i ? "; " : "") + unsupported_[i].first + " at " + unsupported_[i].second;
      throw InputError(msg);
    }
    if (opt_.train && training_reads_ == 0 && !training_ops_.empty())
      throw InputError(path + ": this file was made by torch.jit.trace, which bakes training=False into its " +
                       "batch_norm/dropout calls, so it can't be trained; import it with mode: eval for " +
                       "inference, or save the model with torch.jit.script to train it");

    std::vector<ir::Value*> outs;
    std::function<void(const SVal&)> collect = [&](const SVal& s) {
      if (s.kind == SVal::Kind::List || s.kind == SVal::Kind::Tuple) {
        for (auto& e : *s.elems) collect(e);
        return;
      }
      if (s.isNone()) return;  // e.g. GoogLeNet's aux outputs when they are off
      if (s.isConst() && s.iv.isTuple()) {
        for (const auto& e : s.iv.toTupleRef().elements()) collect(SVal::constant(e));
        return;
      }
      ir::Value* v = valueOf(s);
      if (!v) throw InputError(path + ": forward must return tensors (or tuples/lists of tensors)");
      outs.push_back(v);
    };
    if (results.size() != 1) throw InputError(path + ": forward returns " + std::to_string(results.size()) + " values");
    collect(results[0]);

    auto gm = build(outs);
    if (opt_.input_shape && gm->graph().inputs().size() == 1) gm->setExampleInputShapes({*opt_.input_shape});
    gm->train(opt_.train);
    gm->lint();
    return gm;
  } catch (const Error&) {
    throw;
  } catch (const Abort& a) {
    throw InputError(path + ": " + a.message);
  } catch (const std::exception& e) {
    throw InputError(path + ": cannot import the TorchScript model (" + firstLine(e.what()) + ")");
  }
}

}  // namespace

std::shared_ptr<GraphModule> importTorchScript(const ImportOptions& options) {
  Importer importer(options);
  return importer.run();
}

}  // namespace edgeopt::torchscript
