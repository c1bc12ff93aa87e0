#pragma once
// A protobuf-free ONNX graph that op emitters (OpDef::onnx) write into. The
// core never links libonnx: the `onnx` exporter plugin turns an OnnxModel into
// an onnx::ModelProto, checks it and writes it.
//
// Lowering a GraphModule (lowerToOnnx, onnx_lower.h) walks the IR in order:
// graph inputs become ONNX inputs, Param nodes initializers named by their
// state_dict name, each Call node is handed to its op's emitter with the ONNX
// names of its inputs and the names its outputs must get, and hooks may wrap
// any value on the way (QuantizeLinear/DequantizeLinear for QDQ export).
//
// Writing an emitter (ops_<family>.cpp):
//
//   void reluOnnx(OnnxEmitContext& ctx) { ctx.add("Relu", {ctx.inputs[0]}, {ctx.outputs[0]}); }
//
//   void clipOnnx(OnnxEmitContext& ctx) {       // constants become initializers
//     ctx.add("Clip", {ctx.inputs[0], ctx.scalar("min", 0.f), ctx.scalar("max", 6.f)}, {ctx.outputs[0]});
//   }
//   ctx.add("Conv", ...).attr("strides", Ints{2, 2}).attr("group", 1);
//
// Emitters may branch on ctx.opset() (13..18 are supported by the exporter).
#include <edgeopt/ir/graph.h>
#include <edgeopt/ir/op_registry.h>

#include <ATen/core/Tensor.h>

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace edgeopt::ir {

using Floats = std::vector<float>;
using Strings = std::vector<std::string>;

// An ONNX attribute: INT, FLOAT, STRING, TENSOR, INTS, FLOATS or STRINGS.
// bool is stored as INT (ONNX has no bool attribute), double as FLOAT.
class OnnxAttr {
 public:
  using Variant = std::variant<int64_t, float, std::string, at::Tensor, Ints, Floats, Strings>;
  OnnxAttr(int v) : v_(int64_t{v}) {}
  OnnxAttr(int64_t v) : v_(v) {}
  OnnxAttr(bool v) : v_(int64_t{v ? 1 : 0}) {}
  OnnxAttr(float v) : v_(v) {}
  OnnxAttr(double v) : v_(static_cast<float>(v)) {}
  OnnxAttr(const char* v) : v_(std::string(v)) {}
  OnnxAttr(std::string v) : v_(std::move(v)) {}
  OnnxAttr(at::Tensor v) : v_(std::move(v)) {}
  OnnxAttr(Ints v) : v_(std::move(v)) {}
  OnnxAttr(Floats v) : v_(std::move(v)) {}
  OnnxAttr(Strings v) : v_(std::move(v)) {}
  const Variant& variant() const { return v_; }

 private:
  Variant v_;
};

struct OnnxNode {
  std::string op_type;
  std::string domain;                // "" = the default ai.onnx domain
  std::string name;                  // unique
  std::vector<std::string> inputs;   // "" = an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, OnnxAttr> attrs;

  OnnxNode& attr(const std::string& key, OnnxAttr v) {
    attrs.insert_or_assign(key, std::move(v));
    return *this;
  }
};

// One dimension of a value type: a fixed size, or a symbolic name ("batch").
struct OnnxDim {
  int64_t size = -1;  // -1 with an empty param: unknown
  std::string param;
};

struct OnnxValueInfo {
  std::string name;
  at::ScalarType dtype = at::kFloat;
  std::optional<std::vector<OnnxDim>> shape;  // nullopt: rank unknown
};

// A graph initializer. Any dtype ONNX knows (float, int8, uint8, int32, int64,
// ...): a quantizer stores int8 weights and int32 biases here.
struct OnnxInitializer {
  std::string name;
  at::Tensor tensor;  // contiguous, CPU
};

class OnnxGraph {
 public:
  explicit OnnxGraph(int64_t opset = 17, std::string name = "main");

  int64_t opset() const { return opset_; }
  const std::string& name() const { return name_; }

  // A name (value or node) not handed out before: `hint`, else `hint_1`, ...
  std::string uniqueName(const std::string& hint);
  bool isTaken(const std::string& name) const { return taken_.count(name) != 0; }

  // Appends a node (nodes must be added in topological order). Output names
  // are taken as given: get fresh ones from uniqueName. The reference stays
  // valid while the graph lives.
  OnnxNode& addNode(const std::string& op_type, std::vector<std::string> inputs, std::vector<std::string> outputs,
                    const std::string& name_hint = "");
  // Adds an initializer under `name` (made unique); returns the name used.
  std::string addInitializer(const std::string& name, const at::Tensor& t);
  // Constant initializers: a 1-D int64 tensor, a 0-D float tensor.
  std::string constantInts(const std::string& hint, const Ints& values);
  std::string constantScalar(const std::string& hint, float value);

  // Drops initializers no node or graph output reads (e.g. BatchNorm's
  // num_batches_tracked); returns how many.
  size_t removeUnusedInitializers();

  void addInput(OnnxValueInfo v);
  void addOutput(OnnxValueInfo v);
  void addValueInfo(OnnxValueInfo v);

  const std::deque<OnnxNode>& nodes() const { return nodes_; }
  std::deque<OnnxNode>& nodes() { return nodes_; }
  const std::vector<OnnxInitializer>& initializers() const { return initializers_; }
  const std::vector<OnnxValueInfo>& inputs() const { return inputs_; }
  const std::vector<OnnxValueInfo>& outputs() const { return outputs_; }
  const std::vector<OnnxValueInfo>& valueInfos() const { return value_infos_; }
  // Opset imports beyond the default domain ("com.microsoft" -> 1).
  std::map<std::string, int64_t>& extraOpsets() { return extra_opsets_; }
  const std::map<std::string, int64_t>& extraOpsets() const { return extra_opsets_; }

 private:
  int64_t opset_;
  std::string name_;
  std::set<std::string> taken_;
  std::deque<OnnxNode> nodes_;
  std::vector<OnnxInitializer> initializers_;
  std::vector<OnnxValueInfo> inputs_, outputs_, value_infos_;
  std::map<std::string, int64_t> extra_opsets_;
};

// What the exporter plugin serializes.
struct OnnxModel {
  OnnxGraph graph;
  std::string producer_name = "EdgeOpt";
  std::string producer_version;  // EdgeOpt's version
  std::string doc_string;
  int64_t model_version = 1;
  std::map<std::string, std::string> metadata;  // metadata_props
};

// What an emitter sees for one Call node.
struct OnnxEmitContext {
  OnnxEmitContext(OnnxGraph& g, const Node& n) : graph(g), node(n) {}

  OnnxGraph& graph;
  const Node& node;
  std::vector<std::string> inputs;   // ONNX names of node.inputs(), in order
  std::vector<std::string> outputs;  // names the emitter must produce, one per node output
  // Tensor behind a Param value (lowering sets it); nullptr for other values.
  std::function<const at::Tensor*(const Value*)> param_tensor;

  int64_t opset() const { return graph.opset(); }
  // Shapes from shape propagation (lowering runs it), nullopt if unknown.
  std::optional<Shape> inputShape(size_t i) const;
  std::optional<Shape> outputShape(size_t i) const;
  // Rank of input i; fail()s when unknown.
  size_t inputRank(size_t i) const;
  // The tensor behind input i when it is a Param (weights), else nullptr.
  const at::Tensor* constantInput(size_t i) const;

  // Adds a node named after the IR node ("features.0.0", "features.0.0/Mul", ...).
  OnnxNode& add(const std::string& op_type, std::vector<std::string> inputs, std::vector<std::string> outputs);
  // A fresh value name derived from the IR node: "<node>/<suffix>".
  std::string temp(const std::string& suffix);
  // Constant initializers named after the IR node.
  std::string ints(const std::string& suffix, const Ints& values);
  std::string scalar(const std::string& suffix, float value);
  // Throws RuntimeFailure "ONNX export: node 'n' (op): message".
  [[noreturn]] void fail(const std::string& message) const;
};

}  // namespace edgeopt::ir
