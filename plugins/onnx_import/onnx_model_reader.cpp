// Reading the model: parsing and checking the protobuf, the default-domain
// opset, element types from ONNX shape inference, initializers (constants)
// and the graph inputs (the IR graph's inputs, with their static shapes).
#include "onnx_import_internal.h"
#include "onnx_tensor.h"

#include <edgeopt/error.h>

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <unordered_set>

namespace edgeopt::onnx_import::detail {
namespace {

// Calls `visit` on `graph` and on every subgraph of its nodes' attributes
// (If/Loop/Scan bodies), outermost first.
void forEachGraph(const onnx::GraphProto& graph, const std::function<void(const onnx::GraphProto&)>& visit) {
  visit(graph);
  for (const auto& node : graph.node())
    for (const auto& a : node.attribute()) {
      if (a.has_g()) forEachGraph(a.g(), visit);
      for (const auto& g : a.graphs()) forEachGraph(g, visit);
    }
}

// Strides, dilations and groups below 1 are refused up front, naming the
// node: the importer's shape code divides by them (and libonnx's did, with
// SIGFPE, before element types were inferred on a shape-free skeleton).
void checkWindowAttributes(const onnx::GraphProto& graph, const std::string& path) {
  forEachGraph(graph, [&](const onnx::GraphProto& g) {
    for (const auto& node : g.node())
      for (const auto& a : node.attribute()) {
        auto atLeastOne = [&](int64_t v) {
          if (v < 1)
            throw InputError(path + ": node '" + node.name() + "' (" + node.op_type() + "): attribute '" + a.name() +
                             "' must be at least 1, got " + std::to_string(v));
        };
        if (a.name() == "strides" || a.name() == "dilations")
          for (int64_t v : a.ints()) atLeastOne(v);
        if (a.name() == "group" && a.type() == onnx::AttributeProto::INT) atLeastOne(a.i());
      }
  });
}

// The element types the importer needs do not depend on shapes, but libonnx
// 1.12's shape inference trusts the shapes it is given: a Conv whose input
// rank differs from its weight's reads past the input's dims (SIGSEGV in
// convPoolShapeInference), and other ops index shapes the same way. So types
// are inferred on a skeleton that carries no shape at all: initializers and
// Constant outputs become graph inputs with an element type only, declared
// shapes are dropped, and model-local functions (which the importer does not
// support) are left out. It also spares a copy of the weights.
void clearShapes(onnx::TypeProto& t) {
  if (t.has_tensor_type()) t.mutable_tensor_type()->clear_shape();
  if (t.has_sparse_tensor_type()) t.mutable_sparse_tensor_type()->clear_shape();
  if (t.has_sequence_type()) clearShapes(*t.mutable_sequence_type()->mutable_elem_type());
  if (t.has_optional_type()) clearShapes(*t.mutable_optional_type()->mutable_elem_type());
  if (t.has_map_type()) clearShapes(*t.mutable_map_type()->mutable_value_type());
}

void addTypedInput(onnx::GraphProto& top, const std::string& name, int32_t elem_type) {
  auto* v = top.add_input();
  v->set_name(name);
  v->mutable_type()->mutable_tensor_type()->set_elem_type(elem_type);
}

// The element type of a Constant node's output, from whichever value attribute it has.
int32_t constantElemType(const onnx::NodeProto& node) {
  for (const auto& a : node.attribute()) {
    if (a.name() == "value") return a.t().data_type();
    if (a.name() == "sparse_value") return a.sparse_tensor().values().data_type();
    if (a.name() == "value_float" || a.name() == "value_floats") return onnx::TensorProto::FLOAT;
    if (a.name() == "value_int" || a.name() == "value_ints") return onnx::TensorProto::INT64;
    if (a.name() == "value_string" || a.name() == "value_strings") return onnx::TensorProto::STRING;
  }
  return onnx::TensorProto::UNDEFINED;
}

// Moves `g`'s shape sources into `top`'s inputs (names are unique model-wide:
// the checker has run), recursing into subgraphs.
void stripShapes(onnx::GraphProto& g, onnx::GraphProto& top) {
  for (auto& v : *g.mutable_input()) clearShapes(*v.mutable_type());
  for (auto& v : *g.mutable_output()) clearShapes(*v.mutable_type());
  g.clear_value_info();
  for (const auto& t : g.initializer()) addTypedInput(top, t.name(), t.data_type());
  for (const auto& t : g.sparse_initializer()) addTypedInput(top, t.values().name(), t.values().data_type());
  g.clear_initializer();
  g.clear_sparse_initializer();
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (auto& node : *g.mutable_node()) {
    bool isConstant = node.op_type() == "Constant" && (node.domain().empty() || node.domain() == "ai.onnx");
    if (isConstant && node.output_size() == 1) {
      addTypedInput(top, node.output(0), constantElemType(node));
      continue;
    }
    for (auto& a : *node.mutable_attribute()) {
      if (a.has_g()) stripShapes(*a.mutable_g(), top);
      for (auto& sub : *a.mutable_graphs()) stripShapes(sub, top);
    }
    kept.Add()->Swap(&node);
  }
  g.mutable_node()->Swap(&kept);
}

onnx::ModelProto shapeFreeSkeleton(const onnx::ModelProto& model) {
  onnx::ModelProto skeleton;
  skeleton.set_ir_version(model.ir_version());
  *skeleton.mutable_opset_import() = model.opset_import();
  const onnx::GraphProto& source = model.graph();
  onnx::GraphProto& graph = *skeleton.mutable_graph();
  graph.set_name(source.name());
  *graph.mutable_node() = source.node();
  *graph.mutable_output() = source.output();
  std::unordered_set<std::string> initialized;
  for (const auto& t : source.initializer()) initialized.insert(t.name());
  for (const auto& v : source.input())
    if (!initialized.count(v.name())) *graph.add_input() = v;  // not twice (IR < 4 lists initializers as inputs)
  for (const auto& t : source.initializer()) addTypedInput(graph, t.name(), t.data_type());
  for (const auto& t : source.sparse_initializer()) addTypedInput(graph, t.values().name(), t.values().data_type());
  stripShapes(graph, graph);
  return skeleton;
}

// Experimental operators (Crop, ImageScaler, ...): libonnx's checker prints a
// warning line of its own about them; no EdgeOpt op converts them, so they are
// refused first, in the importer's words.
std::string experimentalOps(const onnx::GraphProto& graph) {
  std::string found;
  forEachGraph(graph, [&](const onnx::GraphProto& g) {
    for (const auto& node : g.node())
      if ((node.domain().empty() || node.domain() == "ai.onnx") &&
          onnx::checker::check_is_experimental_op(node.op_type()))
        found += (found.empty() ? "" : ", ") + node.op_type() + " at node '" + node.name() + "'";
  });
  return found;
}

bool isExternal(const onnx::TensorProto& t) {
  return t.has_data_location() && t.data_location() == onnx::TensorProto::EXTERNAL;
}

// Whether an initializer or an attribute's tensor keeps its data in another file.
bool hasExternalData(const onnx::GraphProto& graph) {
  bool found = false;
  forEachGraph(graph, [&](const onnx::GraphProto& g) {
    for (const auto& t : g.initializer()) found = found || isExternal(t);
    for (const auto& node : g.node())
      for (const auto& a : node.attribute()) {
        found = found || (a.has_t() && isExternal(a.t()));
        for (const auto& t : a.tensors()) found = found || isExternal(t);
      }
  });
  return found;
}

}  // namespace

void Importer::readModel() {
  const std::string& path = state_.opt.path;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open the ONNX file");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  if (bytes.empty()) throw InputError(path + ": the ONNX file is empty");
  if (!model_.ParseFromString(bytes))
    throw InputError(path + ": not a valid ONNX model (the protobuf does not parse; truncated or corrupted?)");
  if (!model_.has_graph()) throw InputError(path + ": not a valid ONNX model (no graph)");
  state_.base_dir = std::filesystem::path(path).parent_path().string();
  for (const auto& o : model_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") state_.opset = o.version();
  if (state_.opset == 0) {
    std::string domains;
    for (const auto& o : model_.opset_import()) domains += (domains.empty() ? "" : ", ") + o.domain();
    throw InputError(path + ": the model imports no default ONNX opset; operators of " + domains +
                     " are not supported");
  }
  if (state_.opset < 6 || state_.opset > 18)
    throw InputError(path + ": opset " + std::to_string(state_.opset) + " is not supported (6 to 18)");
  const std::string experimental = experimentalOps(model_.graph());
  if (!experimental.empty())
    throw InputError(path + ": unsupported ONNX operators (EdgeOpt's IR has no equivalent): " + experimental +
                     " (experimental operators)");
  try {
    // libonnx looks for external data files next to the model only when it
    // reads the file itself; checking the parsed model, it looks in the
    // working directory (and refused every model with external data).
    if (hasExternalData(model_.graph()))
      onnx::checker::check_model(path);
    else
      onnx::checker::check_model(model_);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    auto nl = msg.find('\n');
    throw InputError(path + ": invalid ONNX model (" + (nl == std::string::npos ? msg : msg.substr(0, nl)) + ")");
  }
  checkWindowAttributes(model_.graph(), path);
  // Element types of intermediate values, for dtype-dependent conversions.
  try {
    onnx::ModelProto inferred = shapeFreeSkeleton(model_);
    onnx::shape_inference::InferShapes(inferred);
    auto record = [&](const onnx::ValueInfoProto& v) {
      if (v.type().has_tensor_type()) state_.elem_types[v.name()] = v.type().tensor_type().elem_type();
    };
    for (const auto& v : inferred.graph().value_info()) record(v);
    for (const auto& v : inferred.graph().input()) record(v);
    for (const auto& v : inferred.graph().output()) record(v);
  } catch (const std::exception&) {
    for (const auto& v : model_.graph().input())
      if (v.type().has_tensor_type()) state_.elem_types[v.name()] = v.type().tensor_type().elem_type();
  }
}

void Importer::addInputs() {
  const auto& graph = model_.graph();
  for (const auto& init : graph.initializer()) {
    Val v;
    try {
      v.constant = tensorFromProto(init, state_.base_dir);
    } catch (const std::exception& e) {
      throw InputError(state_.opt.path + ": " + e.what());
    }
    v.name = init.name();
    state_.vals[init.name()] = v;
  }
  bool first = true;
  for (const auto& input : graph.input()) {
    if (state_.vals.count(input.name())) continue;  // an initializer listed as input (IR version < 4)
    if (!input.type().has_tensor_type())
      throw InputError(state_.opt.path + ": input '" + input.name() +
                       "' is not a tensor (sequences, maps and optionals are not supported)");
    std::string name = sanitize(input.name());
    if (name.empty()) name = "input";
    ir::Value* v = state_.gm->graph().input(name);
    std::optional<Shape> shape;
    const auto& t = input.type().tensor_type();
    if (t.has_shape()) {
      // Static dims, or all static but a symbolic batch (dim 0, as torch.onnx's
      // dynamic_axes and EdgeOpt's own exports write it), taken as 1: the
      // importer's reshapes keep the batch free.
      Shape s;
      int unknown = 0;
      for (const auto& d : t.shape().dim()) {
        unknown += !d.has_dim_value();
        s.push_back(d.has_dim_value() ? d.dim_value() : -1);
      }
      if (unknown == 0) shape = s;
      else if (unknown == 1 && s.size() >= 2 && s[0] == -1) shape = (s[0] = 1, s);
    }
    if (first && state_.opt.input_shape) shape = *state_.opt.input_shape;
    if (shape) v->setShape(*shape);
    first = false;
    Val val;
    val.value = v;
    val.name = input.name();
    state_.vals[input.name()] = val;
  }
}

}  // namespace edgeopt::onnx_import::detail
