// Channel dependency groups on hand-built graphs: the exact groups, slices
// and prunability, then masked pruning against physical removal (same
// outputs, exact shapes).
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/builder.h>
#include <edgeopt/ir/shape_prop.h>
#include <edgeopt/prune/channel_groups.h>
#include <edgeopt/prune/masks.h>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <algorithm>

using namespace edgeopt;
using namespace edgeopt::prune;
using ir::Conv2dOptions;
using ir::Shape;

namespace {

const Shape kInput{2, 3, 8, 8};

std::shared_ptr<GraphModule> finish(ir::ModelBuilder& b, ir::Value* out) {
  b.output({out});
  auto m = b.finish();
  // Non-trivial BN statistics and affine parameters, so masking is tested
  // against real values.
  at::manual_seed(7);
  for (auto& [name, t] : m->stateDict())
    if (name.find("running_var") != std::string::npos) m->setTensor(name, at::rand_like(t) + 0.5);
    else if (name.find("running_mean") != std::string::npos || name.find("bias") != std::string::npos)
      m->setTensor(name, at::randn_like(t) * 0.3);
    else if (t.is_floating_point()) m->setTensor(name, at::randn_like(t) * 0.5);
  m->eval();
  ir::propagateShapes(*m, {kInput});
  m->setExampleInputShapes({kInput});
  return m;
}

ir::Value* convBnRelu(ir::ModelBuilder& b, const std::string& name, ir::Value* x, int64_t in, int64_t out,
                      int64_t groups = 1) {
  x = b.conv2d(name + ".conv", x, Conv2dOptions(in, out, 3).padding(1).groups(groups).bias(false));
  x = b.batchNorm2d(name + ".bn", x, out);
  return b.relu(name + ".relu", x);
}

ir::Value* head(ir::ModelBuilder& b, ir::Value* x, int64_t channels) {
  x = b.adaptiveAvgPool2d("pool", x, {1, 1});
  x = b.flatten("flatten", x);
  return b.linear("fc", x, channels, 5);
}

const ChannelGroup* groupOf(const ChannelDependencies& d, const std::string& producer) {
  for (const auto& g : d.groups)
    if (std::find(g.producers.begin(), g.producers.end(), producer) != g.producers.end()) return &g;
  return nullptr;
}

// "tensor:dim@offset/span" (r for a reading slice), sorted: one string per group.
std::vector<std::string> slicesOf(const ChannelGroup& g) {
  std::vector<std::string> out;
  for (const auto& s : g.slices)
    out.push_back(s.tensor + ":" + std::to_string(s.dim) + "@" + std::to_string(s.offset) + "/" +
                  std::to_string(s.span) + (s.reads ? "r" : ""));
  std::sort(out.begin(), out.end());
  return out;
}

// Prunes `ratio` of every prunable group's channels both ways and checks the
// outputs agree; returns the removed model.
std::shared_ptr<GraphModule> pruneBothWays(const GraphModule& m, double ratio) {
  auto deps = analyzeChannels(m);
  std::vector<at::Tensor> keeps;
  auto masked = m.clone();
  for (const auto& g : deps.groups) {
    if (!g.prunable) {
      keeps.emplace_back();
      continue;
    }
    keeps.push_back(channelMask(groupImportance(m, g, ChannelCriterion::L2), ratio));
    maskChannels(*masked, g, keeps.back());
  }
  auto removed = m.clone();
  removeChannels(*removed, deps, keeps);
  removed->lint();
  at::manual_seed(3);
  at::Tensor x = at::randn(kInput);
  masked->eval();
  removed->eval();
  at::Tensor a = masked->forward({x})[0], b = removed->forward({x})[0];
  INFO("max |masked - removed| = " << (a - b).abs().max().item<double>());
  CHECK(at::allclose(a, b, 1e-5, 1e-5));
  CHECK(a.abs().max().item<double>() > 1e-3);  // not trivially zero
  return removed;
}

Shape weightShape(const GraphModule& m, const std::string& name) { return m.tensor(name).sizes().vec(); }

}  // namespace

TEST_CASE("channel groups: a residual add joins both convs' channels", "[prune][groups]") {
  ir::ModelBuilder b;
  ir::Value* x = b.input();
  ir::Value* a = convBnRelu(b, "l1", x, 3, 8);
  ir::Value* r = b.conv2d("l2.conv", a, Conv2dOptions(8, 8, 3).padding(1).bias(false));
  r = b.batchNorm2d("l2.bn", r, 8);
  ir::Value* y = b.relu("l2.relu", b.add(r, a));
  y = convBnRelu(b, "l3", y, 8, 6);
  auto m = finish(b, head(b, y, 6));

  auto deps = analyzeChannels(*m);
  const ChannelGroup* g = groupOf(deps, "l1.conv");
  REQUIRE(g);
  CHECK(g == groupOf(deps, "l2.conv"));
  CHECK(g->prunable);
  CHECK(g->channels == 8);
  CHECK(slicesOf(*g) == std::vector<std::string>{
                           "l1.bn.bias:0@0/1", "l1.bn.running_mean:0@0/1", "l1.bn.running_var:0@0/1",
                           "l1.bn.weight:0@0/1", "l1.conv.weight:0@0/1", "l2.bn.bias:0@0/1",
                           "l2.bn.running_mean:0@0/1", "l2.bn.running_var:0@0/1", "l2.bn.weight:0@0/1",
                           "l2.conv.weight:0@0/1", "l2.conv.weight:1@0/1r", "l3.conv.weight:1@0/1r"});
  const ChannelGroup* last = groupOf(deps, "l3.conv");
  REQUIRE(last);
  CHECK(last->prunable);  // read by the classifier through pool + flatten
  const ChannelGroup* fc = groupOf(deps, "fc");
  REQUIRE(fc);
  CHECK_FALSE(fc->prunable);
  CHECK(fc->reason == "graph output");

  auto pruned = pruneBothWays(*m, 0.5);
  CHECK(weightShape(*pruned, "l1.conv.weight") == Shape{4, 3, 3, 3});
  CHECK(weightShape(*pruned, "l2.conv.weight") == Shape{4, 4, 3, 3});
  CHECK(weightShape(*pruned, "l3.conv.weight") == Shape{3, 4, 3, 3});
  CHECK(weightShape(*pruned, "fc.weight") == Shape{5, 3});
  CHECK(weightShape(*pruned, "l2.bn.running_var") == Shape{4});
}

TEST_CASE("channel groups: a concat places each branch at its offset", "[prune][groups]") {
  ir::ModelBuilder b;
  ir::Value* x = b.input();
  ir::Value* p = convBnRelu(b, "a", x, 3, 4);
  ir::Value* q = convBnRelu(b, "b", x, 3, 6);
  ir::Value* c = b.functional("cat", {p, q}, {{"dim", 1}});
  c = b.batchNorm2d("mix.bn", c, 10);
  ir::Value* y = b.conv2d("mix.conv", c, Conv2dOptions(10, 5, 1));
  auto m = finish(b, head(b, y, 5));

  auto deps = analyzeChannels(*m);
  const ChannelGroup* ga = groupOf(deps, "a.conv");
  const ChannelGroup* gb = groupOf(deps, "b.conv");
  REQUIRE(ga);
  REQUIRE(gb);
  CHECK(ga != gb);
  CHECK(ga->prunable);
  CHECK(gb->prunable);
  auto sb = slicesOf(*gb);
  CHECK(std::count(sb.begin(), sb.end(), "mix.bn.weight:0@4/1") == 1);
  CHECK(std::count(sb.begin(), sb.end(), "mix.conv.weight:1@4/1r") == 1);
  auto sa = slicesOf(*ga);
  CHECK(std::count(sa.begin(), sa.end(), "mix.conv.weight:1@0/1r") == 1);

  auto pruned = pruneBothWays(*m, 0.5);
  CHECK(weightShape(*pruned, "a.conv.weight") == Shape{2, 3, 3, 3});
  CHECK(weightShape(*pruned, "b.conv.weight") == Shape{3, 3, 3, 3});
  CHECK(weightShape(*pruned, "mix.bn.weight") == Shape{5});
  CHECK(weightShape(*pruned, "mix.conv.weight") == Shape{2, 5, 1, 1});  // its own 5 outputs: round(2.5) = 3 pruned
}

TEST_CASE("channel groups: depthwise convs carry channels, grouped convs stop them", "[prune][groups]") {
  ir::ModelBuilder b;
  ir::Value* x = b.input();
  ir::Value* y = convBnRelu(b, "expand", x, 3, 8);
  y = convBnRelu(b, "dw", y, 8, 8, /*groups=*/8);
  y = convBnRelu(b, "project", y, 8, 8);
  y = convBnRelu(b, "grouped", y, 8, 8, /*groups=*/2);
  auto m = finish(b, head(b, y, 8));

  auto deps = analyzeChannels(*m);
  CHECK(deps.depthwise == std::vector<std::string>{"dw.conv"});
  const ChannelGroup* g = groupOf(deps, "expand.conv");
  REQUIRE(g);
  CHECK(g->prunable);
  auto s = slicesOf(*g);
  CHECK(std::count(s.begin(), s.end(), "dw.conv.weight:0@0/1") == 1);
  CHECK(std::count(s.begin(), s.end(), "project.conv.weight:1@0/1r") == 1);
  const ChannelGroup* p = groupOf(deps, "project.conv");
  REQUIRE(p);
  CHECK_FALSE(p->prunable);
  CHECK(p->reason == "barrier at 'grouped.conv' (conv2d)");
  for (const auto& grp : deps.groups) {  // the grouped conv's own outputs
    auto names = slicesOf(grp);
    if (std::count(names.begin(), names.end(), "grouped.bn.weight:0@0/1")) CHECK_FALSE(grp.prunable);
  }

  auto pruned = pruneBothWays(*m, 0.25);
  CHECK(weightShape(*pruned, "dw.conv.weight") == Shape{6, 1, 3, 3});
  CHECK(pruned->graph().findNode("dw.conv")->get<int64_t>("groups") == 6);
  CHECK(weightShape(*pruned, "project.conv.weight") == Shape{8, 6, 3, 3});
  CHECK(weightShape(*pruned, "grouped.conv.weight") == Shape{8, 4, 3, 3});
}

TEST_CASE("channel groups: flatten hands a linear H*W inputs per channel", "[prune][groups]") {
  ir::ModelBuilder b;
  ir::Value* x = b.input();
  ir::Value* y = convBnRelu(b, "c1", x, 3, 4);
  y = b.maxPool2d("pool", y, 2, 2);  // 4x4
  y = b.flatten("flatten", y);
  y = b.linear("fc1", y, 64, 12);
  y = b.relu("fc1.relu", y);
  auto m = finish(b, b.linear("fc2", y, 12, 5));

  auto deps = analyzeChannels(*m);
  const ChannelGroup* g = groupOf(deps, "c1.conv");
  REQUIRE(g);
  CHECK(g->prunable);
  auto s = slicesOf(*g);
  CHECK(std::count(s.begin(), s.end(), "fc1.weight:1@0/16r") == 1);
  const ChannelGroup* h = groupOf(deps, "fc1");
  REQUIRE(h);
  CHECK(h->prunable);

  auto pruned = pruneBothWays(*m, 0.5);
  CHECK(weightShape(*pruned, "fc1.weight") == Shape{6, 32});
  CHECK(weightShape(*pruned, "fc2.weight") == Shape{5, 6});
}

TEST_CASE("channel groups: an SE multiply ties the excitation to the features", "[prune][groups]") {
  ir::ModelBuilder b;
  ir::Value* x = b.input();
  ir::Value* f = convBnRelu(b, "features", x, 3, 8);
  ir::Value* s = b.adaptiveAvgPool2d("se.pool", f, {1, 1});
  s = b.conv2d("se.fc1", s, Conv2dOptions(8, 4, 1));
  s = b.relu("se.relu", s);
  s = b.conv2d("se.fc2", s, Conv2dOptions(4, 8, 1));
  s = b.sigmoid("se.gate", s);
  ir::Value* y = b.functional("mul", {f, s});
  y = convBnRelu(b, "out", y, 8, 6);
  auto m = finish(b, head(b, y, 6));

  auto deps = analyzeChannels(*m);
  const ChannelGroup* g = groupOf(deps, "features.conv");
  REQUIRE(g);
  CHECK(g == groupOf(deps, "se.fc2"));
  CHECK(g->prunable);
  auto sl = slicesOf(*g);
  CHECK(std::count(sl.begin(), sl.end(), "se.fc1.weight:1@0/1r") == 1);
  CHECK(std::count(sl.begin(), sl.end(), "se.fc2.bias:0@0/1") == 1);
  const ChannelGroup* squeeze = groupOf(deps, "se.fc1");
  REQUIRE(squeeze);
  CHECK(squeeze->prunable);

  auto pruned = pruneBothWays(*m, 0.5);
  CHECK(weightShape(*pruned, "se.fc1.weight") == Shape{2, 4, 1, 1});
  CHECK(weightShape(*pruned, "se.fc2.weight") == Shape{4, 2, 1, 1});
  CHECK(weightShape(*pruned, "out.conv.weight") == Shape{3, 4, 3, 3});
}

TEST_CASE("channel groups: graph inputs and outputs are never pruned", "[prune][groups]") {
  ir::ModelBuilder b;
  ir::Value* x = b.input();
  auto m = finish(b, b.conv2d("only", x, Conv2dOptions(3, 4, 1)));
  auto deps = analyzeChannels(*m);
  for (const auto& g : deps.groups) CHECK_FALSE(g.prunable);
  const ChannelGroup* g = groupOf(deps, "only");
  REQUIRE(g);
  CHECK(g->reason == "graph output");
  std::vector<at::Tensor> keeps(deps.groups.size());
  keeps[0] = at::ones({deps.groups[0].channels});
  CHECK_THROWS_WITH(removeChannels(*m, deps, keeps), Catch::Matchers::Contains("is not prunable"));
}

TEST_CASE("channel groups: a weight read by two convs blocks every group it touches", "[prune][groups]") {
  // One conv module called twice (a TorchScript submodule reused): its weight
  // would be sliced along dim 0 by both calls' output groups and along dim 1
  // by both input groups, with different masks, so none of them may prune.
  ir::ModelBuilder b;
  ir::Value* x = b.input();
  ir::Value* a = convBnRelu(b, "l1", x, 3, 8);
  ir::Value* first = b.conv2d("shared", a, Conv2dOptions(8, 8, 3).padding(1).bias(false));
  ir::Value* weight = first->producer()->input(1);
  ir::Value* second =
      b.leaf("shared_again", "Conv2d", "conv2d", {b.relu("r1", first), weight}, first->producer()->attrs());
  ir::Value* y = convBnRelu(b, "l3", b.relu("r2", second), 8, 6);
  auto m = finish(b, head(b, y, 6));
  auto deps = analyzeChannels(*m);
  for (const char* producer : {"l1.conv", "shared", "shared_again"}) {
    const ChannelGroup* g = groupOf(deps, producer);
    REQUIRE(g);
    INFO(producer << ": " << g->reason);
    CHECK_FALSE(g->prunable);
    CHECK(g->reason == "'shared.weight' is read by 2 nodes ('shared', 'shared_again')");
  }
  const ChannelGroup* l3 = groupOf(deps, "l3.conv");
  REQUIRE(l3);
  CHECK(l3->prunable);
  auto removed = pruneBothWays(*m, 0.5);  // only l3 loses channels: 6 -> 3
  CHECK(weightShape(*removed, "shared.weight") == Shape{8, 8, 3, 3});
  CHECK(weightShape(*removed, "l3.conv.weight") == Shape{3, 8, 3, 3});
  CHECK(weightShape(*removed, "fc.weight") == Shape{5, 3});
}

TEST_CASE("channel groups: a conv_transpose2d makes channels along weight dim 1 and reads them along dim 0",
          "[prune][groups]") {
  // nn.ConvTranspose2d's weight is [in, out / groups, kH, kW], the other way
  // round from conv2d: pruning its inputs slices dim 0, its outputs dim 1.
  ir::ModelBuilder b;
  ir::Value* x = b.input();
  ir::Value* a = convBnRelu(b, "l1", x, 3, 8);
  std::vector<ir::Value*> inputs{a};
  {
    auto s = b.module("up", "ConvTranspose2d");
    inputs.push_back(b.parameter("weight", at::randn({8, 6, 2, 2})));
    inputs.push_back(b.parameter("bias", at::zeros({6})));
  }
  ir::Value* y = b.leaf("up", "ConvTranspose2d", "conv_transpose2d", inputs, {{"stride", ir::Ints{2, 2}}});
  y = b.relu("up.relu", b.batchNorm2d("up.bn", y, 6));
  auto m = finish(b, head(b, y, 6));
  auto deps = analyzeChannels(*m);
  const ChannelGroup* l1 = groupOf(deps, "l1.conv");
  const ChannelGroup* up = groupOf(deps, "up");
  REQUIRE(l1);
  REQUIRE(up);
  CHECK(l1->prunable);
  CHECK(up->prunable);
  CHECK(slicesOf(*l1) == std::vector<std::string>{"l1.bn.bias:0@0/1", "l1.bn.running_mean:0@0/1",
                                                  "l1.bn.running_var:0@0/1", "l1.bn.weight:0@0/1",
                                                  "l1.conv.weight:0@0/1", "up.weight:0@0/1r"});
  CHECK(slicesOf(*up) == std::vector<std::string>{"fc.weight:1@0/1r", "up.bias:0@0/1", "up.bn.bias:0@0/1",
                                                  "up.bn.running_mean:0@0/1", "up.bn.running_var:0@0/1",
                                                  "up.bn.weight:0@0/1", "up.weight:1@0/1"});
  auto removed = pruneBothWays(*m, 0.5);  // 8 -> 4 and 6 -> 3
  CHECK(weightShape(*removed, "l1.conv.weight") == Shape{4, 3, 3, 3});
  CHECK(weightShape(*removed, "up.weight") == Shape{4, 3, 2, 2});
  CHECK(weightShape(*removed, "up.bias") == Shape{3});
  CHECK(weightShape(*removed, "up.bn.running_var") == Shape{3});
  CHECK(weightShape(*removed, "fc.weight") == Shape{5, 3});
  CHECK(removed->forward({at::randn(kInput)})[0].sizes() == at::IntArrayRef{2, 5});
}
