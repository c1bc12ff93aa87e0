// Reading the model: parsing and checking the protobuf, the default-domain
// opset, element types from ONNX shape inference, initializers (constants)
// and the graph inputs (the IR graph's inputs, with their static shapes).
#include "onnx_import_internal.h"
#include "onnx_tensor.h"

#include <edgeopt/error.h>

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace edgeopt::onnx_import::detail {
namespace {

// ONNX's own shape inference (convPoolShapeInference) divides by strides and
// groups without checking them: a file that sets one to 0 must be an error
// naming the node before InferShapes runs, not SIGFPE inside libonnx.
void checkWindowAttributes(const onnx::GraphProto& graph, const std::string& path) {
  for (const auto& node : graph.node()) {
    for (const auto& a : node.attribute()) {
      auto atLeastOne = [&](int64_t v) {
        if (v < 1)
          throw InputError(path + ": node '" + node.name() + "' (" + node.op_type() + "): attribute '" + a.name() +
                           "' must be at least 1, got " + std::to_string(v));
      };
      if (a.name() == "strides" || a.name() == "dilations")
        for (int64_t v : a.ints()) atLeastOne(v);
      if (a.name() == "group" && a.type() == onnx::AttributeProto::INT) atLeastOne(a.i());
      if (a.has_g()) checkWindowAttributes(a.g(), path);
      for (const auto& g : a.graphs()) checkWindowAttributes(g, path);
    }
  }
}

bool isExternal(const onnx::TensorProto& t) {
  return t.has_data_location() && t.data_location() == onnx::TensorProto::EXTERNAL;
}

// Whether an initializer or an attribute's tensor keeps its data in another file.
bool hasExternalData(const onnx::GraphProto& graph) {
  for (const auto& t : graph.initializer())
    if (isExternal(t)) return true;
  for (const auto& node : graph.node())
    for (const auto& a : node.attribute()) {
      if (a.has_t() && isExternal(a.t())) return true;
      for (const auto& t : a.tensors())
        if (isExternal(t)) return true;
      if (a.has_g() && hasExternalData(a.g())) return true;
      for (const auto& g : a.graphs())
        if (hasExternalData(g)) return true;
    }
  return false;
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
    onnx::ModelProto inferred = model_;
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
