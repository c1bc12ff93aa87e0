// The executor: value freeing, autograd, error context; shape propagation.
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/builder.h>
#include <edgeopt/ir/shape_prop.h>

#include "ir_test_util.h"
#include "zoo_models.h"

#include <cstring>
#include <map>

using namespace edgeopt;
using namespace edgeopt::ir;
using Catch::Matchers::Contains;

namespace {

// x -> relu x n [-> add(x, last)] -> output
std::shared_ptr<GraphModule> chain(int n, bool reuse_input) {
  auto gm = std::make_shared<GraphModule>();
  Graph& g = gm->graph();
  Value* x = g.input("x");
  Value* v = x;
  for (int i = 0; i < n; ++i) v = g.call(i % 2 ? "relu" : "tanh", {v})->output();
  if (reuse_input) v = g.call("add", {x, v})->output();
  g.output({v});
  return gm;
}

}  // namespace

TEST_CASE("executor: frees each value after its last use", "[ir][executor]") {
  at::Tensor x = at::randn({4, 8});
  auto straight = chain(20, false);
  at::Tensor out = straight->forward({x})[0];
  // Input, then each node's output replaces its dead input: never more than 2.
  CHECK(straight->lastExecStats().peak_live_values == 2);
  at::Tensor expected = x;
  for (int i = 0; i < 20; ++i) expected = i % 2 ? at::relu(expected) : at::tanh(expected);
  CHECK(at::equal(out, expected));

  // Keeping x alive for the final add costs exactly one more live value.
  auto reuse = chain(20, true);
  reuse->forward({x});
  CHECK(reuse->lastExecStats().peak_live_values == 3);

  // The plan is rebuilt when the graph changes.
  Graph& g = straight->graph();
  Node* last = g.outputNode()->input(0)->producer();
  auto guard = g.insertingAfter(last);
  Node* neg = g.call("mul", {last->output()}, {{"other", -1.0}});
  g.outputNode()->setInput(0, neg->output());
  CHECK(at::equal(straight->forward({x})[0], -expected));
}

TEST_CASE("executor: autograd trains through the graph", "[ir][executor]") {
  at::manual_seed(0);
  ZooOptions o;
  o.num_classes = 4;
  o.input_size = 16;
  auto m = buildZooModel("simple_cnn", o);
  m->train();
  at::Tensor x = at::randn({8, 3, 16, 16});
  at::Tensor y = at::arange(8, at::kLong) % 4;
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    at::Tensor loss = at::cross_entropy_loss(m->forward({x})[0], y);
    for (auto& p : m->parameters()) p.mutable_grad() = at::Tensor();
    loss.backward();
    at::NoGradGuard no_grad;
    for (auto& p : m->parameters()) {
      REQUIRE(p.grad().defined());
      p.sub_(p.grad() * 0.3);
    }
    (step == 0 ? first : last) = loss.item<double>();
  }
  INFO("loss " << first << " -> " << last);
  CHECK(last < 0.5 * first);
}

TEST_CASE("executor: a failing kernel names the node", "[ir][executor]") {
  Graph g;
  Value* x = g.input("x");
  Node* bad = g.call("reshape", {x}, {{"shape", Ints{7, -1}}}, "features.reshape");
  g.output({bad->output()});
  Executor ex(g);
  REQUIRE_THROWS_WITH(ex.run({at::zeros({2, 3})}, nullptr, {}),
                      "node 'features.reshape' (reshape): shape '[7, -1]' is invalid for input of size 6");
  REQUIRE_THROWS_WITH(ex.run({}, nullptr, {}), "forward: the graph takes 1 input(s), got 0");
}

TEST_CASE("shape propagation equals the executed shapes on mobilenet_v2", "[ir][shape]") {
  at::manual_seed(0);
  ZooOptions o;
  o.num_classes = 10;
  auto m = buildZooModel("mobilenet_v2", o);
  m->eval();
  propagateShapes(*m, {{2, 3, 64, 64}});
  std::map<std::string, std::vector<Shape>> actual;
  m->forward({at::randn({2, 3, 64, 64})}, [&](const Node& n, const std::vector<at::Tensor>& outs) {
    for (auto& t : outs) actual[n.name()].push_back(t.sizes().vec());
  });
  size_t checked = 0;
  for (Node* n : m->graph().nodes()) {
    if (n->opcode() != Opcode::Call) continue;
    INFO(n->format());
    REQUIRE(actual.count(n->name()));
    CHECK(*n->output()->shape() == actual[n->name()][0]);
    ++checked;
  }
  CHECK(checked == 52 * 2 + 35 + 10 + 4);  // conv+bn pairs, relu6, adds, pool/flatten/dropout/linear
  CHECK(*m->graph().outputs()[0]->shape() == Shape{2, 10});
}

TEST_CASE("shape propagation: failures carry the node's line", "[ir][shape]") {
  ModelBuilder b;
  Value* x = b.input("x");
  {
    auto s = b.module("stem", "Sequential");
    x = b.conv2d("0", x, Conv2dOptions(3, 8, 3));
  }
  b.output({x});
  auto m = b.finish();
  REQUIRE_THROWS_WITH(propagateShapes(*m, {{1, 4, 8, 8}}),
                      Contains("shape propagation failed at %stem.0 = conv2d(%x, %stem.0.weight, %stem.0.bias)") &&
                          Contains("input has 4 channels, weight [8, 3, 3, 3] with groups=1 expects 3"));
  REQUIRE_THROWS_WITH(propagateShapes(*m, {{1, 3, 2, 2}}), Contains("is too small for the kernel"));
}

TEST_CASE("shape propagation: a zero stride, groups or dilation is an input error naming the node", "[ir][shape]") {
  // A model file may hold any attribute value; these would divide by zero.
  struct Case {
    const char* node;
    const char* attr;
    AttrValue value;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"stem.0", "stride", int64_t{0}, "node 'stem.0' (conv2d): attribute 'stride' must be at least 1, got 0"},
      {"stem.0", "groups", int64_t{0}, "node 'stem.0' (conv2d): attribute 'groups' must be at least 1, got 0"},
      {"stem.0", "dilation", Ints{1, 0}, "node 'stem.0' (conv2d): attribute 'dilation' must be at least 1, got 0"},
      {"stem.0", "padding", int64_t{-2}, "node 'stem.0' (conv2d): attribute 'padding' must be at least 0, got -2"},
      {"stem.1", "stride", Ints{0, 0}, "node 'stem.1' (max_pool2d): attribute 'stride' must be at least 1, got 0"},
      {"stem.1", "kernel_size", int64_t{0},
       "node 'stem.1' (max_pool2d): attribute 'kernel_size' must be at least 1, got 0"},
  };
  for (const auto& c : cases) {
    ModelBuilder b;
    Value* x = b.input("x");
    {
      auto s = b.module("stem", "Sequential");
      x = b.conv2d("0", x, Conv2dOptions(3, 8, 3));
      x = b.maxPool2d("1", x, 2, 2);
    }
    b.output({x});
    auto m = b.finish();
    m->graph().findNode(c.node)->setAttr(c.attr, c.value);
    INFO(c.message);
    REQUIRE_THROWS_MATCHES(propagateShapes(*m, {{1, 3, 8, 8}}), Error,
                           Catch::Matchers::Predicate<Error>([&](const Error& e) {
                             const std::string what = e.what();
                             return e.code() == ExitCode::Input && what.find('\n') == std::string::npos &&
                                    what.size() >= std::strlen(c.message) &&
                                    what.compare(what.size() - std::strlen(c.message), std::string::npos,
                                                 c.message) == 0;
                           }));
  }
}
