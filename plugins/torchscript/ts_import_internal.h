#pragma once
// Private to the torchscript plugin: the symbolic values and the Importer
// class that torchscript_import.cpp's two phases run on. The Importer's methods
// are spread over files by responsibility:
//   ts_values.cpp        readers for constant arguments, names and source locations
//   ts_evaluator.cpp     evaluating a graph node by node, constant folding
//   ts_containers.cpp    lists, tuples and tensor metadata (x.size(), x.dim())
//   ts_control_flow.cpp  prim::If and prim::Loop specialised on known conditions
//   ts_modules.cpp       the module hierarchy: attributes, method calls, state_dict
//   ts_emit.cpp          emitting IR ops and parameters into the scratch graph
//   ts_errors.cpp        collecting unsupported constructs into one error
//   ts_debug_info.cpp    the model's Python source lines for messages
//   ts_build_graph.cpp   phase 2: the final graph with module names and scopes
//   ts_aten_ops*.cpp     aten op -> IR op converters (see ts_aten_ops.h)
#include "torchscript_import.h"
#include "ts_debug_info.h"

#include <edgeopt/ir/op_registry.h>

#include <ATen/ATen.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace edgeopt::torchscript::detail {

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
  // A slice of another tensor (aten::slice's result): an in-place op on it
  // writes through to view_of as slice_scatter with these attributes.
  std::shared_ptr<Cell> view_of;
  Attrs view_slice;
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

// The values of one graph invocation.
using Env = std::unordered_map<const jit::Value*, SVal>;

// What a value contains (recursing into lists and tuples).
bool tensorLike(const SVal& s);
bool poisoned(const SVal& s);
bool hasDynamic(const SVal& s);
bool typeHasTensor(const c10::TypePtr& t);

// Readers for constant arguments: nullopt when the value is not a constant of that kind.
std::optional<int64_t> asInt(const SVal& s);
std::optional<double> asDouble(const SVal& s);
std::optional<bool> asBool(const SVal& s);
std::optional<Ints> asInts(const SVal& s);
std::optional<std::string> asString(const SVal& s);
std::optional<double> asNumber(const SVal& s);  // a Python number as an IR scalar operand (`other`)

// Names and source locations.
std::string sourceOf(const jit::Node* n, const DebugInfo* debug_info);
std::string firstLine(const std::string& s);
std::string typeBaseName(const c10::ClassTypePtr& t);
std::string join(const std::string& prefix, const std::string& name);
bool isInplaceName(const std::string& base);

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
  friend class OpContext;  // the aten op converters emit through the Importer

  std::vector<SVal> evaluate(const jit::Module& module);
  std::set<std::vector<size_t>> trainOnlyLeaves(const jit::Module& module, const std::vector<SVal>& train_results);

  // A module invocation: the ops it emits are named after its path.
  struct Frame {
    std::string path, type;
    int parent;
  };

  // Evaluation (ts_evaluator.cpp, ts_containers.cpp)
  std::vector<SVal> callGraph(const jit::Graph& g, const std::vector<SVal>& args);
  void runBlock(const jit::Block* b, Env& env);
  void runNode(const jit::Node* n, Env& env);
  bool evalContainerOp(const jit::Node* n, Env& env, const std::vector<SVal>& in);
  bool evalTensorMetadata(const jit::Node* n, Env& env, const std::vector<SVal>& in);
  SVal& get(Env& env, const jit::Value* v);
  void setOutputs(const jit::Node* n, Env& env, std::vector<SVal> outs);
  void setAllDynamic(const jit::Node* n, Env& env);
  void constantFold(const jit::Node* n, Env& env, const std::vector<SVal>& in);
  uint64_t factoryBytes(const jit::Node* n, const std::vector<SVal>& in) const;
  bool foldBufferFlags(const jit::Node* n, Env& env, const std::vector<SVal>& in);
  void mapOp(const jit::Node* n, Env& env, const std::vector<SVal>& in);  // ts_aten_ops.cpp

  // Control flow (ts_control_flow.cpp)
  void runIf(const jit::Node* n, Env& env);
  void runLoop(const jit::Node* n, Env& env);

  // Module hierarchy (ts_modules.cpp)
  void getAttr(const jit::Node* n, Env& env);
  void callMethod(const jit::Node* n, Env& env);
  void callFunction(const jit::Node* n, Env& env);
  void stochasticDepth(const ModuleRef& m, const std::vector<SVal>& args, const jit::Node* n, Env& env);
  void multiheadAttention(const ModuleRef& m, const std::vector<SVal>& args, const jit::Node* n, Env& env);
  void registerTensors(const c10::intrusive_ptr<c10::ivalue::Object>& obj, const std::string& prefix);
  ir::Scope scopeOf(const std::string& path) const;

  // Emission (ts_emit.cpp)
  ir::Value* emit(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs = {});
  ir::Node* emitNode(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs, size_t num_outputs);
  bool hasOp(const std::string& op) const { return ir::OpRegistry::instance().find(op) != nullptr; }
  ir::Value* valueOf(const SVal& s);
  CellPtr paramCell(const std::string& name);
  SVal result(ir::Value* v) { return SVal::tensor(std::make_shared<Cell>(Cell{v, false, ""})); }

  // Errors (ts_errors.cpp)
  void unsupported(const jit::Node* n, const std::string& reason = "");
  std::string where(const jit::Node* n) const;
  void throwIfUnsupported() const;

  // Phase 2 (ts_build_graph.cpp)
  std::shared_ptr<GraphModule> build(const std::vector<ir::Value*>& outputs);

  ImportOptions opt_;  // a copy: a recorded input shape fills input_shape
  std::shared_ptr<const DebugInfo> debug_info_;  // the file's, for messages
  std::shared_ptr<GraphModule> gm_;
  ir::Graph scratch_;
  std::deque<Frame> frames_;
  int frame_ = 0;
  std::unordered_map<const ir::Node*, int> node_frame_;
  std::map<std::string, CellPtr> param_cells_;
  std::map<std::string, std::string> module_types_;  // path -> type, "" = root
  std::unordered_map<const c10::TensorImpl*, std::pair<at::Tensor, ir::Value*>> const_values_;
  int num_consts_ = 0;
  int training_reads_ = 0;
  std::vector<std::string> training_ops_;  // batch_norm/dropout node locations
  std::vector<std::pair<std::string, std::string>> unsupported_;  // kind -> first occurrence
  std::unordered_set<const jit::Node*> reported_;  // nodes found unsupported
  int depth_ = 0;
  int64_t loop_iterations_ = 0;  // unrolled so far, all loops together
  std::optional<uint64_t> memory_available_;  // availableMemoryBytes(), read once
};

// Loops are unrolled while importing: at most this many iterations of one
// loop, and of all together.
constexpr int64_t kMaxLoopIterations = 100000;
constexpr int64_t kMaxLoopIterationsInAll = 1000000;

}  // namespace edgeopt::torchscript::detail
