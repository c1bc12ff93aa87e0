#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/passes/pattern.h>

#include <algorithm>

namespace edgeopt {

using ir::Node;
using ir::Opcode;
using ir::Value;

// ---- Pattern ---------------------------------------------------------------

int Pattern::add(Entry e) {
  entries_.push_back(std::move(e));
  return static_cast<int>(entries_.size()) - 1;
}

Pattern::Ref Pattern::any() { return {add({Kind::Any})}; }
Pattern::Ref Pattern::param() { return {add({Kind::Param})}; }

Pattern::OpBuilder Pattern::op(const std::string& target, std::vector<Ref> inputs) {
  return oneOf({target}, std::move(inputs));
}

Pattern::OpBuilder Pattern::oneOf(std::vector<std::string> targets, std::vector<Ref> inputs) {
  if (targets.empty()) throw RuntimeFailure("Pattern::oneOf: no targets");
  Entry e{Kind::Op, std::move(targets)};
  for (Ref r : inputs) {
    if (r.id < 0 || r.id >= static_cast<int>(entries_.size()))
      throw RuntimeFailure("Pattern::op(" + e.targets[0] + "): an input Ref is not from this pattern");
    e.inputs.push_back(r.id);
  }
  return OpBuilder(this, add(std::move(e)));
}

Pattern::OpBuilder& Pattern::OpBuilder::where(Predicate p) {
  pattern_->entries_[id_].predicate = std::move(p);
  return *this;
}
Pattern::OpBuilder& Pattern::OpBuilder::allowExtraInputs() {
  pattern_->entries_[id_].extra_inputs = true;
  return *this;
}
Pattern::OpBuilder& Pattern::OpBuilder::commutative() {
  pattern_->entries_[id_].commutative = true;
  return *this;
}
Pattern::OpBuilder& Pattern::OpBuilder::escapes() {
  pattern_->entries_[id_].escapes = true;
  return *this;
}
Pattern::Ref Pattern::OpBuilder::output(size_t index) const {
  if (index == 0) return {id_};
  Entry e{Kind::Output};
  e.op = id_;
  e.output_index = index;
  return {pattern_->add(std::move(e))};
}

Node* Pattern::Match::root() const { return nodes.at(static_cast<size_t>(root_id)); }

const std::string& Pattern::rootTarget() const {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
    if (it->kind == Kind::Op) return it->targets[0];
  throw RuntimeFailure("Pattern has no op");
}

bool Pattern::matchValue(int id, Value* v, Match& m) const {
  const Entry& e = entries_[static_cast<size_t>(id)];
  if (m.values[static_cast<size_t>(id)]) return m.values[static_cast<size_t>(id)] == v;
  switch (e.kind) {
    case Kind::Any:
      break;
    case Kind::Param:
      if (v->producer()->opcode() != Opcode::Param) return false;
      break;
    case Kind::Op:
      if (v->outputIndex() != 0 || !matchOp(id, v->producer(), m)) return false;
      break;
    case Kind::Output:
      if (v->outputIndex() != e.output_index || !matchOp(e.op, v->producer(), m)) return false;
      break;
  }
  m.values[static_cast<size_t>(id)] = v;
  return true;
}

bool Pattern::matchInputs(const Entry& e, Node* n, Match& m, bool swapped) const {
  for (size_t i = 0; i < e.inputs.size(); ++i) {
    size_t j = swapped && i < 2 ? 1 - i : i;
    if (!matchValue(e.inputs[i], n->input(j), m)) return false;
  }
  return true;
}

bool Pattern::matchOp(int id, Node* n, Match& m) const {
  const Entry& e = entries_[static_cast<size_t>(id)];
  Node*& bound = m.nodes[static_cast<size_t>(id)];
  if (bound) return bound == n;
  if (n->opcode() != Opcode::Call || std::find(e.targets.begin(), e.targets.end(), n->target()) == e.targets.end())
    return false;
  if (n->numInputs() < e.inputs.size() || (!e.extra_inputs && n->numInputs() != e.inputs.size())) return false;
  if (e.predicate && !e.predicate(*n)) return false;
  bound = n;
  Match saved = m;
  if (matchInputs(e, n, m, false)) return true;
  if (e.commutative && e.inputs.size() >= 2) {
    m = saved;
    if (matchInputs(e, n, m, true)) return true;
  }
  m = saved;
  m.nodes[static_cast<size_t>(id)] = nullptr;
  return false;
}

bool Pattern::usesStayInside(const Match& m) const {
  for (size_t id = 0; id < entries_.size(); ++id) {
    const Entry& e = entries_[id];
    Node* n = m.nodes[id];
    if (e.kind != Kind::Op || !n || static_cast<int>(id) == m.root_id || e.escapes) continue;
    for (Value* out : n->outputs())
      for (Node* user : out->users())
        if (std::find(m.nodes.begin(), m.nodes.end(), user) == m.nodes.end()) return false;
  }
  return true;
}

std::optional<Pattern::Match> Pattern::match(Node* root) const {
  int root_id = -1;
  for (int i = static_cast<int>(entries_.size()) - 1; i >= 0 && root_id < 0; --i)
    if (entries_[static_cast<size_t>(i)].kind == Kind::Op) root_id = i;
  if (root_id < 0) return std::nullopt;
  Match m;
  m.nodes.assign(entries_.size(), nullptr);
  m.values.assign(entries_.size(), nullptr);
  m.root_id = root_id;
  if (!matchOp(root_id, root, m)) return std::nullopt;
  m.values[static_cast<size_t>(root_id)] = root->numOutputs() ? root->output(0) : nullptr;
  if (!usesStayInside(m)) return std::nullopt;
  return m;
}

// ---- Driver ----------------------------------------------------------------

bool applyPatternsGreedily(GraphModule& module, const std::vector<std::unique_ptr<RewritePattern>>& patterns,
                           const GreedyRewriteConfig& config) {
  Rewriter rewriter(module);
  return applyPatternsGreedily(rewriter, patterns, config);
}

bool applyPatternsGreedily(Rewriter& rewriter, const std::vector<std::unique_ptr<RewritePattern>>& patterns,
                           const GreedyRewriteConfig& config) {
  GraphModule& module = rewriter.module();
  std::map<std::string, std::vector<const RewritePattern*>> by_root;
  for (const auto& p : patterns)
    if (std::find(config.disabled.begin(), config.disabled.end(), p->name()) == config.disabled.end())
      by_root[p->rootTarget()].push_back(p.get());
  for (auto& [root, list] : by_root)
    std::stable_sort(list.begin(), list.end(),
                     [](const RewritePattern* a, const RewritePattern* b) { return a->benefit() > b->benefit(); });

  bool changed = false;
  for (int sweep = 0; sweep < config.max_iterations; ++sweep) {
    bool sweep_changed = false;
    // Rewrites may erase nodes: walk a snapshot and skip nodes erased meanwhile.
    rewriter.clearErased();
    for (Node* n : module.graph().nodes()) {
      if (rewriter.wasErased(n) || n->opcode() != Opcode::Call) continue;
      if (config.root_filter && !config.root_filter(*n)) continue;
      auto it = by_root.find(n->target());
      if (it == by_root.end()) continue;
      for (const RewritePattern* p : it->second) {
        const uint64_t before = rewriter.changeToken();
        const std::string root_name = config.on_apply ? n->name() : std::string();
        const bool claimed = p->matchAndRewrite(n, rewriter);
        if (claimed != rewriter.changedSince(before))
          throw RuntimeFailure("rewrite pattern '" + p->name() + "' " +
                               (claimed ? "claimed a change it did not make" : "changed the graph but returned false"));
        if (claimed) {
          if (config.on_apply) config.on_apply(p->name(), root_name);
          sweep_changed = true;
          break;
        }
      }
    }
    changed = changed || sweep_changed;
    if (!sweep_changed) break;
  }
  return changed;
}

}  // namespace edgeopt
