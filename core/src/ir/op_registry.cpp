// The OpRegistry and the helpers the op families share.
#include "ops_common.h"

namespace edgeopt::ir {

const char* toString(ChannelFlow::Kind kind) {
  switch (kind) {
    case ChannelFlow::Kind::Barrier:
      return "barrier";
    case ChannelFlow::Kind::Same:
      return "same";
    case ChannelFlow::Kind::Elementwise:
      return "elementwise";
    case ChannelFlow::Kind::Producer:
      return "producer";
    case ChannelFlow::Kind::Concat:
      return "concat";
    case ChannelFlow::Kind::Split:
      return "split";
    case ChannelFlow::Kind::Flatten:
      return "flatten";
  }
  return "?";
}

// Explicit registration (no static initialisers): the families are listed
// here once, and the registry is complete before its first lookup.
OpRegistry& OpRegistry::instance() {
  static OpRegistry* registry = [] {
    auto* r = new OpRegistry();  // leaked on purpose: plugins may use it at exit
    ops::registerConvOps(*r);
    ops::registerNormOps(*r);
    ops::registerActivationOps(*r);
    ops::registerArithmeticOps(*r);
    ops::registerShapeOps(*r);
    ops::registerPoolOps(*r);
    ops::registerTensorOps(*r);
    ops::registerResizeOps(*r);
    ops::registerConvTransposeOps(*r);
    ops::registerNormExtraOps(*r);
    ops::registerRegularizationOps(*r);
    ops::registerQuantOps(*r);
    ops::registerWindowOps(*r);
    ops::registerMathOps(*r);
    ops::registerScatterOps(*r);
    return r;
  }();
  return *registry;
}

void OpRegistry::add(OpDef def) {
  if (def.name.empty() || !def.kernel || !def.shape)
    throw RuntimeFailure("op registry: op '" + def.name + "' needs a name, a kernel and a shape function");
  if (ops_.count(def.name)) throw RuntimeFailure("op registry: op '" + def.name + "' is registered twice");
  std::string name = def.name;
  ops_.emplace(name, std::move(def));
}

const OpDef* OpRegistry::find(const std::string& name) const {
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : &it->second;
}

const OpDef& OpRegistry::get(const std::string& name) const {
  if (const OpDef* d = find(name)) return *d;
  std::string known;
  for (auto& [n, _] : ops_) known += (known.empty() ? "" : ", ") + n;
  throw RuntimeFailure("unknown op '" + name + "' (known: " + known + ")");
}

std::vector<std::string> OpRegistry::names() const {
  std::vector<std::string> out;
  for (auto& [n, _] : ops_) out.push_back(n);
  return out;
}

namespace ops {

void fail(const Node& n, const std::string& message) {
  throw RuntimeFailure("node '" + n.name() + "' (" + n.target() + "): " + message);
}

void check(const Node& n, bool ok, const std::string& message) {
  if (!ok) fail(n, message);
}

Ints expand(const Node& n, const std::string& name, size_t rank, int64_t fallback) {
  if (!n.hasAttr(name)) return Ints(rank, fallback);
  const auto& v = n.attr(name).variant();
  if (auto* i = std::get_if<int64_t>(&v)) return Ints(rank, *i);
  Ints list = n.get<Ints>(name);
  if (list.size() == 1) return Ints(rank, list[0]);
  check(n, list.size() == rank, "attribute '" + name + "' needs " + std::to_string(rank) + " values");
  return list;
}

void failAttribute(const Node& n, const std::string& message) {
  throw InputError("node '" + n.name() + "' (" + n.target() + "): " + message);
}

Ints expandAtLeast(const Node& n, const std::string& name, size_t rank, int64_t fallback, int64_t min) {
  Ints values = expand(n, name, rank, fallback);
  for (int64_t v : values)
    if (v < min)
      failAttribute(n, "attribute '" + name + "' must be at least " + std::to_string(min) + ", got " +
                           std::to_string(v));
  return values;
}

int64_t normalizeDim(const Node& n, int64_t dim, size_t rank) {
  int64_t r = static_cast<int64_t>(rank);
  int64_t d = dim < 0 ? dim + r : dim;
  check(n, d >= 0 && d < r, "dim " + std::to_string(dim) + " out of range for rank " + std::to_string(rank));
  return d;
}

int64_t numel(const Shape& s) {
  int64_t out = 1;
  for (int64_t d : s) out *= d;
  return out;
}

std::vector<Shape> sameAsFirstInput(const Node&, const std::vector<Shape>& in) { return {in.at(0)}; }

std::vector<Shape> broadcastShapes(const Node& n, const std::vector<Shape>& in) {
  if (in.size() == 1) return {in[0]};
  const Shape& a = in[0];
  const Shape& b = in[1];
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    check(n, da == db || da == 1 || db == 1,
          "shapes " + formatShape(a) + " and " + formatShape(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return {out};
}

}  // namespace ops
}  // namespace edgeopt::ir
