// The protobuf-free ONNX graph (onnx_emit.h) and the emitter context.
#include <edgeopt/error.h>
#include <edgeopt/ir/onnx_emit.h>

#include <ATen/ATen.h>

namespace edgeopt::ir {

OnnxGraph::OnnxGraph(int64_t opset, std::string name) : opset_(opset), name_(std::move(name)) {}

std::string OnnxGraph::uniqueName(const std::string& hint) {
  std::string base = hint.empty() ? std::string("v") : hint;
  std::string name = base;
  for (int i = 1; taken_.count(name); ++i) name = base + "_" + std::to_string(i);
  taken_.insert(name);
  return name;
}

OnnxNode& OnnxGraph::addNode(const std::string& op_type, std::vector<std::string> inputs,
                             std::vector<std::string> outputs, const std::string& name_hint) {
  OnnxNode n;
  n.op_type = op_type;
  n.name = uniqueName(name_hint.empty() ? op_type : name_hint);
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  for (const auto& o : n.outputs) taken_.insert(o);
  nodes_.push_back(std::move(n));
  return nodes_.back();
}

std::string OnnxGraph::addInitializer(const std::string& name, const at::Tensor& t) {
  std::string unique = uniqueName(name);
  initializers_.push_back({unique, t.detach().to(at::kCPU).contiguous()});
  return unique;
}

std::string OnnxGraph::constantInts(const std::string& hint, const Ints& values) {
  at::Tensor t = at::empty({static_cast<int64_t>(values.size())}, at::kLong);
  for (size_t i = 0; i < values.size(); ++i) t.data_ptr<int64_t>()[i] = values[i];
  return addInitializer(hint, t);
}

std::string OnnxGraph::constantScalar(const std::string& hint, float value) {
  return addInitializer(hint, at::scalar_tensor(value, at::kFloat));
}

size_t OnnxGraph::removeUnusedInitializers() {
  std::set<std::string> used;
  for (const auto& n : nodes_) used.insert(n.inputs.begin(), n.inputs.end());
  for (const auto& o : outputs_) used.insert(o.name);
  size_t before = initializers_.size();
  std::vector<OnnxInitializer> kept;
  for (auto& init : initializers_)
    if (used.count(init.name)) kept.push_back(std::move(init));
  initializers_ = std::move(kept);
  return before - initializers_.size();
}

void OnnxGraph::addInput(OnnxValueInfo v) {
  taken_.insert(v.name);
  inputs_.push_back(std::move(v));
}

void OnnxGraph::addOutput(OnnxValueInfo v) { outputs_.push_back(std::move(v)); }
void OnnxGraph::addValueInfo(OnnxValueInfo v) { value_infos_.push_back(std::move(v)); }

std::optional<Shape> OnnxEmitContext::inputShape(size_t i) const {
  if (i >= node.numInputs()) return std::nullopt;
  return node.input(i)->shape();
}

std::optional<Shape> OnnxEmitContext::outputShape(size_t i) const {
  if (i >= node.numOutputs()) return std::nullopt;
  return node.output(i)->shape();
}

size_t OnnxEmitContext::inputRank(size_t i) const {
  auto s = inputShape(i);
  if (!s) fail("needs the rank of input " + std::to_string(i) + " (shape propagation gave none)");
  return s->size();
}

const at::Tensor* OnnxEmitContext::constantInput(size_t i) const {
  if (i >= node.numInputs() || !param_tensor) return nullptr;
  return param_tensor(node.input(i));
}

OnnxNode& OnnxEmitContext::add(const std::string& op_type, std::vector<std::string> in,
                               std::vector<std::string> out) {
  return graph.addNode(op_type, std::move(in), std::move(out), node.name());
}

std::string OnnxEmitContext::temp(const std::string& suffix) { return graph.uniqueName(node.name() + "/" + suffix); }

std::string OnnxEmitContext::ints(const std::string& suffix, const Ints& values) {
  return graph.constantInts(node.name() + "/" + suffix, values);
}

std::string OnnxEmitContext::scalar(const std::string& suffix, float value) {
  return graph.constantScalar(node.name() + "/" + suffix, value);
}

void OnnxEmitContext::fail(const std::string& message) const {
  throw RuntimeFailure("ONNX export: node '" + node.name() + "' (" + node.target() + "): " + message);
}

}  // namespace edgeopt::ir
