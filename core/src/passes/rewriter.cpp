#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/passes/rewriter.h>

#include <algorithm>
#include <set>
#include <unordered_set>

namespace edgeopt {

using ir::Node;
using ir::Opcode;
using ir::Value;

at::Tensor paramTensor(const GraphModule& m, const Value* v) {
  const Node* p = v->producer();
  if (p->opcode() != Opcode::Param || !m.hasTensor(p->target())) return {};
  return m.tensor(p->target());
}

Rewriter::Rewriter(GraphModule& module) : module_(module) {}

ir::Graph& Rewriter::graph() { return module_.graph(); }

uint64_t Rewriter::changeToken() const { return module_.graph().version() + tensor_changes_; }

ir::InsertPoint Rewriter::insertingBefore(Node* n) { return graph().insertingBefore(n); }
ir::InsertPoint Rewriter::insertingAfter(Node* n) { return graph().insertingAfter(n); }

Node* Rewriter::createOp(const std::string& op, std::vector<Value*> inputs, ir::Attrs attrs,
                         const std::string& name_hint, const Node* like, size_t num_outputs) {
  Node* n = graph().call(op, std::move(inputs), std::move(attrs), name_hint, num_outputs);
  if (like) {
    n->setScope(like->scope());
    n->setModuleType(like->moduleType());
  }
  return n;
}

void Rewriter::replaceOp(Node* op, const std::vector<Value*>& values) {
  if (values.size() != op->numOutputs())
    throw RuntimeFailure("Rewriter::replaceOp('" + op->name() + "'): " + std::to_string(values.size()) +
                         " replacement values for " + std::to_string(op->numOutputs()) + " outputs");
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i] != op->output(i)) graph().replaceAllUsesWith(op->output(i), values[i]);
  eraseNode(op);
}

Node* Rewriter::replaceOpWithNewOp(Node* op, const std::string& target, std::vector<Value*> inputs, ir::Attrs attrs,
                                   const std::string& module_type) {
  const std::string name = op->name();
  Node* fresh;
  {
    auto guard = insertingBefore(op);
    fresh = createOp(target, std::move(inputs), std::move(attrs), name + ".new", op, op->numOutputs());
  }
  if (!module_type.empty() && !fresh->moduleType().empty()) {
    // A leaf module (nn.Hardswish -> nn.ReLU) changes type, so `type:`
    // selectors see the new module.
    fresh->setModuleType(module_type);
    ir::Scope scope = fresh->scope();
    if (!scope.empty() && scope.back().path == name) scope.back().type = module_type;
    fresh->setScope(scope);
  }
  std::vector<Value*> outs = fresh->outputs();
  replaceOp(op, outs);
  return renameNode(fresh, name);
}

Value* Rewriter::replaceWithBlock(Node* root, const std::string& block_type, const BlockBuilder& build) {
  ir::Scope scope = root->scope();
  if (!scope.empty() && scope.back().path == root->name()) scope.pop_back();  // root's own leaf module
  scope.push_back({root->name(), block_type});
  Value* result;
  {
    auto guard = insertingBefore(root);
    ir::ModelBuilder b(module_, scope);
    result = build(b);
  }
  graph().replaceAllUsesWith(root->output(), result);
  eraseDeadChain(root);
  return result;
}

void Rewriter::replaceAllUsesWith(Value* from, Value* to, const std::function<bool(Node*)>& filter) {
  graph().replaceAllUsesWith(from, to, filter);
}

void Rewriter::eraseNode(Node* n) {
  std::vector<Node*> params;
  for (Value* in : n->inputs())
    if (in->producer()->opcode() == Opcode::Param) params.push_back(in->producer());
  erased_.insert(n);
  graph().erase(n);
  std::sort(params.begin(), params.end());
  params.erase(std::unique(params.begin(), params.end()), params.end());
  for (Node* p : params) {
    if (p->output()->hasUses()) continue;
    const std::string tensor = p->target();
    erased_.insert(p);
    graph().erase(p);
    bool still_named = false;
    for (Node* other : graph().nodes())
      still_named = still_named || (other->opcode() == Opcode::Param && other->target() == tensor);
    if (!still_named && module_.hasTensor(tensor)) module_.removeTensor(tensor);
  }
}

void Rewriter::eraseDeadChain(Node* root) {
  // Skips only what this walk erased: erased_ keeps the addresses of every node
  // erased so far, and a node created since may live at one of them (glibc
  // reuses them at once), which left such nodes dead in the graph.
  // A root already erased (callers erase a region's nodes one by one, and a
  // walk may have taken the next) is no longer in the graph: nothing to do.
  // No node is created between such calls, so its address is still free.
  const std::vector<Node*> live = graph().nodes();
  if (std::find(live.begin(), live.end(), root) == live.end()) return;
  std::unordered_set<const Node*> erased_here;
  std::vector<Node*> work = {root};
  while (!work.empty()) {
    Node* n = work.back();
    work.pop_back();
    if (erased_here.count(n) || n->opcode() != Opcode::Call) continue;
    bool used = false;
    for (Value* v : n->outputs()) used = used || v->hasUses();
    if (used) continue;
    std::vector<Node*> producers;
    for (Value* in : n->inputs()) producers.push_back(in->producer());
    // eraseNode also erases the parameters only `n` reads.
    for (Node* p : producers) {
      if (p->opcode() != Opcode::Param) continue;
      bool only_n = true;
      for (const ir::Use& u : p->output()->uses()) only_n = only_n && u.user == n;
      if (only_n) erased_here.insert(p);
    }
    eraseNode(n);
    erased_here.insert(n);
    for (Node* p : producers)
      if (!erased_here.count(p)) work.push_back(p);
  }
}

Node* Rewriter::renameNode(Node* n, const std::string& name) {
  if (n->name() == name) return n;
  Node* copy;
  {
    auto guard = insertingBefore(n);
    copy = graph().call(n->target(), n->inputs(), n->attrs(), name, n->numOutputs());
  }
  if (copy->name() != name) throw RuntimeFailure("Rewriter::renameNode: the name '" + name + "' is taken");
  copy->setScope(n->scope());
  copy->setModuleType(n->moduleType());
  copy->meta() = n->meta();
  for (size_t i = 0; i < n->numOutputs(); ++i) {
    if (n->output(i)->shape()) copy->output(i)->setShape(*n->output(i)->shape());
    graph().replaceAllUsesWith(n->output(i), copy->output(i));
  }
  erased_.insert(n);
  graph().erase(n);
  return copy;
}

void Rewriter::setInput(Node* n, size_t i, Value* v) {
  n->setInput(i, v);
  graph().touch();
}

void Rewriter::addInput(Node* n, Value* v) {
  n->addInput(v);
  graph().touch();
}

void Rewriter::setAttr(Node* n, const std::string& key, ir::AttrValue v) {
  if (n->hasAttr(key) && n->attr(key) == v) return;
  n->setAttr(key, std::move(v));
  graph().touch();
}

void Rewriter::removeAttr(Node* n, const std::string& key) {
  if (!n->hasAttr(key)) return;
  n->removeAttr(key);
  graph().touch();
}

Value* Rewriter::createParameter(const std::string& name_hint, const at::Tensor& t, Node* at, bool requires_grad) {
  const std::string name = module_.uniqueTensorName(name_hint);
  module_.registerParameter(name, t, requires_grad);
  auto guard = insertingBefore(at);
  return graph().param(name);
}

Value* Rewriter::createBuffer(const std::string& name_hint, const at::Tensor& t, Node* at) {
  const std::string name = module_.uniqueTensorName(name_hint);
  module_.registerBuffer(name, t);
  auto guard = insertingBefore(at);
  return graph().param(name);
}

void Rewriter::setTensor(const std::string& name, const at::Tensor& t) {
  module_.setTensor(name, t);
  ++tensor_changes_;
}

void Rewriter::eraseUnusedParams() {
  std::set<std::string> targets;
  for (Node* n : graph().nodes())
    if (n->opcode() == Opcode::Param && !n->output()->hasUses()) {
      targets.insert(n->target());
      erased_.insert(n);
      graph().erase(n);
    }
  for (Node* n : graph().nodes())
    if (n->opcode() == Opcode::Param) targets.erase(n->target());
  for (const auto& t : targets)
    if (module_.hasTensor(t)) {
      module_.removeTensor(t);
      ++tensor_changes_;
    }
}

bool Rewriter::notifyMatchFailure(const Node& n, const std::string& reason) {
  if (listener_) listener_(n, reason);
  return false;
}

}  // namespace edgeopt
