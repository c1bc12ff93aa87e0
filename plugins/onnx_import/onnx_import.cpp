// ONNX -> EdgeOpt IR. See onnx_import.h.
//
// Every ONNX value is a Val: a constant (initializer, Constant node, or a
// computation on constants, evaluated here with ATen) or an IR value. Each
// node converter looks at its inputs: all constant -> the result is computed
// now; otherwise it emits IR ops, turning the constants it consumes into
// parameters or buffers. Shapes are propagated as nodes are emitted (the
// registry's shape functions), so converters can resolve Reshape's 0, SAME
// padding or Flatten's axis.
//
// onnx_import_internal.h lists the files the importer is split into.
#include "onnx_import.h"

#include "onnx_converters.h"
#include "onnx_import_internal.h"

#include <edgeopt/error.h>

namespace edgeopt::onnx_import {
namespace detail {

const ConverterTable& converters() {
  static const ConverterTable table = [] {
    ConverterTable t;
    addConvLinearConverters(t);
    addPoolResizeConverters(t);
    addNormConverters(t);
    addActivationConverters(t);
    addArithmeticConverters(t);
    addShapeConverters(t);
    addTensorConverters(t);
    addQuantConverters(t);
    return t;
  }();
  return table;
}

const FolderTable& constantFolders() {
  static const FolderTable table = [] {
    FolderTable t;
    addConstantFolders(t);
    return t;
  }();
  return table;
}

namespace {

// The node's outputs when all its inputs are constants and its op can be
// evaluated while importing; nullopt otherwise.
// Folding stays within the memory this process may use: what a folder would
// allocate is checked before it runs (a 200-byte file can ask for exabytes).
std::optional<std::vector<at::Tensor>> foldConstants(NodeContext& node) {
  std::vector<at::Tensor> inputs;
  for (int i = 0; i < node.numInputs(); ++i) {
    const Val* v = node.in(i);
    if (v && !v->isConst()) return std::nullopt;
    inputs.push_back(v ? v->constant : at::Tensor());
  }
  ConstantFolder fold = constantFolders().find(node.opType());
  if (!fold) return std::nullopt;
  const ConstInputs constants(node, inputs);
  node.reserveFoldingMemory(foldedOutputBytes(constants));
  std::vector<at::Tensor> outputs = fold(constants);
  node.countFolded(inputs, outputs);
  return outputs;
}

void convertNode(NodeContext& node) {
  if (auto folded = foldConstants(node)) {
    for (size_t i = 0; i < folded->size(); ++i) {
      Val v;
      v.constant = (*folded)[i];
      node.setOut(i, v);
    }
    return;
  }
  NodeConverter convert = converters().find(node.opType());
  if (!convert) node.fail("");
  convert(node);
}

// Ops some converter or folder handles, whatever their inputs: downstream of
// an unsupported node only the others are reported.
bool isKnownOp(const std::string& op) {
  return converters().find(op) != nullptr || constantFolders().find(op) != nullptr;
}

}  // namespace

// Name: the module path when the node reads "<path>.weight" (torch.onnx.export keeps state_dict names).
NodeContext Importer::contextFor(const onnx::NodeProto& node) {
  const std::string& op = node.op_type();
  std::string name, module_type;
  ir::Scope scope;
  for (int i = 0; i < node.input_size(); ++i) {
    const std::string& n = node.input(i);
    auto it = state_.vals.find(n);
    // A QDQ file's weights are "<path>.weight_quant", the output of a DequantizeLinear.
    const bool qdq_weight = endsWith(n, ".weight_quant") && node.op_type() != "DequantizeLinear";
    if (it != state_.vals.end() && (it->second.isConst() || qdq_weight) && (endsWith(n, ".weight") || qdq_weight) &&
        sanitize(n) == n) {
      name = n.substr(0, n.size() - (qdq_weight ? 13 : 7));
      static const std::map<std::string, std::string> types = {
          {"Conv", "Conv2d"}, {"ConvTranspose", "ConvTranspose2d"}, {"BatchNormalization", "BatchNorm2d"},
          {"Gemm", "Linear"}, {"MatMul", "Linear"}, {"LayerNormalization", "LayerNorm"},
          {"InstanceNormalization", "InstanceNorm2d"}};
      auto t = types.find(op);
      if (t != types.end()) module_type = t->second;
      size_t pos = 0;
      while (true) {
        size_t dot = name.find('.', pos);
        std::string prefix = name.substr(0, dot);
        scope.push_back({prefix, dot == std::string::npos ? module_type : ""});
        if (dot == std::string::npos) break;
        pos = dot + 1;
      }
      break;
    }
  }
  if (name.empty()) name = sanitize(node.name());
  if (name.empty()) name = lower(op);
  return NodeContext(state_, &node, name, module_type, scope);
}

void Importer::convert(const onnx::NodeProto& node) {
  const std::string& op = node.op_type();
  NodeContext context = contextFor(node);

  bool poisoned = false;
  for (int i = 0; i < node.input_size(); ++i) {
    const Val* v = node.input(i).empty() ? nullptr : context.in(i);
    poisoned = poisoned || (v && v->poison);
  }
  const std::string domain = node.domain() == "ai.onnx" ? "" : node.domain();
  std::string reason;
  bool bad = false;
  // com.microsoft's QuantizeLinear/DequantizeLinear: the 16-bit grids of QDQ files.
  const bool ms_qdq = domain == "com.microsoft" && (op == "QuantizeLinear" || op == "DequantizeLinear");
  if (!domain.empty() && !ms_qdq) {
    bad = true;
    reason = "operator domain '" + domain + "'";
  } else if (poisoned) {
    // Downstream of an unsupported node: report only op types we never convert.
    bad = !isKnownOp(op);
  } else {
    try {
      convertNode(context);
      return;
    } catch (const Unsupported& u) {
      bad = true;
      reason = u.reason;
    } catch (const InputError&) {
      throw;
    } catch (const std::exception& e) {
      bad = true;
      reason = e.what();
      auto nl = reason.find('\n');
      if (nl != std::string::npos) reason = reason.substr(0, nl);
    }
  }
  if (bad) {
    std::string key = domain.empty() ? op : domain + "::" + op;
    bool seen = false;
    for (auto& [k, _] : unsupported_) seen = seen || k == key;
    if (!seen)
      unsupported_.emplace_back(key, "node '" + (node.name().empty() ? context.name() : node.name()) + "'" +
                                         (reason.empty() ? "" : ": " + reason));
  }
  for (int i = 0; i < node.output_size(); ++i) {
    Val v;
    v.poison = true;
    v.name = node.output(i);
    if (!node.output(i).empty()) state_.vals[node.output(i)] = v;
  }
}

void Importer::finish() {
  if (!unsupported_.empty()) {
    std::string msg = state_.opt.path + ": unsupported ONNX operators (EdgeOpt's IR has no equivalent): ";
    for (size_t i = 0; i < unsupported_.size(); ++i)
      msg += (i ? "; " : "") + unsupported_[i].first + " at " + unsupported_[i].second;
    throw InputError(msg);
  }
  std::vector<ir::Value*> outs;
  NodeContext outputs(state_, nullptr, "output", "", {});
  for (const auto& o : model_.graph().output()) {
    auto it = state_.vals.find(o.name());
    if (it == state_.vals.end())
      throw InputError(state_.opt.path + ": graph output '" + o.name() + "' is never computed");
    if (!o.type().has_tensor_type())
      throw InputError(state_.opt.path + ": output '" + o.name() + "' is not a tensor");
    outs.push_back(outputs.irOf(it->second));
  }
  state_.gm->graph().output(outs);
  // The model's own input shapes (static ones only) serve summaries and exporters.
  std::vector<Shape> shapes;
  for (ir::Value* v : state_.gm->graph().inputs()) {
    if (!v->shape()) return;
    shapes.push_back(*v->shape());
  }
  state_.gm->setExampleInputShapes(std::move(shapes));
}

std::shared_ptr<GraphModule> Importer::run() {
  readModel();
  addInputs();
  for (const auto& node : model_.graph().node()) convert(node);
  finish();
  state_.gm->eval();
  try {
    state_.gm->lint();
  } catch (const std::exception& e) {
    throw InputError(state_.opt.path + ": the imported graph is invalid: " + e.what());
  }
  return state_.gm;
}

}  // namespace detail

std::shared_ptr<GraphModule> importOnnx(const ImportOptions& options) {
  detail::Importer importer(options);
  try {
    return importer.run();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(options.path + ": cannot import the ONNX model (" + std::string(e.what()) + ")");
  }
}

}  // namespace edgeopt::onnx_import
