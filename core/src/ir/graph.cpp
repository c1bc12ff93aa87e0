// Graph construction and mutation. Lint and printing live in graph_lint.cpp.
#include <edgeopt/error.h>
#include <edgeopt/ir/graph.h>

#include <algorithm>
#include <sstream>

namespace edgeopt::ir {

const char* toString(Opcode op) {
  switch (op) {
    case Opcode::Input: return "input";
    case Opcode::Param: return "param";
    case Opcode::Call: return "call";
    case Opcode::Output: return "output";
  }
  return "?";
}

bool isLegalOpcode(int op) {
  return op >= static_cast<int>(Opcode::Input) && op <= static_cast<int>(Opcode::Output);
}

std::string formatShape(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::ostream& operator<<(std::ostream& os, const ScopeEntry& e) {
  return os << '(' << e.path << ", " << e.type << ')';
}

// ---- Value ------------------------------------------------------------------

std::vector<Node*> Value::users() const {
  std::vector<Node*> out;
  for (const Use& u : uses_)
    if (std::find(out.begin(), out.end(), u.user) == out.end()) out.push_back(u.user);
  return out;
}

std::string Value::displayName() const {
  return index_ == 0 ? producer_->name() : producer_->name() + "#" + std::to_string(index_);
}

// ---- Node -------------------------------------------------------------------

Node::Node(Graph* g, Opcode op, std::string target, std::string name, size_t num_outputs)
    : graph_(g), opcode_(op), target_(std::move(target)), name_(std::move(name)) {
  for (size_t i = 0; i < num_outputs; ++i) outputs_.emplace_back(new Value(this, i));
}

void Node::fail(const std::string& message) const {
  throw RuntimeFailure("node '" + name_ + "': " + message);
}

Value* Node::input(size_t i) const {
  if (i >= inputs_.size())
    fail("input " + std::to_string(i) + " requested, node has " + std::to_string(inputs_.size()));
  return inputs_[i];
}

Value* Node::output(size_t i) const {
  if (i >= outputs_.size())
    fail("output " + std::to_string(i) + " requested, node has " + std::to_string(outputs_.size()));
  return outputs_[i].get();
}

std::vector<Value*> Node::outputs() const {
  std::vector<Value*> out;
  for (auto& v : outputs_) out.push_back(v.get());
  return out;
}

// Private on purpose: callers change inputs through setInput/setInputs/addInput,
// which pair every unlink with a link so use lists never drift.
void Node::unlinkInput(size_t i) {
  auto& uses = inputs_[i]->uses_;
  auto it = std::find_if(uses.begin(), uses.end(),
                         [&](const Use& u) { return u.user == this && u.input_index == i; });
  if (it != uses.end()) uses.erase(it);
}

void Node::linkInput(size_t i) {
  if (inputs_[i] == nullptr) fail("input " + std::to_string(i) + " is null");
  inputs_[i]->uses_.push_back(Use{this, i});
}

void Node::setInput(size_t i, Value* v) {
  input(i);  // bounds check
  unlinkInput(i);
  inputs_[i] = v;
  linkInput(i);
  graph_->touch();
}

void Node::setInputs(std::vector<Value*> values) {
  for (size_t i = 0; i < inputs_.size(); ++i) unlinkInput(i);
  inputs_ = std::move(values);
  for (size_t i = 0; i < inputs_.size(); ++i) linkInput(i);
  graph_->touch();
}

void Node::addInput(Value* v) {
  inputs_.push_back(v);
  linkInput(inputs_.size() - 1);
  graph_->touch();
}

const AttrValue& Node::attr(const std::string& name) const {
  auto it = attrs_.find(name);
  if (it == attrs_.end()) fail("has no attribute '" + name + "'");
  return it->second;
}

void Node::setAttr(const std::string& name, AttrValue v) {
  attrs_.insert_or_assign(name, std::move(v));
  graph_->touch();
}

void Node::removeAttr(const std::string& name) {
  attrs_.erase(name);
  graph_->touch();
}

// ---- AttrValue --------------------------------------------------------------

const char* AttrValue::typeName() const {
  static const char* names[] = {"int", "float", "bool", "string", "ints", "floats"};
  return names[v_.index()];
}

namespace {
template <class L>
void printList(std::ostringstream& s, const L& v) {
  s << '[';
  for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
  s << ']';
}
}  // namespace

std::string AttrValue::str() const {
  std::ostringstream s;
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) s << (v ? "true" : "false");
        else if constexpr (std::is_same_v<T, std::string>) s << '"' << v << '"';
        else if constexpr (std::is_same_v<T, Ints> || std::is_same_v<T, Doubles>) printList(s, v);
        else s << v;
      },
      v_);
  return s.str();
}

// ---- Graph ------------------------------------------------------------------

Graph::~Graph() = default;

InsertPoint::~InsertPoint() {
  if (graph_) graph_->insert_before_ = previous_;
}

InsertPoint Graph::insertingBefore(Node* n) {
  InsertPoint guard(this, insert_before_);
  insert_before_ = n;
  return guard;
}

InsertPoint Graph::insertingAfter(Node* n) {
  auto next = std::next(n->position_);
  return insertingBefore(next == nodes_.end() ? nullptr : next->get());
}

std::string Graph::uniqueName(const std::string& hint) const {
  std::string base = hint.empty() ? "v" : hint;
  if (!names_.count(base)) return base;
  for (size_t i = 1;; ++i) {
    std::string candidate = base + "_" + std::to_string(i);
    if (!names_.count(candidate)) return candidate;
  }
}

Node* Graph::createNode(Opcode op, const std::string& target, std::vector<Value*> inputs,
                        size_t num_outputs, const std::string& name_hint) {
  if (op == Opcode::Output && outputNode())
    throw RuntimeFailure("graph already has an output node; change its inputs instead");
  std::unique_ptr<Node> node(new Node(this, op, target, uniqueName(name_hint), num_outputs));
  Node* n = node.get();
  auto where = nodes_.end();
  if (insert_before_) {
    where = insert_before_->position_;
  } else if (op != Opcode::Output) {
    if (Node* out = outputNode()) where = out->position_;
  }
  n->position_ = nodes_.insert(where, std::move(node));
  names_[n->name_] = n;
  n->inputs_ = std::move(inputs);
  for (size_t i = 0; i < n->inputs_.size(); ++i) n->linkInput(i);
  touch();
  return n;
}

Value* Graph::input(const std::string& name) {
  // Inputs go after the existing inputs so their order is the call order.
  Node* before = nullptr;
  for (auto& n : nodes_)
    if (n->opcode() != Opcode::Input) { before = n.get(); break; }
  auto guard = insertingBefore(before);
  return createNode(Opcode::Input, name, {}, 1, name)->output();
}

Value* Graph::param(const std::string& tensor_name) {
  return createNode(Opcode::Param, tensor_name, {}, 1, tensor_name)->output();
}

Node* Graph::call(const std::string& op, std::vector<Value*> inputs, Attrs attrs,
                  const std::string& name_hint, size_t num_outputs) {
  Node* n = createNode(Opcode::Call, op, std::move(inputs), num_outputs, name_hint.empty() ? op : name_hint);
  n->attrs_ = std::move(attrs);
  return n;
}

Node* Graph::output(std::vector<Value*> values) {
  return createNode(Opcode::Output, "output", std::move(values), 0, "output");
}

std::vector<Node*> Graph::nodes() const {
  std::vector<Node*> out;
  out.reserve(nodes_.size());
  for (auto& n : nodes_) out.push_back(n.get());
  return out;
}

std::vector<Value*> Graph::inputs() const {
  std::vector<Value*> out;
  for (auto& n : nodes_)
    if (n->opcode() == Opcode::Input) out.push_back(n->output());
  return out;
}

Node* Graph::outputNode() const {
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it)
    if ((*it)->opcode() == Opcode::Output) return it->get();
  return nullptr;
}

std::vector<Value*> Graph::outputs() const {
  Node* out = outputNode();
  return out ? out->inputs() : std::vector<Value*>{};
}

Node* Graph::findNode(const std::string& name) const {
  auto it = names_.find(name);
  return it == names_.end() ? nullptr : it->second;
}

void Graph::erase(Node* n) {
  if (n->graph_ != this) throw RuntimeFailure("erase: node '" + n->name() + "' belongs to another graph");
  std::vector<std::string> users;
  for (Value* v : n->outputs())
    for (Node* u : v->users()) users.push_back("'" + u->name() + "'");
  if (!users.empty()) {
    std::string list;
    for (size_t i = 0; i < users.size(); ++i) list += (i ? ", " : "") + users[i];
    throw RuntimeFailure("erase: node '" + n->name() + "' still has " + std::to_string(users.size()) +
                         " user(s): " + list);
  }
  for (size_t i = 0; i < n->inputs_.size(); ++i) n->unlinkInput(i);
  if (insert_before_ == n) insert_before_ = nullptr;
  names_.erase(n->name_);
  nodes_.erase(n->position_);
  touch();
}

std::vector<Node*> Graph::replaceAllUsesWith(Value* from, Value* to, const std::function<bool(Node*)>& filter) {
  std::vector<Node*> changed;
  std::vector<Use> uses = from->uses();  // copy: setInput edits the list
  for (const Use& u : uses) {
    if (filter && !filter(u.user)) continue;
    u.user->setInput(u.input_index, to);
    if (std::find(changed.begin(), changed.end(), u.user) == changed.end()) changed.push_back(u.user);
  }
  return changed;
}

std::unique_ptr<Graph> Graph::clone() const {
  auto g = std::make_unique<Graph>();
  std::unordered_map<const Value*, Value*> map;
  for (auto& n : nodes_) {
    std::vector<Value*> ins;
    for (Value* v : n->inputs_) ins.push_back(map.at(v));
    Node* c = g->createNode(n->opcode_, n->target_, std::move(ins), n->outputs_.size(), n->name_);
    c->attrs_ = n->attrs_;
    c->module_type_ = n->module_type_;
    c->scope_ = n->scope_;
    c->meta_ = n->meta_;
    for (size_t i = 0; i < n->outputs_.size(); ++i) {
      c->outputs_[i]->shape_ = n->outputs_[i]->shape_;
      map[n->outputs_[i].get()] = c->outputs_[i].get();
    }
  }
  return g;
}

}  // namespace edgeopt::ir
