// The dataflow pattern matcher and the greedy rewrite driver: each case is a
// tiny graph, one pattern, lint, op counts, numbers, and a "does not fire" twin.
#include <edgeopt/graph_module.h>
#include <edgeopt/passes/pattern.h>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

using namespace edgeopt;
using ir::Node;
using ir::Value;

namespace {

int countOps(const ir::Graph& g, const std::string& op) {
  int n = 0;
  for (Node* node : g.nodes()) n += node->opcode() == ir::Opcode::Call && node->target() == op;
  return n;
}

// relu6 -> relu, the shape of a surgery rule.
class Relu6ToRelu : public RewritePattern {
 public:
  Relu6ToRelu() : RewritePattern("relu6") {}
  std::string name() const override { return "Relu6ToRelu"; }
  bool matchAndRewrite(Node* root, Rewriter& r) const override {
    auto guard = r.graph().insertingBefore(root);
    Node* relu = r.graph().call("relu", {root->input(0)}, {}, root->name() + "_relu");
    r.replaceAllUsesWith(root->output(), relu->output());
    r.eraseNode(root);
    return true;
  }
};

class ClaimsWithoutChange : public RewritePattern {
 public:
  ClaimsWithoutChange() : RewritePattern("relu") {}
  std::string name() const override { return "ClaimsWithoutChange"; }
  bool matchAndRewrite(Node*, Rewriter&) const override { return true; }
};

}  // namespace

TEST_CASE("patterns match along edges, not along the node list", "[pattern]") {
  ir::Graph g;
  Value* x = g.input("x");
  Node* relu = g.call("relu", {x});
  Node* unrelated = g.call("sigmoid", {x});  // sits between producer and consumer
  Node* add = g.call("add", {relu->output(), x});
  g.output({add->output(), unrelated->output()});
  g.lint();

  Pattern p;
  auto a = p.any();
  auto r = p.op("relu", {a});
  p.op("add", {r, a});
  auto m = p.match(add);
  REQUIRE(m);
  CHECK(m->node(r) == relu);
  CHECK(m->value(a) == x);
  CHECK(m->root() == add);
  CHECK_FALSE(p.match(unrelated));

  // Don't-fire twin: the node right before add is adjacent but not its input.
  ir::Graph h;
  Value* y = h.input("y");
  Value* z = h.input("z");
  h.call("relu", {y});
  Node* add2 = h.call("add", {z, y});
  h.output({add2->output()});
  CHECK_FALSE(p.match(add2));
}

TEST_CASE("commutative ops, shared bindings, predicates and escaping values", "[pattern]") {
  ir::Graph g;
  Value* x = g.input("x");
  Node* clip = g.call("hardtanh", {x}, {{"min_val", 0.0}, {"max_val", 6.0}});
  Node* add = g.call("add", {x, clip->output()});  // operands swapped w.r.t. the pattern
  g.output({add->output()});

  auto build = [](bool commutative, double max) {
    auto p = std::make_unique<Pattern>();
    auto a = p->any();
    auto c = p->op("hardtanh", {a}).where([max](const Node& n) { return n.get<double>("max_val") == max; });
    auto sum = p->op("add", {c, a});
    if (commutative) sum.commutative();
    return p;
  };
  CHECK_FALSE(build(false, 6.0)->match(add));
  CHECK(build(true, 6.0)->match(add));
  CHECK_FALSE(build(true, 4.0)->match(add));  // predicate rejects

  // The same Ref must bind the same value: add(x, clip(y)) is no match.
  ir::Graph h;
  Value* hx = h.input("x");
  Value* hy = h.input("y");
  Node* hclip = h.call("hardtanh", {hy}, {{"min_val", 0.0}, {"max_val", 6.0}});
  Node* hadd = h.call("add", {hx, hclip->output()});
  h.output({hadd->output()});
  CHECK_FALSE(build(true, 6.0)->match(hadd));

  // A value used outside the match blocks it, unless it escapes.
  ir::Graph e;
  Value* ex = e.input("x");
  Node* r = e.call("relu", {ex});
  Node* s = e.call("sigmoid", {r->output()});
  Node* other = e.call("tanh", {r->output()});
  e.output({s->output(), other->output()});
  Pattern inside;
  inside.op("sigmoid", {inside.op("relu", {inside.any()})});
  CHECK_FALSE(inside.match(s));
  Pattern escaping;
  escaping.op("sigmoid", {escaping.op("relu", {escaping.any()}).escapes()});
  CHECK(escaping.match(s));
}

TEST_CASE("the greedy driver rewrites every match and keeps the numbers", "[pattern]") {
  auto module = std::make_shared<GraphModule>();
  ir::Graph& g = module->graph();
  Value* x = g.input("x");
  Node* a = g.call("relu6", {x}, {}, "a");
  Node* b = g.call("mul", {a->output()}, {{"other", 2.0}}, "b");
  Node* c = g.call("relu6", {b->output()}, {}, "c");
  g.output({c->output()});
  module->lint();

  const at::Tensor in = at::linspace(-2, 5, 16).reshape({2, 8});  // relu6 and relu differ above 6 only
  const at::Tensor before = module->forward({in})[0];
  std::vector<std::unique_ptr<RewritePattern>> patterns;
  patterns.push_back(std::make_unique<Relu6ToRelu>());

  CHECK_FALSE(applyPatternsGreedily(*module, patterns, {10, {"Relu6ToRelu"}}));  // disabled by name
  CHECK(countOps(g, "relu6") == 2);

  CHECK(applyPatternsGreedily(*module, patterns));
  module->lint();
  CHECK(countOps(g, "relu6") == 0);
  CHECK(countOps(g, "relu") == 2);
  CHECK(at::equal(module->forward({in})[0], at::relu(in * 2)));
  CHECK_FALSE(at::equal(before, at::relu(in * 2)));  // the input exceeds 6 after *2: the rewrite is visible
  CHECK_FALSE(applyPatternsGreedily(*module, patterns));  // fixpoint

  std::vector<std::unique_ptr<RewritePattern>> liar;
  liar.push_back(std::make_unique<ClaimsWithoutChange>());
  REQUIRE_THROWS_WITH(applyPatternsGreedily(*module, liar),
                      "rewrite pattern 'ClaimsWithoutChange' claimed a change it did not make");
}
