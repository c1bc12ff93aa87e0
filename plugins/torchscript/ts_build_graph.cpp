// Phase 2: the scratch graph's live nodes copied into the GraphModule's graph
// under their final names, scopes and module types.
#include "ts_import_internal.h"

namespace edgeopt::torchscript::detail {

std::shared_ptr<GraphModule> Importer::build(const std::vector<ir::Value*>& outputs) {
  // Live nodes: those the outputs depend on.
  std::unordered_set<const ir::Node*> live;
  std::vector<const ir::Node*> work;
  for (ir::Value* v : outputs) work.push_back(v->producer());
  while (!work.empty()) {
    const ir::Node* n = work.back();
    work.pop_back();
    if (!live.insert(n).second) continue;
    for (ir::Value* v : n->inputs()) work.push_back(v->producer());
  }
  // A frame is a leaf call if it emitted exactly one live op and no frame below it emitted any.
  std::vector<int> direct(frames_.size(), 0);
  std::vector<bool> below(frames_.size(), false);
  for (ir::Node* n : scratch_.nodes())
    if (n->opcode() == ir::Opcode::Call && live.count(n)) ++direct[node_frame_.at(n)];
  for (size_t f = 0; f < frames_.size(); ++f)
    if (direct[f] > 0)
      for (int p = frames_[f].parent; p >= 0; p = frames_[p].parent) below[p] = true;

  ir::Graph& g = gm_->graph();
  std::unordered_map<const ir::Value*, ir::Value*> map;
  bool first_input = true;
  for (ir::Node* n : scratch_.nodes()) {
    if (n->opcode() == ir::Opcode::Input) {
      ir::Value* v = g.input(n->target());
      if (first_input && opt_.input_shape) v->setShape(*opt_.input_shape);
      first_input = false;
      map[n->output()] = v;
      continue;
    }
    if (!live.count(n) || n->opcode() == ir::Opcode::Output) continue;
    if (n->opcode() == ir::Opcode::Param) {
      ir::Value* v = g.param(n->target());
      auto dot = n->target().rfind('.');
      std::string owner = dot == std::string::npos ? "" : n->target().substr(0, dot);
      v->producer()->setScope(scopeOf(owner));
      auto it = module_types_.find(owner);
      v->producer()->setModuleType(owner.empty() || it == module_types_.end() ? "" : it->second);
      map[n->output()] = v;
      continue;
    }
    const int f = node_frame_.at(n);
    const Frame& fr = frames_[f];
    const bool leaf = f != 0 && direct[f] == 1 && !below[f];
    std::string name = leaf ? fr.path : join(fr.path, n->target());
    std::vector<ir::Value*> ins;
    for (ir::Value* v : n->inputs()) ins.push_back(map.at(v));
    ir::Node* m = g.call(n->target(), ins, n->attrs(), name, n->numOutputs());
    m->setScope(scopeOf(fr.path));
    m->setModuleType(leaf ? fr.type : "");
    for (size_t i = 0; i < n->numOutputs(); ++i) map[n->output(i)] = m->output(i);
  }
  std::vector<ir::Value*> outs;
  for (ir::Value* v : outputs) outs.push_back(map.at(v));
  g.output(outs);
  return gm_;
}

}  // namespace edgeopt::torchscript::detail
