// Channel dependency groups (see edgeopt/prune/channel_groups.h).
//
// Every value with a channel dimension gets a layout: its channels as a
// sequence of segments, each a run of channels of one "space" (a set of
// channels born together: a conv's outputs, a graph input's). A concat's
// layout is its inputs' segments in order, a flatten's stretches each
// segment by H*W, a split hands each output a range of segments. Ops that
// tie channels (an add, a depthwise conv) unite spaces with union-find; ops
// that mix channels in ways we don't follow block the spaces they touch. A
// group is a united set of spaces; its slices are every tensor dimension
// that an op indexes with those channels.
#include <edgeopt/prune/channel_groups.h>

#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/input_roles.h>
#include <edgeopt/ir/op_registry.h>
#include <edgeopt/ir/shape_prop.h>

#include <ATen/ATen.h>

#include <map>
#include <numeric>
#include <set>
#include <unordered_map>

namespace edgeopt::prune {
namespace {

using ir::ChannelFlow;
using Kind = ir::ChannelFlow::Kind;

// A mask multiply the prune stage puts between a weight and its reader:
// mul(Param weight, Param buffer).
bool isMaskedParam(const GraphModule& m, const ir::Node* p) {
  return p->opcode() == ir::Opcode::Call && p->target() == "mul" && p->numInputs() == 2 &&
         p->input(0)->producer()->opcode() == ir::Opcode::Param &&
         p->input(1)->producer()->opcode() == ir::Opcode::Param && m.isBuffer(p->input(1)->producer()->target());
}

// The module tensor a node input reads, through a mask multiply; "" if none.
std::string tensorName(const GraphModule& m, const ir::Value* v) {
  const ir::Node* p = v->producer();
  if (p->opcode() == ir::Opcode::Param) return p->target();
  if (isMaskedParam(m, p)) return p->input(0)->producer()->target();
  return "";
}

struct Segment {
  int space;
  int64_t length;  // channels
  int64_t span;    // entries per channel along the dim (H*W after a flatten)
};
using Layout = std::vector<Segment>;

int64_t extent(const Layout& l) {
  int64_t n = 0;
  for (const Segment& s : l) n += s.length * s.span;
  return n;
}

struct Space {
  int parent;
  int64_t size;
  std::string blocked;  // why the space can't be pruned ("" = it can)
  std::vector<ChannelSlice> slices;
  std::vector<std::string> producers;
};

class Analysis {
 public:
  explicit Analysis(const GraphModule& m) : module_(m) {}

  ChannelDependencies run() {
    // Who reads each module tensor (through its mask, if any): a weight
    // shared by several nodes (a submodule called twice) would be sliced by
    // each reader's groups with different masks, so its groups are blocked.
    for (ir::Node* n : module_.graph().nodes()) {
      if (n->opcode() == ir::Opcode::Param || isMaskedParam(module_, n)) continue;
      for (ir::Value* v : n->inputs())
        if (std::string t = tensorName(module_, v); !t.empty()) readers_[t].insert(n->name());
    }
    for (ir::Node* n : module_.graph().nodes()) visit(n);
    return collect();
  }

 private:
  int newSpace(int64_t size, std::string blocked = "") {
    spaces_.push_back({static_cast<int>(spaces_.size()), size, std::move(blocked), {}, {}});
    return static_cast<int>(spaces_.size()) - 1;
  }
  int find(int s) {
    while (spaces_[s].parent != s) s = spaces_[s].parent = spaces_[spaces_[s].parent].parent;
    return s;
  }
  void unite(int a, int b) {
    a = find(a), b = find(b);
    if (a == b) return;
    if (b < a) std::swap(a, b);  // the earlier space names the group
    spaces_[b].parent = a;
    Space &to = spaces_[a], &from = spaces_[b];
    if (to.blocked.empty()) to.blocked = from.blocked;
    to.slices.insert(to.slices.end(), from.slices.begin(), from.slices.end());
    to.producers.insert(to.producers.end(), from.producers.begin(), from.producers.end());
  }
  void block(const Layout& l, const std::string& why) {
    for (const Segment& s : l) {
      Space& sp = spaces_[find(s.space)];
      if (sp.blocked.empty()) sp.blocked = why;
    }
  }
  void blockInputs(const ir::Node* n, const std::string& why) {
    for (ir::Value* v : n->inputs())
      if (auto it = layouts_.find(v); it != layouts_.end()) block(it->second, why);
  }
  static std::string at(const ir::Node* n) { return "'" + n->name() + "' (" + n->target() + ")"; }

  // A fresh, blocked space for every output with channels.
  void opaqueOutputs(const ir::Node* n, const std::string& why) {
    for (ir::Value* v : n->outputs())
      if (v->shape() && v->shape()->size() >= 2) layouts_[v] = {{newSpace((*v->shape())[1], why), (*v->shape())[1], 1}};
  }

  void linkLayouts(const Layout& a, const Layout& b, const ir::Node* n) {
    bool same = a.size() == b.size();
    for (size_t i = 0; same && i < a.size(); ++i) same = a[i].length == b[i].length && a[i].span == b[i].span;
    if (!same) {
      block(a, "channels joined out of alignment at " + at(n));
      block(b, "channels joined out of alignment at " + at(n));
      return;
    }
    for (size_t i = 0; i < a.size(); ++i) unite(a[i].space, b[i].space);
  }

  // The module tensor behind a node input: a Param, or a weight read
  // through the prune stage's mask (mul(weight, mask buffer)), whose mask
  // is then sliced with it. Empty when it is anything else.
  std::vector<std::string> tensorsOf(const ir::Value* v) {
    const ir::Node* p = v->producer();
    if (p->opcode() == ir::Opcode::Param) return {p->target()};
    if (isMaskedParam(module_, p)) return {p->input(0)->producer()->target(), p->input(1)->producer()->target()};
    return {};
  }

  // Records that `dim` of input `input` of `n` is indexed by `layout`.
  // Returns false when the input is not a module tensor; a tensor other
  // nodes read too blocks `layout` instead.
  bool addSlices(const ir::Node* n, size_t input, int64_t dim, const Layout& layout, bool reads) {
    if (input >= n->numInputs()) return true;
    std::vector<std::string> tensors = tensorsOf(n->input(input));
    if (tensors.empty()) return false;
    for (const std::string& t : tensors)
      if (auto r = readers_.find(t); r != readers_.end() && r->second.size() > 1) {
        std::string names;
        for (const std::string& name : r->second) names += (names.empty() ? "'" : ", '") + name + "'";
        block(layout, "'" + t + "' is read by " + std::to_string(r->second.size()) + " nodes (" + names + ")");
        return true;
      }
    for (const std::string& t : tensors) {
      const at::Tensor& value = module_.tensor(t);
      if (dim >= value.dim()) return false;
      if (value.size(dim) == 1 && extent(layout) > 1) continue;  // a broadcast mask
      if (value.size(dim) != extent(layout)) return false;
      int64_t offset = 0;
      for (const Segment& s : layout) {
        spaces_[find(s.space)].slices.push_back({t, dim, offset, s.span, reads, n->name()});
        offset += s.length * s.span;
      }
    }
    return true;
  }

  const Layout* layoutOf(const ir::Value* v) const {
    auto it = layouts_.find(v);
    return it == layouts_.end() ? nullptr : &it->second;
  }

  void visit(ir::Node* n) {
    switch (n->opcode()) {
      case ir::Opcode::Input:
        opaqueOutputs(n, "graph input '" + n->name() + "'");
        return;
      case ir::Opcode::Param:
        return;  // tensors are sliced by the ops that read them
      case ir::Opcode::Output:
        blockInputs(n, "graph output");
        return;
      case ir::Opcode::Call:
        if (isMaskedParam(module_, n)) return;  // a weight, read through tensorsOf
        break;
    }
    std::vector<ir::Shape> in;
    for (ir::Value* v : n->inputs()) {
      if (!v->shape()) throw RuntimeFailure("channel analysis needs propagated shapes; " + at(n) + " has none");
      in.push_back(*v->shape());
    }
    ChannelFlow flow = ir::OpRegistry::instance().get(n->target()).channelFlow(*n, in);
    const Layout* x = n->numInputs() ? layoutOf(n->input(0)) : nullptr;
    auto barrier = [&](const std::string& why) {
      blockInputs(n, why);
      opaqueOutputs(n, why);
    };
    // Inputs after the first must not carry channels, except where the flow joins them.
    auto othersCarryChannels = [&] {
      for (size_t i = 1; i < n->numInputs(); ++i)
        if (layoutOf(n->input(i))) return true;
      return false;
    };
    switch (flow.kind) {
      case Kind::Barrier:
        barrier("barrier at " + at(n));
        return;
      case Kind::Same: {
        if (!x || othersCarryChannels()) return barrier("unfollowed channels at " + at(n));
        for (const ir::TensorDim& p : flow.params)
          if (!addSlices(n, p.input, p.dim, *x, false)) return barrier("per-channel input of " + at(n) + " is computed");
        for (ir::Value* v : n->outputs())
          if (!v->shape() || v->shape()->size() < 2 || (*v->shape())[1] != extent(*x))
            return barrier("channels reshaped at " + at(n));
        for (ir::Value* v : n->outputs()) layouts_[v] = *x;
        return;
      }
      case Kind::Producer: {
        if (!x || othersCarryChannels()) return barrier("unfollowed channels at " + at(n));
        const ir::Shape& out = *n->output()->shape();
        if (flow.depthwise) {
          for (const ir::TensorDim& p : flow.params)
            if (!addSlices(n, p.input, p.dim, *x, false)) return barrier("weight of " + at(n) + " is computed");
          layouts_[n->output()] = *x;
          depthwise_.push_back(n->name());
          return;
        }
        for (const ir::TensorDim& p : flow.in_params)
          if (!addSlices(n, p.input, p.dim, *x, true)) return barrier("weight of " + at(n) + " is computed");
        int s = newSpace(out[1]);
        Layout produced{{s, out[1], 1}};
        for (const ir::TensorDim& p : flow.params)
          if (!addSlices(n, p.input, p.dim, produced, false)) {
            block(produced, "weight of " + at(n) + " is computed");
            block(*x, "weight of " + at(n) + " is computed");
          }
        spaces_[s].producers.push_back(n->name());
        layouts_[n->output()] = produced;
        return;
      }
      case Kind::Elementwise: {
        const ir::Shape& out = *n->output()->shape();
        if (out.size() < 2) return barrier("channels reduced at " + at(n));
        // Inputs right-aligned against the output (broadcasting); one whose
        // channel extent is 1 (or that has no channel dim) is broadcast.
        auto channelDim = [&](size_t i) { return 1 - static_cast<int64_t>(out.size() - in[i].size()); };
        auto carries = [&](size_t i) { return out[1] > 1 && channelDim(i) >= 0 && in[i][channelDim(i)] == out[1]; };
        const Layout* joined = nullptr;
        for (size_t i = 0; i < n->numInputs(); ++i) {
          const Layout* l = layoutOf(n->input(i));
          if (!l || !carries(i)) continue;
          if (channelDim(i) != 1) return barrier("channels moved at " + at(n));
          if (joined) linkLayouts(*joined, *l, n);
          else joined = l;
        }
        if (!joined) return barrier("no channels to follow at " + at(n));
        // Per-channel constants (a layer scale [1, C, 1, 1]) shrink with the channels.
        for (size_t i = 0; i < n->numInputs(); ++i)
          if (!layoutOf(n->input(i)) && carries(i) && !addSlices(n, i, channelDim(i), *joined, false))
            return barrier("per-channel input of " + at(n) + " is computed");
        layouts_[n->output()] = *joined;
        return;
      }
      case Kind::Concat: {
        Layout out;
        for (ir::Value* v : n->inputs()) {
          const Layout* l = layoutOf(v);
          if (!l) return barrier("concat of a value without channels at " + at(n));
          out.insert(out.end(), l->begin(), l->end());
        }
        layouts_[n->output()] = out;
        return;
      }
      case Kind::Split: {
        if (!x) return barrier("split of a value without channels at " + at(n));
        // Each output takes whole segments, or the cut segments are blocked.
        size_t seg = 0;
        for (ir::Value* v : n->outputs()) {
          int64_t want = (*v->shape())[1];
          Layout part;
          while (want > 0 && seg < x->size()) {
            const Segment& s = (*x)[seg];
            if (s.length * s.span > want) break;
            part.push_back(s);
            want -= s.length * s.span;
            ++seg;
          }
          if (want != 0) return barrier("split inside one conv's channels at " + at(n));
          layouts_[v] = part;
        }
        return;
      }
      case Kind::Flatten: {
        if (!x || n->output()->shape()->size() != 2) return barrier("unfollowed flatten at " + at(n));
        int64_t inner = 1;
        for (size_t d = 2; d < in[0].size(); ++d) inner *= in[0][d];
        Layout out = *x;
        for (Segment& s : out) s.span *= inner;
        layouts_[n->output()] = out;
        return;
      }
    }
  }

  ChannelDependencies collect() {
    ChannelDependencies deps;
    deps.depthwise = depthwise_;
    std::map<int, size_t> index;  // root space -> group
    for (size_t s = 0; s < spaces_.size(); ++s) {
      int root = find(static_cast<int>(s));
      if (index.count(root)) continue;
      const Space& sp = spaces_[root];
      if (sp.producers.empty() && sp.slices.empty()) continue;  // a graph input's channels, read by nothing
      ChannelGroup g;
      g.channels = sp.size;
      g.slices = sp.slices;
      g.producers = sp.producers;
      g.reason = !sp.blocked.empty() ? sp.blocked : sp.producers.empty() ? "no conv or linear makes these channels" : "";
      g.prunable = g.reason.empty();
      index[root] = deps.groups.size();
      deps.groups.push_back(std::move(g));
    }
    return deps;
  }

  const GraphModule& module_;
  std::vector<Space> spaces_;
  std::unordered_map<const ir::Value*, Layout> layouts_;
  std::vector<std::string> depthwise_;
  std::map<std::string, std::set<std::string>> readers_;  // module tensor -> the nodes reading it
};

// Entries [offset + c * span, offset + (c + 1) * span) of `dim` for every c,
// as rows [C, span * rest] of the tensor with `dim` moved first.
at::Tensor rowsOf(const at::Tensor& t, const ChannelSlice& s, int64_t channels) {
  return t.detach().movedim(s.dim, 0).narrow(0, s.offset, channels * s.span).reshape({channels, -1});
}

// The BatchNorm reading `node`'s output alone, if any: its scale folds into
// the producer's rows.
const ir::Node* followingBatchNorm(const GraphModule& m, const std::string& node) {
  const ir::Node* n = m.graph().findNode(node);
  if (!n || n->output()->users().size() != 1) return nullptr;
  const ir::Node* user = n->output()->users()[0];
  return user->target() == "batch_norm" && user->input(0) == n->output() ? user : nullptr;
}

}  // namespace

ChannelDependencies analyzeChannels(const GraphModule& module) { return Analysis(module).run(); }

at::Tensor groupImportance(const GraphModule& module, const ChannelGroup& group, ChannelCriterion criterion) {
  std::vector<at::Tensor> rows;
  for (const ChannelSlice& s : group.slices) {
    const at::Tensor& t = module.tensor(s.tensor);
    if (t.dim() < 2 || module.isBuffer(s.tensor)) continue;  // biases, BN affine, masks
    at::Tensor r = rowsOf(t, s, group.channels).to(at::kDouble);
    if (!s.reads)
      if (const ir::Node* bn = followingBatchNorm(module, s.node)) {
        const at::Tensor& gamma = module.tensor(tensorName(module, bn->input(ir::kBnWeight)));
        const at::Tensor& var = module.tensor(tensorName(module, bn->input(ir::kBnRunningVar)));
        auto scale = gamma.detach().to(at::kDouble) / (var.detach().to(at::kDouble) + bn->getOr<double>("eps", 1e-5)).sqrt();
        r = r * scale.narrow(0, s.offset, group.channels).unsqueeze(1);
      }
    rows.push_back(r);
  }
  if (rows.empty()) throw RuntimeFailure("channel group without weights has no importance");
  return channelImportance(at::cat(rows, 1), criterion);
}

void maskChannels(GraphModule& module, const ChannelGroup& group, const at::Tensor& keep) {
  at::NoGradGuard no_grad;
  for (const ChannelSlice& s : group.slices) {
    if (s.reads || module.isBuffer(s.tensor)) continue;
    const at::Tensor& t = module.tensor(s.tensor);
    at::Tensor factor = keep.to(t.dtype()).to(t.device()).repeat_interleave(s.span);
    std::vector<int64_t> view(t.dim(), 1);
    view[s.dim] = factor.numel();
    t.narrow(s.dim, s.offset, factor.numel()).mul_(factor.reshape(view));
  }
}

void removeChannels(GraphModule& module, const ChannelDependencies& deps, const std::vector<at::Tensor>& keeps) {
  if (keeps.size() != deps.groups.size())
    throw RuntimeFailure("removeChannels: " + std::to_string(keeps.size()) + " masks for " +
                         std::to_string(deps.groups.size()) + " groups");
  // One keep vector per tensor dimension, filled by every group that indexes it.
  std::map<std::pair<std::string, int64_t>, std::vector<char>> kept;
  for (size_t g = 0; g < keeps.size(); ++g) {
    if (!keeps[g].defined()) continue;
    const ChannelGroup& group = deps.groups[g];
    if (!group.prunable) throw RuntimeFailure("removeChannels: group " + std::to_string(g) + " is not prunable: " + group.reason);
    at::Tensor k = keeps[g].detach().to(at::kCPU).ne(0);
    if (k.numel() != group.channels) throw RuntimeFailure("removeChannels: mask size does not match its group");
    if (!k.any().item<bool>()) throw RuntimeFailure("removeChannels: a group would lose every channel");
    auto acc = k.accessor<bool, 1>();
    for (const ChannelSlice& s : group.slices) {
      const at::Tensor& t = module.tensor(s.tensor);
      auto& flags = kept[{s.tensor, s.dim}];
      if (flags.empty()) flags.assign(t.size(s.dim), 1);
      for (int64_t c = 0; c < group.channels; ++c)
        if (!acc[c])
          for (int64_t j = 0; j < s.span; ++j) flags[s.offset + c * s.span + j] = 0;
    }
  }
  at::NoGradGuard no_grad;
  std::map<std::string, at::Tensor> cut;
  for (auto& [key, flags] : kept) {
    auto& [name, dim] = key;
    std::vector<int64_t> idx;
    for (size_t i = 0; i < flags.size(); ++i)
      if (flags[i]) idx.push_back(static_cast<int64_t>(i));
    at::Tensor t = cut.count(name) ? cut[name] : module.tensor(name);
    cut[name] = t.index_select(dim, at::tensor(idx, at::kLong).to(t.device())).contiguous();
  }
  for (auto& [name, t] : cut) module.setTensor(name, t);
  for (const std::string& name : deps.depthwise) {
    ir::Node* n = module.graph().findNode(name);
    n->setAttr("groups", module.tensor(tensorName(module, n->input(ir::kConvWeight))).size(0));
  }
  module.graph().touch();
  std::vector<ir::Shape> input_shapes;
  for (const ir::Value* v : module.graph().inputs()) input_shapes.push_back(*v->shape());
  ir::propagateShapes(module, input_shapes);
}

}  // namespace edgeopt::prune
