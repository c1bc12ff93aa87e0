// Tensor-manipulation ops (ops_tensor.cpp) against the direct ATen call, with
// each shape function checked against the kernel's output (runOp/runOpOutputs).
#include <edgeopt/ir/op_registry.h>

#include "ir_test_util.h"

#include <any>
#include <limits>

using namespace edgeopt;
using namespace edgeopt::ir;
using Catch::Matchers::Contains;
using edgeopt::test::runOp;
using edgeopt::test::runOpOutputs;

namespace {
at::Tensor r(std::vector<int64_t> shape) { return at::randn(shape, at::kFloat); }
bool same(const at::Tensor& a, const at::Tensor& b) { return a.sizes() == b.sizes() && at::allclose(a, b, 1e-6, 1e-6); }
bool sameAll(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!same(a[i], b[i])) return false;
  return true;
}
}  // namespace

TEST_CASE("ops: split by size and by sizes, chunk", "[ir][ops]") {
  at::manual_seed(11);
  at::Tensor x = r({2, 7, 4, 3});
  CHECK(sameAll(runOpOutputs("split", {x}, {{"split_size", 3}, {"dim", 1}}, 3), at::split(x, 3, 1)));
  CHECK(sameAll(runOpOutputs("split", {x}, {{"split_size", 2}}, 1), at::split(x, 2, 0)));
  CHECK(sameAll(runOpOutputs("split", {x}, {{"split_sizes", Ints{1, 4, 2}}, {"dim", -3}}, 3),
                at::split_with_sizes(x, {1, 4, 2}, 1)));
  CHECK(sameAll(runOpOutputs("chunk", {x}, {{"chunks", 3}, {"dim", 1}}, 3), at::chunk(x, 3, 1)));
  CHECK(sameAll(runOpOutputs("chunk", {x}, {{"chunks", 2}, {"dim", -1}}, 2), at::chunk(x, 2, -1)));
  // torch.chunk: 7 channels in 6 chunks are 4 pieces of 2 (the last 1).
  CHECK(sameAll(runOpOutputs("chunk", {x}, {{"chunks", 6}, {"dim", 1}}, 4), at::chunk(x, 6, 1)));

  REQUIRE_THROWS_WITH(runOpOutputs("split", {x}, {{"split_size", 3}, {"dim", 1}}, 2),
                      Contains("splits [2, 7, 4, 3] into 3 pieces along dim 1 but the node has 2 outputs"));
  REQUIRE_THROWS_WITH(runOpOutputs("split", {x}, {{"split_sizes", Ints{3, 3}}, {"dim", 1}}, 2),
                      Contains("split_sizes add up to 6 but the dim has 7"));
  REQUIRE_THROWS_WITH(runOp("split", {x}), Contains("needs attribute 'split_size' (int) or 'split_sizes' (ints)"));
}

TEST_CASE("ops: slice with negative bounds, clamping and steps", "[ir][ops]") {
  at::manual_seed(12);
  at::Tensor x = r({2, 6, 9, 8});
  CHECK(same(runOp("slice", {x}, {{"dim", 2}, {"start", 1}, {"end", 7}, {"step", 2}}), at::slice(x, 2, 1, 7, 2)));
  CHECK(same(runOp("slice", {x}, {{"dim", -1}, {"start", 1}, {"step", 2}}),
             at::slice(x, 3, 1, std::numeric_limits<int64_t>::max(), 2)));
  CHECK(same(runOp("slice", {x}, {{"dim", 1}, {"start", -4}, {"end", -1}}), at::slice(x, 1, -4, -1)));
  CHECK(same(runOp("slice", {x}, {{"dim", 1}, {"start", 2}, {"end", 100}}), at::slice(x, 1, 2, 100)));
  CHECK(same(runOp("slice", {x}, {{"dim", 2}, {"start", 7}, {"end", 3}}), at::slice(x, 2, 7, 3)));  // empty
  CHECK(same(runOp("slice", {x}), x));
  // Focus / space-to-depth: x[..., ::2, ::2] and friends.
  CHECK(same(runOp("slice", {x}, {{"dim", 3}, {"start", 1}, {"step", 2}}),
             x.index({at::indexing::Ellipsis, at::indexing::Slice(1, at::indexing::None, 2)})));
  REQUIRE_THROWS_WITH(runOp("slice", {x}, {{"step", 0}}), Contains("step must be positive"));
}

TEST_CASE("ops: permute and transpose", "[ir][ops]") {
  at::manual_seed(13);
  at::Tensor x = r({2, 3, 4, 5});
  CHECK(same(runOp("permute", {x}, {{"dims", Ints{0, 2, 3, 1}}}), x.permute({0, 2, 3, 1})));
  CHECK(same(runOp("permute", {x}, {{"dims", Ints{-1, 0, 2, 1}}}), x.permute({3, 0, 2, 1})));
  CHECK(same(runOp("transpose", {x}, {{"dim0", 1}, {"dim1", -1}}), x.transpose(1, 3)));
  REQUIRE_THROWS_WITH(runOp("permute", {x}, {{"dims", Ints{0, 1, 1, 2}}}), Contains("repeat dim 1"));
  REQUIRE_THROWS_WITH(runOp("permute", {x}, {{"dims", Ints{0, 1}}}), Contains("do not match rank 4"));
}

TEST_CASE("ops: pad constant, reflect, replicate, circular", "[ir][ops]") {
  at::manual_seed(14);
  at::Tensor x = r({2, 3, 5, 6});
  CHECK(same(runOp("pad", {x}, {{"pad", Ints{1, 2, 0, 3}}}), at::constant_pad_nd(x, {1, 2, 0, 3}, 0)));
  CHECK(same(runOp("pad", {x}, {{"pad", Ints{1, 1}}, {"value", -2.5}}), at::constant_pad_nd(x, {1, 1}, -2.5)));
  CHECK(same(runOp("pad", {x}, {{"pad", Ints{-1, 0, 1, 1, 0, 2}}}), at::constant_pad_nd(x, {-1, 0, 1, 1, 0, 2})));
  CHECK(same(runOp("pad", {x}, {{"pad", Ints{2, 1, 3, 0}}, {"mode", "reflect"}}),
             at::reflection_pad2d(x, {2, 1, 3, 0})));
  CHECK(same(runOp("pad", {x}, {{"pad", Ints{2, 1, 3, 0}}, {"mode", "replicate"}}),
             at::replication_pad2d(x, {2, 1, 3, 0})));
  CHECK(same(runOp("pad", {x}, {{"pad", Ints{2, 1, 3, 0}}, {"mode", "circular"}}),
             at::pad(x, {2, 1, 3, 0}, "circular")));
  CHECK(same(runOp("pad", {x}, {{"pad", Ints{5, 0, 0, 4}}, {"mode", "reflect"}}),
             at::reflection_pad2d(x, {5, 0, 0, 4})));
  CHECK(same(runOp("pad", {x.flatten(0, 1)}, {{"pad", Ints{1, 2}}, {"mode", "replicate"}}),
             at::replication_pad1d(x.flatten(0, 1), {1, 2})));
  REQUIRE_THROWS_WITH(runOp("pad", {x}, {{"pad", Ints{6, 0, 0, 0}}, {"mode", "reflect"}}),
                      Contains("reflect padding must be smaller than the padded dim 3 (6)"));
  REQUIRE_THROWS_WITH(runOp("pad", {x}, {{"pad", Ints{1, 1}}, {"mode", "replicate"}}),
                      Contains("mode 'replicate' pads the last 1-3 dims of an input with 1 or 2 more dims"));
  REQUIRE_THROWS_WITH(runOp("pad", {x}, {{"pad", Ints{1, 1}}, {"mode", "edge"}}),
                      Contains("mode 'edge' is not one of constant, reflect, replicate, circular"));
  REQUIRE_THROWS_WITH(runOp("pad", {x}, {{"pad", Ints{1}}}), Contains("even number of values"));
  REQUIRE_THROWS_WITH(runOp("pad", {x}, {{"pad", Ints{1, 1}}, {"mode", "reflect"}, {"value", 1.0}}),
                      Contains("mode 'reflect' takes no 'value'"));
}

TEST_CASE("ops: matmul shapes, broadcasting and MACs", "[ir][ops]") {
  at::manual_seed(15);
  struct Case { std::vector<int64_t> a, b; int64_t macs; };
  for (const Case& c : {Case{{4, 5}, {5, 3}, 4 * 3 * 5},
                        Case{{5}, {5}, 5},
                        Case{{5}, {5, 3}, 3 * 5},
                        Case{{4, 5}, {5}, 4 * 5},
                        Case{{2, 4, 5}, {5}, 2 * 4 * 5},
                        Case{{5}, {2, 5, 3}, 2 * 3 * 5},
                        Case{{2, 1, 4, 5}, {3, 5, 6}, 2 * 3 * 4 * 6 * 5},
                        Case{{2, 4, 5}, {5, 6}, 2 * 4 * 6 * 5}}) {
    INFO(formatShape(c.a) << " @ " << formatShape(c.b));
    at::Tensor a = r(c.a), b = r(c.b);
    CHECK(same(runOp("matmul", {a, b}), at::matmul(a, b)));
    Graph g;
    Node* n = g.call("matmul", {g.input("a"), g.input("b")});
    g.output({n->output()});
    propagateShapes(g, {c.a, c.b}, [](const std::string&) { return ParamInfo{}; });
    CHECK(std::any_cast<int64_t>(n->meta().at("macs")) == c.macs);
  }
  REQUIRE_THROWS_WITH(runOp("matmul", {r({4, 5}), r({4, 5})}), Contains("cannot be multiplied"));
  REQUIRE_THROWS_WITH(runOp("matmul", {r({2, 4, 5}), r({3, 5, 6})}), Contains("do not broadcast"));
}

TEST_CASE("ops: full_like", "[ir][ops]") {
  at::Tensor x = r({2, 3});
  CHECK(same(runOp("full_like", {x}, {{"value", 2.5}}), at::full({2, 3}, 2.5)));
  CHECK(same(runOp("full_like", {x}, {{"value", 0}}), at::zeros({2, 3})));
}

