// The channel flow each op registers (ir/channel_flow.h), at nodes with the
// attributes and input shapes that decide it.
#include <edgeopt/ir/graph.h>
#include <edgeopt/ir/op_registry.h>

#include <catch2/catch.hpp>

using namespace edgeopt::ir;
using Kind = ChannelFlow::Kind;

namespace {

// The flow of one `op` node with `attrs` over inputs of `shapes`.
ChannelFlow flowOf(const std::string& op, const std::vector<Shape>& shapes, Attrs attrs = {}) {
  Graph g;
  std::vector<Value*> inputs;
  for (size_t i = 0; i < shapes.size(); ++i) inputs.push_back(g.input("x" + std::to_string(i)));
  Node* n = g.call(op, inputs, std::move(attrs));
  return OpRegistry::instance().get(op).channelFlow(*n, shapes);
}

bool sameDims(const std::vector<TensorDim>& a, const std::vector<std::pair<size_t, int64_t>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].input != b[i].first || a[i].dim != b[i].second) return false;
  return true;
}

}  // namespace

TEST_CASE("channel flow: convolutions by grouping", "[ir][channels]") {
  ChannelFlow dense = flowOf("conv2d", {{1, 8, 6, 6}, {16, 8, 3, 3}, {16}});
  CHECK(dense.kind == Kind::Producer);
  CHECK(sameDims(dense.params, {{1, 0}, {2, 0}}));
  CHECK(sameDims(dense.in_params, {{1, 1}}));
  CHECK_FALSE(dense.depthwise);

  ChannelFlow dw = flowOf("conv2d", {{1, 8, 6, 6}, {8, 1, 3, 3}}, {{"groups", 8}});
  CHECK(dw.kind == Kind::Producer);
  CHECK(dw.depthwise);
  CHECK(std::string(dw.groups_attr) == "groups");
  CHECK(sameDims(dw.params, {{1, 0}}));
  CHECK(dw.in_params.empty());

  // A channel multiplier (16 filters over 8 groups) or 2 groups ties channels to groups.
  CHECK(flowOf("conv2d", {{1, 8, 6, 6}, {16, 1, 3, 3}}, {{"groups", 8}}).kind == Kind::Barrier);
  CHECK(flowOf("conv2d", {{1, 8, 6, 6}, {8, 4, 3, 3}}, {{"groups", 2}}).kind == Kind::Barrier);

  ChannelFlow tr = flowOf("conv_transpose2d", {{1, 8, 6, 6}, {8, 4, 2, 2}, {4}});
  CHECK(tr.kind == Kind::Producer);
  CHECK(sameDims(tr.params, {{1, 1}, {2, 0}}));
  CHECK(sameDims(tr.in_params, {{1, 0}}));
}

TEST_CASE("channel flow: linear reads features of 2-D inputs only", "[ir][channels]") {
  ChannelFlow fc = flowOf("linear", {{2, 32}, {10, 32}});
  CHECK(fc.kind == Kind::Producer);
  CHECK(sameDims(fc.params, {{1, 0}}));
  CHECK(sameDims(fc.in_params, {{1, 1}}));
  CHECK(flowOf("linear", {{2, 5, 32}, {10, 32}}).kind == Kind::Barrier);
}

TEST_CASE("channel flow: norms, pools, activations", "[ir][channels]") {
  ChannelFlow bn = flowOf("batch_norm", {{1, 8, 4, 4}, {8}, {8}, {8}, {8}});
  CHECK(bn.kind == Kind::Same);
  CHECK(sameDims(bn.params, {{1, 0}, {2, 0}, {3, 0}, {4, 0}}));
  CHECK(flowOf("relu", {{1, 8, 4, 4}}).kind == Kind::Same);
  CHECK(flowOf("max_pool2d", {{1, 8, 4, 4}}, {{"kernel_size", 2}}).kind == Kind::Same);
  CHECK(flowOf("layer_norm", {{1, 8, 4, 4}}, {{"normalized_shape", Ints{4}}}).kind == Kind::Barrier);
  CHECK(flowOf("group_norm", {{1, 8, 4, 4}}, {{"num_groups", 2}}).kind == Kind::Barrier);
  CHECK(flowOf("softmax", {{1, 8}}, {{"dim", 1}}).kind == Kind::Barrier);
  CHECK(flowOf("softmax", {{1, 8, 4}}, {{"dim", -1}}).kind == Kind::Same);
  CHECK(flowOf("mean", {{1, 8, 4, 4}}, {{"dim", Ints{2, 3}}, {"keepdim", true}}).kind == Kind::Same);
  CHECK(flowOf("mean", {{1, 8, 4, 4}}, {{"dim", Ints{1}}}).kind == Kind::Barrier);
  CHECK(flowOf("mean", {{1, 8, 4, 4}}).kind == Kind::Barrier);  // all dims
}

TEST_CASE("channel flow: shape ops", "[ir][channels]") {
  CHECK(flowOf("cat", {{1, 8, 4, 4}, {1, 4, 4, 4}}, {{"dim", 1}}).kind == Kind::Concat);
  CHECK(flowOf("cat", {{1, 8, 4, 4}, {1, 8, 4, 4}}, {{"dim", -3}}).kind == Kind::Concat);
  CHECK(flowOf("cat", {{1, 8, 4, 4}, {1, 8, 4, 4}}, {{"dim", 0}}).kind == Kind::Elementwise);
  CHECK(flowOf("flatten", {{1, 8, 4, 4}}, {{"start_dim", 1}}).kind == Kind::Flatten);
  CHECK(flowOf("flatten", {{1, 8, 4, 4}}, {{"start_dim", 2}}).kind == Kind::Same);
  CHECK(flowOf("flatten", {{1, 8, 4, 4}}, {{"start_dim", 0}}).kind == Kind::Barrier);
  CHECK(flowOf("flatten", {{1, 8, 4, 4}}, {{"start_dim", 1}, {"end_dim", 2}}).kind == Kind::Barrier);
  CHECK(flowOf("reshape", {{1, 8, 4, 4}}, {{"shape", Ints{1, 128}}}).kind == Kind::Barrier);
  CHECK(flowOf("split", {{1, 8, 4, 4}}, {{"dim", 1}, {"split_size", 4}}).kind == Kind::Split);
  CHECK(flowOf("chunk", {{1, 8, 4, 4}}, {{"dim", 2}, {"chunks", 2}}).kind == Kind::Same);
  CHECK(flowOf("permute", {{1, 8, 4, 4}}, {{"dims", Ints{0, 2, 3, 1}}}).kind == Kind::Barrier);
  CHECK(flowOf("pad", {{1, 8, 4, 4}}, {{"pad", Ints{1, 1, 1, 1}}}).kind == Kind::Same);
  CHECK(flowOf("pad", {{1, 8, 4, 4}}, {{"pad", Ints{0, 0, 0, 0, 1, 1}}}).kind == Kind::Barrier);
  CHECK(flowOf("add", {{1, 8, 4, 4}, {1, 8, 4, 4}}).kind == Kind::Elementwise);
  CHECK(flowOf("matmul", {{1, 8, 4}, {1, 4, 8}}).kind == Kind::Barrier);
}

TEST_CASE("channel flow: quantizers", "[ir][channels]") {
  std::vector<Shape> fq(7, Shape{1});
  fq[0] = {1, 8, 4, 4};
  CHECK(flowOf("fake_quant", fq).kind == Kind::Same);
  CHECK(flowOf("fake_quant", fq, {{"axis", 1}}).kind == Kind::Barrier);
  CHECK(toString(Kind::Producer) == std::string("producer"));
}
