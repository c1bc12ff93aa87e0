// Built-in passes: structure (op counts, lint) and numbers (outputs unchanged).
#include <edgeopt/graph_module.h>
#include <edgeopt/passes/pass.h>
#include <edgeopt/passes/rewriter.h>

#include "zoo_models.h"

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

using namespace edgeopt;

namespace {

int countOps(const ir::Graph& g, const std::string& op) {
  int n = 0;
  for (ir::Node* node : g.nodes()) n += node->opcode() == ir::Opcode::Call && node->target() == op;
  return n;
}

double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

class Throws : public Pass {
 public:
  PassResult run(GraphModule&) override { throw std::runtime_error("boom"); }
};

}  // namespace

TEST_CASE("fold-conv-bn folds all 52 BNs of mobilenet_v2 and keeps eval outputs", "[passes]") {
  at::manual_seed(0);
  ZooOptions o;
  o.num_classes = 10;
  o.input_size = 32;
  auto m = buildZooModel("mobilenet_v2", o);
  // Non-trivial BN statistics, as after training.
  m->train();
  for (int i = 0; i < 3; ++i) m->forward({at::randn({4, 3, 32, 32})});
  m->eval();
  const at::Tensor x = at::randn({2, 3, 32, 32});
  const at::Tensor before = m->forward({x})[0];
  const size_t tensors_before = m->stateDict().size();
  REQUIRE(countOps(m->graph(), "batch_norm") == 52);

  PassManager pm;
  pm.add("fold-conv-bn");
  CHECK(pm.run(*m).modified);
  m->lint();
  CHECK(countOps(m->graph(), "batch_norm") == 0);
  CHECK(countOps(m->graph(), "conv2d") == 52);
  // Each BN had 5 tensors (weight, bias, mean, var, count); each conv gained a bias.
  CHECK(m->stateDict().size() == tensors_before - 52 * 5 + 52);
  CHECK(m->hasTensor("features.0.0.bias"));
  CHECK_FALSE(m->hasTensor("features.0.1.weight"));
  CHECK(maxAbsDiff(m->forward({x})[0], before) < 1e-4 * before.abs().max().item<double>());
  CHECK_FALSE(pm.run(*m).modified);
}

TEST_CASE("fold-conv-bn does not fold a conv whose output is also used elsewhere", "[passes]") {
  auto m = std::make_shared<GraphModule>();
  ir::Graph& g = m->graph();
  m->registerParameter("conv.weight", at::randn({4, 3, 3, 3}));
  for (const char* n : {"bn.weight", "bn.bias"}) m->registerParameter(n, at::rand({4}));
  m->registerBuffer("bn.running_mean", at::rand({4}));
  m->registerBuffer("bn.running_var", at::rand({4}) + 0.5);
  ir::Value* x = g.input("x");
  ir::Node* conv = g.call("conv2d", {x, g.param("conv.weight")}, {{"padding", int64_t{1}}}, "conv");
  ir::Node* bn = g.call("batch_norm", {conv->output(), g.param("bn.weight"), g.param("bn.bias"),
                                       g.param("bn.running_mean"), g.param("bn.running_var")}, {}, "bn");
  ir::Node* side = g.call("relu", {conv->output()}, {}, "side");
  g.output({bn->output(), side->output()});
  m->lint();
  CHECK_FALSE(createPass("fold-conv-bn")->run(*m).modified);
  CHECK(countOps(g, "batch_norm") == 1);
}

TEST_CASE("dce removes dead calls and the parameters only they used", "[passes]") {
  auto m = std::make_shared<GraphModule>();
  ir::Graph& g = m->graph();
  m->registerParameter("used.weight", at::randn({3, 5}));
  m->registerParameter("dead.weight", at::randn({3, 5}));
  ir::Value* x = g.input("x");
  ir::Node* live = g.call("linear", {x, g.param("used.weight")}, {}, "used");
  ir::Node* dead = g.call("linear", {x, g.param("dead.weight")}, {}, "dead");
  g.call("relu", {dead->output()}, {}, "dead_relu");
  g.output({live->output()});
  m->lint();
  CHECK(createPass("dce")->run(*m).modified);
  m->lint();
  CHECK(g.findNode("dead") == nullptr);
  CHECK(g.findNode("dead_relu") == nullptr);
  CHECK_FALSE(m->hasTensor("dead.weight"));
  CHECK(m->hasTensor("used.weight"));
  CHECK(g.numNodes() == 4);  // input, param, linear, output
  CHECK_FALSE(createPass("dce")->run(*m).modified);
}

TEST_CASE("a dead chain is erased whole even where a new node lives at an erased node's address", "[passes]") {
  // The rewriter remembers erased nodes by address; eraseDeadChain skipped
  // every node found there, so a node created after an erase at the same
  // address (glibc hands the memory out again at once; ASan's quarantine does
  // not) stayed in the graph, dead. Surgery left 2 convs, 2 BNs, 2 ReLU6 so.
  auto m = std::make_shared<GraphModule>();
  ir::Graph& g = m->graph();
  ir::Value* x = g.input("x");
  g.output({g.call("relu", {x}, {}, "kept")->output()});
  Rewriter rw(*m);
  ir::Node* erased = g.call("relu", {x}, {}, "erased");
  const void* address = erased;
  rw.eraseNode(erased);
  ir::Node* a = g.call("relu", {x}, {}, "a");
  ir::Node* b = g.call("relu", {a->output()}, {}, "b");
  INFO("'a' reuses the erased node's address: " << (static_cast<const void*>(a) == address));
  rw.eraseDeadChain(b);
  CHECK(g.findNode("a") == nullptr);
  CHECK(g.findNode("b") == nullptr);
  CHECK(g.numNodes() == 3);  // input, kept, output
  m->lint();
}

TEST_CASE("fold-constants computes constant subgraphs but never running stats", "[passes]") {
  auto m = std::make_shared<GraphModule>();
  ir::Graph& g = m->graph();
  m->registerBuffer("offset", at::full({4}, 1.5));
  m->registerParameter("bn.weight", at::ones({4}));
  m->registerParameter("bn.bias", at::zeros({4}));
  m->registerBuffer("bn.running_mean", at::zeros({4}));
  m->registerBuffer("bn.running_var", at::ones({4}));
  ir::Value* x = g.input("x");
  ir::Node* doubled = g.call("mul", {g.param("offset")}, {{"other", 2.0}}, "doubled");
  ir::Node* add = g.call("add", {x, doubled->output()}, {}, "add");
  ir::Node* mean_plus = g.call("add", {g.param("bn.running_mean")}, {{"other", 1.0}}, "stats_plus");
  ir::Node* bn = g.call("batch_norm", {add->output(), g.param("bn.weight"), g.param("bn.bias"),
                                       g.param("bn.running_mean"), g.param("bn.running_var")}, {}, "bn");
  g.output({bn->output(), mean_plus->output()});
  m->eval();
  const at::Tensor in = at::randn({2, 4});
  const auto before = m->forward({in});

  CHECK(createPass("fold-constants")->run(*m).modified);
  m->lint();
  CHECK(g.findNode("doubled") == nullptr);
  CHECK_FALSE(m->hasTensor("offset"));
  REQUIRE(m->hasTensor("doubled_folded"));
  CHECK(at::equal(m->tensor("doubled_folded"), at::full({4}, 3.0)));
  CHECK(g.findNode("stats_plus") != nullptr);  // running_mean is updated by batch_norm: not constant
  const auto after = m->forward({in});
  CHECK(at::equal(after[0], before[0]));
}

TEST_CASE("the pass manager names the failing pass and those before it", "[passes]") {
  auto m = std::make_shared<GraphModule>();
  m->graph().output({m->graph().input("x")});
  PassManager pm;
  pm.add("dce");
  pm.add("fold-constants");
  pm.add("explode", std::make_unique<Throws>());
  REQUIRE_THROWS_WITH(pm.run(*m), "pass 'explode' failed (after dce, fold-constants): boom");
  REQUIRE_THROWS_WITH(createPass("fold-conv"),
                      "unknown pass 'fold-conv' (known: dce, fold-constants, fold-conv-bn, propagate-shapes)");
  REQUIRE_THROWS_WITH(createPass("propagate-shapes"),
                      "propagate-shapes: missing required key 'input_shape' ([N, C, H, W])");
  CHECK(passTable().size() == 4);
}
