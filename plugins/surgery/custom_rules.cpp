#include "custom_rules.h"

#include "region.h"

#include <edgeopt/ir/input_roles.h>
#include <edgeopt/ir/shape_prop.h>
#include <edgeopt/options.h>
#include <edgeopt/selector.h>

#include <algorithm>

namespace edgeopt::surgery {
namespace {

OptionSchema replaceSchema() {
  OptionSchema s;
  s.add("from", OptionType::Selectors).help("layers to replace (selectors); or use pattern");
  s.add("pattern", OptionType::String).help("op chain 'a{attr: v} -> b' to replace; or use from");
  s.add("to", OptionType::String).required().help("identity, an op, or an op chain 'a -> b'");
  s.add("attrs", OptionType::Map).help("attributes of a single replacement op");
  return s;
}

// from: selected nodes -> connected regions -> replacement.
class SelectorRule : public SurgeryRule {
 public:
  SelectorRule(Options options, Replacement with) : options_(std::move(options)), with_(std::move(with)) {}

  bool apply(Rewriter& rw, const SurgeryContext& ctx) const override {
    const auto nodes = resolveSelectors(rw.graph(), options_, "from");
    const auto regions = connectedRegions(nodes, [&](const std::string& region, const std::string& why) {
      options_.fail("from", "the selected layers around '" + region + "' can't be replaced: " + why);
    });
    for (const Region& r : regions) {
      replaceRegion(rw, r, with_);
      ctx.record(r.name);
    }
    return !regions.empty();
  }

 private:
  Options options_;
  Replacement with_;
};

struct ChainOp {
  std::string op;
  ConfigNode where;  // a map of attribute predicates, or null
};

std::vector<ChainOp> parseChain(const Options& o) {
  std::vector<ChainOp> chain;
  for (const std::string& piece : splitChain(o.get<std::string>("pattern"))) {
    ChainOp c;
    const size_t brace = piece.find('{');
    c.op = piece.substr(0, brace);
    while (!c.op.empty() && c.op.back() == ' ') c.op.pop_back();
    if (!ir::OpRegistry::instance().find(c.op)) o.fail("pattern", "unknown op '" + c.op + "'");
    if (brace != std::string::npos) {
      c.where = ConfigNode::parse(piece.substr(brace), o.location("pattern").str());
      if (!c.where.isMap()) o.fail("pattern", "'" + piece + "': predicates must be a map such as {groups: 1}");
    }
    chain.push_back(std::move(c));
  }
  if (chain.empty() || chain[0].op.empty()) o.fail("pattern", "expected ops such as 'hardsigmoid -> mul'");
  return chain;
}

// An attribute, or for conv2d one read off its weight.
std::optional<ir::AttrValue> attrOf(const GraphModule& m, const ir::Node& n, const std::string& key) {
  if (n.hasAttr(key)) return n.attr(key);
  if (n.target() != "conv2d" || n.numInputs() <= ir::kConvWeight) return std::nullopt;
  const at::Tensor w = paramTensor(m, n.input(ir::kConvWeight));
  if (!w.defined() || w.dim() != 4) return std::nullopt;
  if (key == "kernel_size") return ir::AttrValue(ir::Ints{w.size(2), w.size(3)});
  if (key == "out_channels") return ir::AttrValue(w.size(0));
  if (key == "in_channels") return ir::AttrValue(w.size(1) * n.getOr<int64_t>("groups", 1));
  return std::nullopt;
}

class ChainPattern : public RewritePattern {
 public:
  ChainPattern(const GraphModule& m, const std::vector<ChainOp>& chain, const Replacement& with, std::string name)
      : RewritePattern(chain.back().op), with_(with), name_(std::move(name)) {
    Pattern::Ref prev = p_.any();
    for (const ChainOp& c : chain) {
      const ir::OpDef& def = ir::OpRegistry::instance().get(c.op);
      const bool binary = def.min_inputs == 2 && (c.op == "add" || c.op == "mul");
      auto b = binary ? p_.op(c.op, {prev, p_.any()}).commutative() : p_.op(c.op, {prev}).allowExtraInputs();
      if (!c.where.isNull())
        b.where([&m, where = c.where](const ir::Node& n) {
          for (const auto& e : where.entries()) {
            auto v = attrOf(m, n, e.key);
            if (!v || !attrMatches(*v, e.value)) return false;
          }
          return true;
        });
      ops_.push_back(b);
      prev = b;
    }
  }
  std::string name() const override { return name_; }

  bool matchAndRewrite(ir::Node* root, Rewriter& rw) const override {
    auto m = p_.match(root);
    if (!m) return rw.notifyMatchFailure(*root, "chain does not match");
    Region r;
    r.name = root->name();
    for (Pattern::Ref op : ops_) r.nodes.push_back(m->node(op));
    std::string why;
    if (!closeRegion(r, why)) return rw.notifyMatchFailure(*root, why);
    replaceRegion(rw, r, with_);
    return true;
  }

 private:
  Pattern p_;
  std::vector<Pattern::Ref> ops_;
  Replacement with_;
  std::string name_;
};

class PatternRule : public SurgeryRule {
 public:
  PatternRule(Options options, std::vector<ChainOp> chain, Replacement with)
      : options_(std::move(options)), chain_(std::move(chain)), with_(std::move(with)) {}

  bool apply(Rewriter& rw, const SurgeryContext& ctx) const override {
    std::vector<std::unique_ptr<RewritePattern>> patterns;
    patterns.push_back(std::make_unique<ChainPattern>(rw.module(), chain_, with_, options_.get<std::string>("pattern")));
    int applied = 0;
    GreedyRewriteConfig config;
    config.root_filter = [&ctx](const ir::Node& n) { return ctx.inScope(n); };
    config.on_apply = [&](const std::string&, const std::string& root) {
      ++applied;
      ctx.record(root);
    };
    applyPatternsGreedily(rw, patterns, config);
    if (!applied) options_.fail("pattern", "pattern '" + options_.get<std::string>("pattern") + "' matches nothing in the model");
    return true;
  }

 private:
  Options options_;
  std::vector<ChainOp> chain_;
  Replacement with_;
};

// ---- modules: ---------------------------------------------------------------

class ModuleRule : public SurgeryRule {
 public:
  ModuleRule(Options options, Replacement with) : options_(std::move(options)), with_(std::move(with)) {
    const std::string& text = options_.get<std::string>("module");
    if (text.rfind("type:", 0) == 0) type_ = text.substr(5);
    else if (text.rfind("re:", 0) == 0) {
      try {
        regex_ = std::regex(text.substr(3));
      } catch (const std::regex_error& e) {
        options_.fail("module", "bad regex: " + std::string(e.what()));
      }
      is_regex_ = true;
    } else path_ = text;
  }

  bool apply(Rewriter& rw, const SurgeryContext& ctx) const override {
    const std::vector<std::string> instances = matchingInstances(rw.graph());
    if (instances.empty())
      options_.fail("module", "module selector '" + options_.get<std::string>("module") + "' matches no module instance");
    GraphModule& m = rw.module();
    for (const std::string& path : instances) {
      // Gathered afresh: replacing the previous instance replaced the value
      // this one may read.
      Region r;
      r.name = path;
      for (ir::Node* n : rw.graph().nodes())
        if (n->opcode() == ir::Opcode::Call && inside(*n, path)) r.nodes.push_back(n);
      std::string why;
      if (!closeRegion(r, why)) options_.fail("module", "module '" + path + "' can't be replaced: " + why);
      if (!ctx.inScope(*r.output->producer())) continue;
      if (with_.kind == Replacement::Kind::Block && !m.exampleInputShapes().empty())
        ir::propagateShapes(m, m.exampleInputShapes());
      replaceRegion(rw, r, with_);
      ctx.record(path);
    }
    return true;
  }

 private:
  // Outermost module paths the selector matches, in graph order.
  std::vector<std::string> matchingInstances(const ir::Graph& g) const {
    std::vector<std::string> out;
    for (ir::Node* n : g.nodes()) {
      if (n->opcode() != ir::Opcode::Call) continue;
      for (const ir::ScopeEntry& e : n->scope())
        if (matches(e)) {
          if (std::find(out.begin(), out.end(), e.path) == out.end()) out.push_back(e.path);
          break;
        }
    }
    return out;
  }
  static bool inside(const ir::Node& n, const std::string& path) {
    for (const ir::ScopeEntry& e : n.scope())
      if (e.path == path) return true;
    return false;
  }
  bool matches(const ir::ScopeEntry& e) const {
    if (!type_.empty()) return e.type == type_;
    if (is_regex_) return std::regex_match(e.path, regex_);
    return e.path == path_;
  }
  Options options_;
  Replacement with_;
  std::string type_, path_;
  std::regex regex_;
  bool is_regex_ = false;
};

}  // namespace

std::unique_ptr<SurgeryRule> makeReplaceRule(const ConfigNode& entry, const std::string& key) {
  Options o = replaceSchema().validate(entry, key);
  if (o.has("from") == o.has("pattern"))
    throw RecipeError(entry.location(), key, "needs exactly one of 'from' (layer selectors) and 'pattern' (op chain)");
  const ConfigNode* to = entry.find("to");
  Replacement with = Replacement::parse(*to, entry.find("attrs"), nullptr, joinKey(key, "to"), false);
  if (o.has("from")) return std::make_unique<SelectorRule>(std::move(o), std::move(with));
  auto chain = parseChain(o);
  return std::make_unique<PatternRule>(std::move(o), std::move(chain), std::move(with));
}

std::unique_ptr<SurgeryRule> makeModuleRule(const ConfigNode& entry, const std::string& key) {
  OptionSchema s;
  s.add("module", OptionType::String).required().help("module path, re:<path regex> or type:<module type>");
  s.add("to", OptionType::String).required().help("identity, an op chain, or a block: conv_bn_relu, conv_bn, conv");
  s.add("kernel_size", OptionType::Int).defaultValue(int64_t{3}).help("the block's conv kernel");
  s.add("attrs", OptionType::Map).help("attributes of a single replacement op");
  Options o = s.validate(entry, key);
  Replacement with = Replacement::parse(*entry.find("to"), entry.find("attrs"), entry.find("kernel_size"),
                                        joinKey(key, "to"), true);
  return std::make_unique<ModuleRule>(std::move(o), std::move(with));
}

}  // namespace edgeopt::surgery
