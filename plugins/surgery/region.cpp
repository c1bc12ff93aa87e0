#include "region.h"

#include <edgeopt/ir/input_roles.h>
#include <edgeopt/ir/op_registry.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

namespace edgeopt::surgery {
namespace {

std::optional<int64_t> asInt(const std::string& s) {
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end) return std::nullopt;
  return v;
}

std::optional<double> asDouble(const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end) return std::nullopt;
  return v;
}

// A recipe value as a node attribute: ints, floats, bools, strings, lists.
ir::AttrValue toAttr(const ConfigNode& n, const std::string& key) {
  if (n.isScalar()) {
    if (!n.quoted()) {
      if (auto i = asInt(n.value())) return *i;
      if (auto d = asDouble(n.value())) return *d;
      if (n.value() == "true" || n.value() == "false") return n.value() == "true";
    }
    return n.value();
  }
  if (n.isSequence()) {
    ir::Ints ints;
    ir::Doubles doubles;
    bool all_int = true;
    for (const auto& item : n.items()) {
      auto d = item.isScalar() ? asDouble(item.value()) : std::nullopt;
      if (!d) throw RecipeError(item.location(), key, "expected a number in the list, got " + item.describe());
      auto i = asInt(item.value());
      all_int = all_int && i.has_value();
      doubles.push_back(*d);
      if (i) ints.push_back(*i);
    }
    return all_int ? ir::AttrValue(ints) : ir::AttrValue(doubles);
  }
  throw RecipeError(n.location(), key, "expected a value or a list of numbers, got " + n.describe());
}

const std::set<std::string> kBlocks = {"conv_bn_relu", "conv_bn", "conv"};

}  // namespace

std::vector<std::string> splitChain(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (true) {
    const size_t arrow = text.find("->", at);
    std::string piece = text.substr(at, arrow == std::string::npos ? std::string::npos : arrow - at);
    const size_t b = piece.find_first_not_of(" \t"), e = piece.find_last_not_of(" \t");
    out.push_back(b == std::string::npos ? "" : piece.substr(b, e - b + 1));
    if (arrow == std::string::npos) return out;
    at = arrow + 2;
  }
}

Replacement Replacement::parse(const ConfigNode& to, const ConfigNode* attrs, const ConfigNode* kernel_size,
                               const std::string& key, bool blocks_allowed) {
  Replacement r;
  if (!to.isScalar()) throw RecipeError(to.location(), key, "expected an op, an op chain or identity, got " + to.describe());
  r.text = to.value();
  if (r.text == "identity") return r;
  if (kBlocks.count(r.text)) {
    if (!blocks_allowed)
      throw RecipeError(to.location(), key, "block '" + r.text + "' needs a module-level rule (modules:)");
    r.kind = Kind::Block;
    r.block = r.text;
    if (kernel_size) {
      auto k = kernel_size->isScalar() ? asInt(kernel_size->value()) : std::nullopt;
      if (!k || *k < 1 || *k % 2 == 0)
        throw RecipeError(kernel_size->location(), key, "kernel_size must be an odd integer >= 1");
      r.kernel_size = *k;
    }
    return r;
  }
  r.kind = Kind::Ops;
  for (const std::string& op : splitChain(r.text)) {
    const ir::OpDef* def = ir::OpRegistry::instance().find(op);
    if (!def)
      throw RecipeError(to.location(), key, "unknown op '" + op + "' (identity, an op such as relu, an op chain 'a -> b'" +
                                                std::string(blocks_allowed ? ", or conv_bn_relu, conv_bn, conv" : "") + ")");
    if (def->min_inputs != 1)
      throw RecipeError(to.location(), key, "op '" + op + "' takes more than one input; a replacement op reads one");
    r.ops.push_back({op, {}});
  }
  if (attrs && !attrs->isNull()) {
    if (r.ops.size() != 1) throw RecipeError(attrs->location(), key, "attrs: is for a single replacement op");
    if (!attrs->isMap()) throw RecipeError(attrs->location(), key, "attrs: expected a map, got " + attrs->describe());
    for (const auto& e : attrs->entries()) r.ops[0].second.emplace(e.key, toAttr(e.value, key + ".attrs." + e.key));
  }
  return r;
}

bool closeRegion(Region& r, std::string& why) {
  std::set<const ir::Node*> inside(r.nodes.begin(), r.nodes.end());
  std::vector<ir::Value*> inputs, outputs;
  for (ir::Node* n : r.nodes) {
    for (ir::Value* in : n->inputs())
      if (!inside.count(in->producer()) && in->producer()->opcode() != ir::Opcode::Param &&
          std::find(inputs.begin(), inputs.end(), in) == inputs.end())
        inputs.push_back(in);
    for (ir::Value* out : n->outputs())
      for (const ir::Use& u : out->uses())
        if (!inside.count(u.user) && std::find(outputs.begin(), outputs.end(), out) == outputs.end()) outputs.push_back(out);
  }
  if (inputs.size() != 1 || outputs.size() != 1) {
    why = "it has " + std::to_string(inputs.size()) + " inputs and " + std::to_string(outputs.size()) +
          " outputs used outside it; a replaced region needs one of each";
    return false;
  }
  r.input = inputs[0];
  r.output = outputs[0];
  return true;
}

std::vector<Region> connectedRegions(const std::vector<ir::Node*>& nodes,
                                     const std::function<void(const std::string&, const std::string&)>& fail) {
  std::map<const ir::Node*, size_t> index;
  for (size_t i = 0; i < nodes.size(); ++i) index[nodes[i]] = i;
  std::vector<size_t> parent(nodes.size());
  for (size_t i = 0; i < parent.size(); ++i) parent[i] = i;
  auto find = [&](size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  for (size_t i = 0; i < nodes.size(); ++i)
    for (ir::Value* in : nodes[i]->inputs()) {
      auto it = index.find(in->producer());
      if (it != index.end()) parent[find(i)] = find(it->second);
    }
  std::map<size_t, Region> by_root;
  std::vector<size_t> order;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const size_t root = find(i);
    if (!by_root.count(root)) order.push_back(root);
    Region& r = by_root[root];
    if (r.nodes.empty()) r.name = nodes[i]->name();
    r.nodes.push_back(nodes[i]);
  }
  std::vector<Region> out;
  for (size_t root : order) {
    Region& r = by_root[root];
    std::string why;
    if (!closeRegion(r, why)) fail(r.name, why);
    out.push_back(std::move(r));
  }
  return out;
}

void replaceRegion(Rewriter& rw, const Region& r, const Replacement& with) {
  ir::Node* last = r.output->producer();
  const std::string last_name = last->name();
  // New nodes live in the modules enclosing the region (not in a replaced
  // leaf or module); a block takes the region's own path.
  ir::Scope scope;
  for (const auto& e : last->scope())
    if (r.name.rfind(e.path + ".", 0) == 0) scope.push_back(e);
  const std::string relative = scope.empty() ? r.name : r.name.substr(scope.back().path.size() + 1);
  ir::Value* y = r.input;
  if (with.kind == Replacement::Kind::Ops) {
    auto guard = rw.insertingBefore(last);
    for (const auto& [op, attrs] : with.ops) {
      ir::Node* n = rw.createOp(op, {y}, attrs, r.name + "." + op);
      n->setScope(scope);
      y = n->output();
    }
  } else if (with.kind == Replacement::Kind::Block) {
    const ir::Shape* in = knownShape(r.input);
    const ir::Shape* out = knownShape(r.output);
    if (!in || !out || in->size() != 4 || out->size() != 4)
      throw RuntimeFailure("surgery: region '" + r.name + "' has no known NCHW input/output shapes for block '" +
                           with.block + "'");
    const int64_t stride = std::max<int64_t>(1, (*in)[2] / std::max<int64_t>(1, (*out)[2]));
    const int64_t k = with.kernel_size;
    auto guard = rw.insertingBefore(last);
    ir::ModelBuilder b(rw.module(), scope);
    auto s = b.module(relative, "Sequential");
    const bool bn = with.block != "conv";
    y = b.conv2d("0", y, ir::Conv2dOptions((*in)[1], (*out)[1], k).stride(stride).padding(k / 2).bias(!bn));
    if (bn) y = b.batchNorm2d("1", y, (*out)[1]);
    if (with.block == "conv_bn_relu") y = b.relu("2", y);
  }
  rw.replaceAllUsesWith(r.output, y);
  for (auto it = r.nodes.rbegin(); it != r.nodes.rend(); ++it) rw.eraseDeadChain(*it);
  // A single op keeps the replaced node's name, so reports and selectors
  // written against the original model still find it.
  if (with.kind == Replacement::Kind::Ops && !rw.graph().findNode(last_name)) rw.renameNode(y->producer(), last_name);
}

bool attrMatches(const ir::AttrValue& value, const ConfigNode& want) {
  const auto& v = value.variant();
  auto scalarEq = [](double have, const ConfigNode& w) {
    auto d = w.isScalar() ? asDouble(w.value()) : std::nullopt;
    return d && *d == have;
  };
  if (auto* i = std::get_if<int64_t>(&v)) return scalarEq(static_cast<double>(*i), want);
  if (auto* d = std::get_if<double>(&v)) return scalarEq(*d, want);
  if (auto* b = std::get_if<bool>(&v)) return want.isScalar() && want.value() == (*b ? "true" : "false");
  if (auto* s = std::get_if<std::string>(&v)) return want.isScalar() && want.value() == *s;
  std::vector<double> have;
  if (auto* is = std::get_if<ir::Ints>(&v)) have.assign(is->begin(), is->end());
  if (auto* ds = std::get_if<ir::Doubles>(&v)) have = *ds;
  if (want.isScalar())
    return !have.empty() && std::all_of(have.begin(), have.end(), [&](double h) { return scalarEq(h, want); });
  if (!want.isSequence() || want.items().size() != have.size()) return false;
  for (size_t i = 0; i < have.size(); ++i)
    if (!scalarEq(have[i], want.items()[i])) return false;
  return true;
}

}  // namespace edgeopt::surgery
