// Graph::lint (the verifier) and the printed form every IR error appends.
#include <edgeopt/error.h>
#include <edgeopt/ir/graph.h>
#include <edgeopt/ir/op_registry.h>

#include <algorithm>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace edgeopt::ir {

std::string Node::format() const {
  std::ostringstream s;
  if (opcode_ != Opcode::Output) {
    for (size_t i = 0; i < outputs_.size(); ++i) s << (i ? ", " : "") << '%' << outputs_[i]->displayName();
    s << " = ";
  }
  switch (opcode_) {
    case Opcode::Input: s << "input[" << target_ << "]"; break;
    case Opcode::Param: s << "param[" << target_ << "]"; break;
    case Opcode::Call: s << target_; break;
    case Opcode::Output: s << "return"; break;
  }
  if (opcode_ == Opcode::Call || opcode_ == Opcode::Output) {
    s << '(';
    for (size_t i = 0; i < inputs_.size(); ++i)
      s << (i ? ", " : "") << '%' << (inputs_[i] ? inputs_[i]->displayName() : std::string("<null>"));
    s << ')';
  }
  if (!attrs_.empty()) {
    s << " {";
    bool first = true;
    for (auto& [k, v] : attrs_) {
      s << (first ? "" : ", ") << k << '=' << v.str();
      first = false;
    }
    s << '}';
  }
  if (opcode_ != Opcode::Output && !outputs_.empty() && outputs_[0]->shape())
    s << " : " << formatShape(*outputs_[0]->shape());
  if (!module_type_.empty()) s << "  # " << modulePath() << ": " << module_type_;
  return s.str();
}

std::string Graph::print() const {
  std::ostringstream s;
  s << "graph(";
  auto ins = inputs();
  for (size_t i = 0; i < ins.size(); ++i) s << (i ? ", " : "") << '%' << ins[i]->displayName();
  s << "):\n";
  for (auto& n : nodes_)
    if (n->opcode() != Opcode::Input) s << "  " << n->format() << '\n';
  return s.str();
}

void Graph::failLint(const Node* n, const std::string& message) const {
  throw RuntimeFailure("lint: node '" + (n ? n->name() : std::string("?")) + "': " + message + "\n" + print());
}

void Graph::lint() const {
  std::unordered_set<const Value*> defined;
  std::unordered_set<std::string> names;
  const auto& ops = OpRegistry::instance();
  size_t index = 0;
  for (auto& holder : nodes_) {
    const Node* n = holder.get();
    ++index;
    if (n->graph_ != this) failLint(n, "belongs to another graph");
    if (!isLegalOpcode(static_cast<int>(n->opcode()))) failLint(n, "illegal opcode");
    if (!names.insert(n->name()).second) failLint(n, "duplicate node name");
    auto named = names_.find(n->name());
    if (named == names_.end() || named->second != n) failLint(n, "name table does not point at this node");
    for (size_t i = 0; i < n->inputs_.size(); ++i) {
      const Value* v = n->inputs_[i];
      if (!v) failLint(n, "input " + std::to_string(i) + " is null");
      if (v->producer()->graph_ != this)
        failLint(n, "input " + std::to_string(i) + " (%" + v->displayName() + ") belongs to another graph");
      if (!defined.count(v))
        failLint(n, "input " + std::to_string(i) + " (%" + v->displayName() +
                        ") is used before it is defined (topological order)");
      auto& uses = v->uses_;
      if (std::none_of(uses.begin(), uses.end(), [&](const Use& u) { return u.user == n && u.input_index == i; }))
        failLint(n, "use list of %" + v->displayName() + " misses this node");
    }
    switch (n->opcode()) {
      case Opcode::Input:
      case Opcode::Param:
        if (!n->inputs_.empty()) failLint(n, std::string(toString(n->opcode())) + " node has inputs");
        if (n->outputs_.size() != 1) failLint(n, "must have exactly one output");
        break;
      case Opcode::Call: {
        const OpDef* def = ops.find(n->target());
        if (!def) failLint(n, "unknown op '" + n->target() + "'");
        if (n->inputs_.size() < def->min_inputs || n->inputs_.size() > def->max_inputs)
          failLint(n, "op '" + n->target() + "' takes " + std::to_string(def->min_inputs) + ".." +
                          std::to_string(def->max_inputs) + " inputs, got " + std::to_string(n->inputs_.size()));
        if (n->outputs_.empty()) failLint(n, "call node has no outputs");
        break;
      }
      case Opcode::Output:
        if (index != nodes_.size()) failLint(n, "output node is not the last node");
        break;
    }
    for (auto& out : n->outputs_) {
      if (out->producer_ != n) failLint(n, "output value points at another producer");
      for (const Use& u : out->uses_)
        if (u.input_index >= u.user->inputs_.size() || u.user->inputs_[u.input_index] != out.get())
          failLint(n, "use list of %" + out->displayName() + " names '" + u.user->name() +
                          "', which does not use it");
      defined.insert(out.get());
    }
  }
  if (names_.size() != nodes_.size()) failLint(nullptr, "name table has stale entries");
  if (!outputNode()) failLint(nodes_.empty() ? nullptr : nodes_.back().get(), "graph has no output node");
}

}  // namespace edgeopt::ir
