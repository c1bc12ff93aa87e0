// Graph construction, use lists, mutation guards and lint.
#include <edgeopt/error.h>
#include <edgeopt/ir/graph.h>

#include <catch2/catch.hpp>

using namespace edgeopt;
using namespace edgeopt::ir;
using Catch::Matchers::Contains;

namespace {

// x -> relu -> add(relu, x) -> output
struct Tiny {
  Graph g;
  Value* x;
  Node* relu;
  Node* add;
  Tiny() {
    x = g.input("x");
    relu = g.call("relu", {x});
    add = g.call("add", {relu->output(), x});
    g.output({add->output()});
  }
};

}  // namespace

TEST_CASE("graph: builders, names, use lists and printing", "[ir][graph]") {
  Tiny t;
  REQUIRE_NOTHROW(t.g.lint());
  CHECK(t.g.numNodes() == 4);
  CHECK(t.relu->name() == "relu");
  CHECK(t.g.call("relu", {t.x})->name() == "relu_1");  // made unique
  CHECK(t.x->users() == std::vector<Node*>{t.relu, t.add, t.g.findNode("relu_1")});
  CHECK(t.x->uses().size() == 3);
  CHECK(t.g.outputs() == std::vector<Value*>{t.add->output()});
  std::string printed = t.g.print();
  CHECK_THAT(printed, Contains("graph(%x):"));
  CHECK_THAT(printed, Contains("%add = add(%relu, %x)"));
  CHECK_THAT(printed, Contains("return(%add)"));
  // The extra relu was placed before the output node, so the graph stays valid.
  REQUIRE_NOTHROW(t.g.lint());
}

TEST_CASE("graph: setInput and replaceAllUsesWith keep use lists in sync", "[ir][graph]") {
  Tiny t;
  Node* sig;
  {
    auto guard = t.g.insertingBefore(t.add);
    sig = t.g.call("sigmoid", {t.x});
  }
  t.add->setInput(0, sig->output());
  CHECK(t.relu->output()->uses().empty());
  CHECK(sig->output()->users() == std::vector<Node*>{t.add});

  // Redirect only the add's use of x; the relu and sigmoid keep theirs.
  auto changed = t.g.replaceAllUsesWith(t.x, sig->output(), [&](Node* n) { return n == t.add; });
  CHECK(changed == std::vector<Node*>{t.add});
  CHECK(t.add->inputs() == std::vector<Value*>{sig->output(), sig->output()});
  CHECK(sig->output()->uses().size() == 2);
  CHECK(sig->output()->users().size() == 1);  // one user, two uses
  CHECK(t.x->users() == std::vector<Node*>{t.relu, sig});
  REQUIRE_NOTHROW(t.g.lint());
}

TEST_CASE("graph: erase refuses nodes with users and names them", "[ir][graph]") {
  Tiny t;
  REQUIRE_THROWS_WITH(t.g.erase(t.relu), "erase: node 'relu' still has 1 user(s): 'add'");
  REQUIRE_THROWS_WITH(t.g.erase(t.x->producer()), "erase: node 'x' still has 2 user(s): 'relu', 'add'");
  t.add->setInput(0, t.x);
  REQUIRE_NOTHROW(t.g.erase(t.relu));
  CHECK(t.g.findNode("relu") == nullptr);
  CHECK(t.x->uses().size() == 2);  // add uses x twice now; relu's use is gone
  REQUIRE_NOTHROW(t.g.lint());
}

TEST_CASE("graph: insertion point guard restores the previous point", "[ir][graph]") {
  Tiny t;
  {
    auto guard = t.g.insertingBefore(t.relu);
    Node* first = t.g.call("tanh", {t.x});
    CHECK(t.g.nodes()[1] == first);
    {
      auto inner = t.g.insertingAfter(t.add);
      Node* late = t.g.call("sigmoid", {t.add->output()});
      CHECK(t.g.nodes()[4] == late);  // x, tanh, relu, add, sigmoid, output
    }
    Node* second = t.g.call("tanh", {t.x});
    CHECK(t.g.nodes()[2] == second);  // still before relu
  }
  Node* last = t.g.call("silu", {t.add->output()});
  auto nodes = t.g.nodes();
  CHECK(nodes[nodes.size() - 2] == last);  // default: just before the output
  REQUIRE_NOTHROW(t.g.lint());
}

TEST_CASE("graph: lint names the node and appends the graph", "[ir][graph]") {
  SECTION("topological order") {
    Tiny t;
    auto guard = t.g.insertingBefore(t.relu);
    t.g.call("sigmoid", {t.add->output()}, {}, "early");
    REQUIRE_THROWS_WITH(t.g.lint(), Contains("lint: node 'early': input 0 (%add) is used before it is defined") &&
                                        Contains("graph(%x):") && Contains("%early = sigmoid(%add)"));
  }
  SECTION("unknown op") {
    Tiny t;
    t.g.call("frobnicate", {t.x}, {}, "bad");
    REQUIRE_THROWS_WITH(t.g.lint(), Contains("lint: node 'bad': unknown op 'frobnicate'"));
  }
  SECTION("arity") {
    Tiny t;
    t.g.call("conv2d", {t.x}, {}, "conv");
    REQUIRE_THROWS_WITH(t.g.lint(), Contains("node 'conv': op 'conv2d' takes 2..3 inputs, got 1"));
  }
  SECTION("value from another graph") {
    Tiny t, other;
    t.g.call("relu", {other.x}, {}, "stranger");
    REQUIRE_THROWS_WITH(t.g.lint(), Contains("node 'stranger': input 0 (%x) belongs to another graph"));
  }
  SECTION("missing output") {
    Graph g;
    g.call("relu", {g.input("x")});
    REQUIRE_THROWS_WITH(g.lint(), Contains("graph has no output node"));
  }
}

TEST_CASE("graph: attributes are typed", "[ir][graph]") {
  Tiny t;
  t.relu->setAttr("stride", Ints{2, 2});
  t.relu->setAttr("p", 0.25);
  t.relu->setAttr("groups", 4);
  t.relu->setAttr("mode", "nearest");
  CHECK(t.relu->get<Ints>("stride") == Ints{2, 2});
  CHECK(t.relu->get<double>("p") == 0.25);
  CHECK(t.relu->get<int64_t>("groups") == 4);
  CHECK(t.relu->get<double>("groups") == 4.0);  // int widens to double
  CHECK(t.relu->get<std::string>("mode") == "nearest");
  CHECK(t.relu->getOr<bool>("ceil_mode", true));
  REQUIRE_THROWS_WITH(t.relu->get<int64_t>("p"), "node 'relu': attribute 'p' is float, read as another type");
  REQUIRE_THROWS_WITH(t.relu->attr("nope"), "node 'relu': has no attribute 'nope'");
  CHECK_THAT(t.relu->format(), Contains("{groups=4, mode=\"nearest\", p=0.25, stride=[2, 2]}"));
}

TEST_CASE("graph: clone is deep and prints the same", "[ir][graph]") {
  Tiny t;
  t.relu->setScope({{"block", "Block"}, {"block.act", "ReLU"}});
  t.relu->setModuleType("ReLU");
  t.relu->meta()["macs"] = int64_t{7};
  auto copy = t.g.clone();
  REQUIRE_NOTHROW(copy->lint());
  CHECK(copy->print() == t.g.print());
  Node* r = copy->findNode("relu");
  REQUIRE(r != nullptr);
  CHECK(r != t.relu);
  CHECK(r->scope() == t.relu->scope());
  CHECK(r->modulePath() == "block.act");
  CHECK(std::any_cast<int64_t>(r->meta().at("macs")) == 7);
  uint64_t before = t.g.version();
  r->setAttr("x", 1);
  CHECK(t.g.version() == before);  // the original is untouched
}
