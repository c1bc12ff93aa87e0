#pragma once
// Private to the onnx_import plugin: the values an import works on, the
// per-node context converters use, and the Importer driving them. Files:
//   onnx_import.cpp            the driver: node naming, dispatch, error collection, outputs
//   onnx_model_reader.cpp      reading and checking the model, initializers, graph inputs
//   onnx_node_context.cpp      a node's attributes, inputs and outputs; value queries
//   onnx_emit.cpp              emitting IR ops, parameters and buffers; folding IR ops
//   onnx_constant_folding.cpp  ops evaluated with ATen when all inputs are constants
//   onnx_ops_*.cpp             ONNX op -> IR op converters (see onnx_converters.h)
#include "onnx_import.h"

#include <edgeopt/error.h>
#include <edgeopt/memory_budget.h>

#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace edgeopt::onnx_import::detail {

using ir::Attrs;
using ir::Doubles;
using ir::Ints;
using ir::Shape;

constexpr double kFloatMax = 3.4028234663852886e38;  // stands in for +-inf bounds (JSON has no inf)

// An ONNX value: a constant (initializer, Constant node, or a computation on
// constants) or an IR value.
struct Val {
  at::Tensor constant;          // defined: known while importing
  ir::Value* value = nullptr;   // otherwise: the IR value
  bool poison = false;          // produced by an unsupported node
  std::string name;             // ONNX name (names the parameter a constant becomes)
  // QuantizeLinear's integers, held as the fake_quant's (float) output: only
  // a DequantizeLinear with the same qparams may read them (irOf refuses).
  bool quantized = false;
  at::Tensor q_scale, q_zero_point;
  int64_t q_axis = -1;
  bool isConst() const { return constant.defined(); }
};

// What a constant becomes when an IR op consumes it.
enum class ParamKind { Parameter, Buffer };

// Valid EdgeOpt tensor/node names: [A-Za-z0-9_.], not empty.
std::string sanitize(const std::string& s);
std::string lower(std::string s);
bool endsWith(const std::string& s, const std::string& suffix);
Ints toInts(const at::Tensor& t);

// Runs one IR op on constant tensors (constant folding with the IR's own kernels).
std::vector<at::Tensor> runIrOp(const std::string& op, const std::vector<at::Tensor>& inputs, const Attrs& attrs,
                                size_t num_outputs);

// A converter could not handle its node; the message says why.
struct Unsupported {
  std::string reason;
};

// Bytes this process may still allocate (physical memory, cgroup, RLIMIT_AS,
// EDGEOPT_MEMORY_LIMIT_MB); shared with the other readers of model files.
using edgeopt::availableMemoryBytes;

// What the whole import shares: the module being built and every ONNX value so far.
struct ImportState {
  explicit ImportState(const ImportOptions& o)
      : opt(o), gm(std::make_shared<GraphModule>()), memory_available(availableMemoryBytes()) {}

  const ImportOptions& opt;
  std::shared_ptr<GraphModule> gm;
  std::string base_dir;  // external tensor data is relative to the model file
  int64_t opset = 0;     // of the default domain
  std::unordered_map<std::string, Val> vals;
  std::unordered_map<std::string, int32_t> elem_types;  // ONNX element type of each value, where known
  std::map<std::pair<std::string, ParamKind>, ir::Value*> materialized;
  // Constant folding's budget: the memory available when the import began, and what folded constants hold.
  uint64_t memory_available = 0;
  uint64_t folded_bytes = 0;
};

// The node being converted: its attributes, inputs and outputs, and the IR it
// emits (named, scoped and typed like the node).
class NodeContext {
 public:
  // `node` is null for the graph outputs, whose constants are still named after `name`.
  NodeContext(ImportState& state, const onnx::NodeProto* node, std::string name, std::string module_type,
              ir::Scope scope);

  const std::string& opType() const { return node_->op_type(); }
  const std::string& name() const { return name_; }
  int64_t opset() const { return state_.opset; }
  const std::string& baseDir() const { return state_.base_dir; }
  int numInputs() const { return node_->input_size(); }
  int numOutputs() const { return node_->output_size(); }

  // Attributes
  const onnx::AttributeProto* attr(const std::string& name) const;
  bool hasAttr(const std::string& name) const { return attr(name) != nullptr; }
  int64_t attrInt(const std::string& name, int64_t fallback) const;
  double attrFloat(const std::string& name, double fallback) const;
  std::string attrString(const std::string& name, const std::string& fallback) const;
  std::optional<Ints> attrInts(const std::string& name) const;

  // Inputs and outputs
  const Val* in(size_t i) const;   // nullptr for an absent optional input
  const Val& req(size_t i) const;  // fails when absent
  std::string outName(size_t i) const {
    return i < static_cast<size_t>(node_->output_size()) ? node_->output(i) : std::string();
  }
  bool outputUsed(size_t i) const { return i < static_cast<size_t>(node_->output_size()) && !node_->output(i).empty(); }
  void setOut(size_t i, Val v);
  [[noreturn]] void fail(const std::string& reason) const { throw Unsupported{reason}; }
  // The file is malformed (not merely unsupported): an InputError naming the file and the node.
  [[noreturn]] void failInput(const std::string& what) const {
    throw InputError(state_.opt.path + ": node '" + node_->name() + "' (" + node_->op_type() + "): " + what);
  }

  // Constant folding (onnx_import.cpp): fails (failInput) before a folder
  // allocates `bytes` that, with the constants folded so far, exceed the memory
  // available; countFolded adds the outputs that are not views of the inputs.
  void reserveFoldingMemory(uint64_t bytes) const;
  void countFolded(const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& outputs);

  // Values
  std::optional<Shape> shapeOf(const Val& v) const;
  std::optional<int64_t> rankOf(const Val& v) const;
  std::optional<c10::ScalarType> dtypeOf(const Val& v) const;
  Ints constInts(const Val* v, const std::string& what) const;
  std::optional<double> constScalar(const Val& v) const;
  // Begin/end padding per spatial dim from pads or auto_pad.
  std::optional<std::pair<Ints, Ints>> spatialPads(const Val& x, const Ints& kernel, const Ints& strides,
                                                    const Ints& dilations) const;

  // Emission (onnx_emit.cpp)
  ir::Value* irOf(const Val& v, ParamKind kind = ParamKind::Buffer);
  // The parameter/buffer holding `t`, named after its ONNX value; one per
  // (name, tag, kind), `tag` telling derived tensors (a transposed weight) apart.
  ir::Value* paramFrom(const at::Tensor& t, const std::string& onnx_name, ParamKind kind, const std::string& tag = "");
  ir::Node* emitNode(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs = {}, size_t num_outputs = 1);
  ir::Value* emit(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs = {}) {
    return emitNode(op, std::move(inputs), std::move(attrs))->output();
  }
  Val wrap(ir::Value* v) const {
    Val out;
    out.value = v;
    return out;
  }
  // Elementwise IR op on Vals: folded when every input is constant.
  Val apply(const std::string& op, const std::vector<const Val*>& inputs, Attrs attrs = {});
  bool hasOp(const std::string& op) const;

 private:
  ImportState& state_;
  const onnx::NodeProto* node_;
  std::string name_, module_type_;
  ir::Scope scope_;
};

class Importer {
 public:
  explicit Importer(const ImportOptions& o) : state_(o) {}
  std::shared_ptr<GraphModule> run();

 private:
  void readModel();  // onnx_model_reader.cpp
  void addInputs();  // onnx_model_reader.cpp
  void convert(const onnx::NodeProto& node);
  NodeContext contextFor(const onnx::NodeProto& node);
  void finish();

  ImportState state_;
  onnx::ModelProto model_;
  std::vector<std::pair<std::string, std::string>> unsupported_;  // op type -> where (and why)
};

}  // namespace edgeopt::onnx_import::detail
