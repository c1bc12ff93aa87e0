// GraphModule: tensor bookkeeping, forward, clone. Save/load: graph_module_io.cpp.
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>

#include <ATen/ATen.h>

namespace edgeopt {

GraphModule::GraphModule() : graph_(std::make_unique<ir::Graph>()) {}
GraphModule::GraphModule(std::unique_ptr<ir::Graph> graph) : graph_(std::move(graph)) {}
GraphModule::~GraphModule() = default;

void GraphModule::registerParameter(const std::string& name, at::Tensor t, bool requires_grad) {
  if (hasTensor(name)) throw RuntimeFailure("GraphModule: tensor '" + name + "' is registered twice");
  t = t.detach().requires_grad_(requires_grad);
  index_[name] = entries_.size();
  entries_.push_back({name, std::move(t), false});
}

void GraphModule::registerBuffer(const std::string& name, at::Tensor t) {
  if (hasTensor(name)) throw RuntimeFailure("GraphModule: tensor '" + name + "' is registered twice");
  index_[name] = entries_.size();
  entries_.push_back({name, t.detach(), true});
}

bool GraphModule::isBuffer(const std::string& name) const {
  auto it = index_.find(name);
  return it != index_.end() && entries_[it->second].is_buffer;
}

const at::Tensor& GraphModule::tensor(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw RuntimeFailure("GraphModule: no parameter or buffer named '" + name + "'");
  return entries_[it->second].tensor;
}

void GraphModule::setTensor(const std::string& name, at::Tensor t) {
  tensor(name);  // existence check
  Entry& e = entries_[index_.at(name)];
  bool grad = e.is_buffer ? false : e.tensor.requires_grad();
  e.tensor = e.is_buffer ? t.detach() : t.detach().requires_grad_(grad);
}

void GraphModule::removeTensor(const std::string& name) {
  tensor(name);
  for (ir::Node* n : graph_->nodes())
    if (n->opcode() == ir::Opcode::Param && n->target() == name)
      throw RuntimeFailure("GraphModule: cannot remove '" + name + "', node '" + n->name() + "' uses it");
  entries_.erase(entries_.begin() + index_.at(name));
  index_.clear();
  for (size_t i = 0; i < entries_.size(); ++i) index_[entries_[i].name] = i;
}

std::string GraphModule::uniqueTensorName(const std::string& hint, const std::vector<std::string>& suffixes) const {
  auto taken = [&](const std::string& name) {
    if (hasTensor(name)) return true;
    for (const auto& s : suffixes)
      if (hasTensor(name + "." + s)) return true;
    return false;
  };
  std::string name = hint;
  for (int i = 1; taken(name); ++i) name = hint + "_" + std::to_string(i);
  return name;
}

std::vector<at::Tensor> GraphModule::parameters() const {
  std::vector<at::Tensor> out;
  for (auto& e : entries_)
    if (!e.is_buffer) out.push_back(e.tensor);
  return out;
}

GraphModule::NamedTensors GraphModule::namedParameters() const {
  NamedTensors out;
  for (auto& e : entries_)
    if (!e.is_buffer) out.emplace_back(e.name, e.tensor);
  return out;
}

GraphModule::NamedTensors GraphModule::namedBuffers() const {
  NamedTensors out;
  for (auto& e : entries_)
    if (e.is_buffer) out.emplace_back(e.name, e.tensor);
  return out;
}

GraphModule::NamedTensors GraphModule::stateDict() const {
  NamedTensors out;
  for (auto& e : entries_) out.emplace_back(e.name, e.tensor);
  return out;
}

void GraphModule::loadStateDict(const NamedTensors& state, bool strict) {
  std::string problems;
  std::unordered_map<std::string, bool> seen;
  for (auto& [name, value] : state) {
    auto it = index_.find(name);
    if (it == index_.end()) {
      if (strict) problems += "\n  unexpected: " + name;
      continue;
    }
    seen[name] = true;
    at::Tensor& dst = entries_[it->second].tensor;
    if (!dst.sizes().equals(value.sizes())) {
      problems += "\n  shape mismatch: " + name + " is " + ir::formatShape(dst.sizes().vec()) + ", given " +
                  ir::formatShape(value.sizes().vec());
      continue;
    }
    at::NoGradGuard no_grad;
    dst.copy_(value);
  }
  if (strict)
    for (auto& e : entries_)
      if (!seen.count(e.name)) problems += "\n  missing: " + e.name;
  if (!problems.empty()) throw InputError("loadStateDict:" + problems);
}

std::vector<at::Tensor> GraphModule::forward(const std::vector<at::Tensor>& inputs, const ir::NodeObserver& observer) {
  if (!executor_ || executor_->stale()) executor_ = std::make_unique<ir::Executor>(*graph_);
  ir::ExecContext ctx;
  ctx.training = training_;
  return executor_->run(inputs, [this](const std::string& name) -> const at::Tensor& { return tensor(name); }, ctx,
                        observer);
}

ir::ExecStats GraphModule::lastExecStats() const { return executor_ ? executor_->lastStats() : ir::ExecStats{}; }

void GraphModule::lint() const {
  graph_->lint();
  for (ir::Node* n : graph_->nodes())
    if (n->opcode() == ir::Opcode::Param && !hasTensor(n->target()))
      throw RuntimeFailure("lint: node '" + n->name() + "': param target '" + n->target() +
                           "' is not a parameter or buffer of the module\n" + graph_->print());
}

std::shared_ptr<GraphModule> GraphModule::clone() const {
  auto copy = std::make_shared<GraphModule>(graph_->clone());
  for (auto& e : entries_) {
    at::Tensor t = e.tensor.detach().clone();
    if (e.is_buffer) copy->registerBuffer(e.name, t);
    else copy->registerParameter(e.name, t, e.tensor.requires_grad());
  }
  copy->training_ = training_;
  copy->example_input_shapes_ = example_input_shapes_;
  return copy;
}

}  // namespace edgeopt
