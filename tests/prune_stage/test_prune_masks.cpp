// Pruning masks in the graph (plugins/prune/graph_masks.cpp) and the built-in
// parametrizations (plugins/prune/parametrizations.cpp), compiled in: the
// multiplier buffer holds the formula's value at each epoch, gradients reach
// the weight as through weight x mask, and baking leaves an ordinary graph
// with exactly the mask's zeros.
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/builder.h>
#include <edgeopt/plugin.h>
#include <edgeopt/prune/masks.h>
#include <edgeopt/prune/parametrization.h>
#include <edgeopt/prune/schedule.h>

#include <ATen/ATen.h>

#include "prune_plugin.h"
#include "test_support.h"

using namespace edgeopt;
using namespace edgeopt::prune;
using namespace edgeopt::prune_plugin;

namespace {

// x -> conv(3->8, 3x3) -> bn -> relu -> avgpool -> flatten -> linear(8->4)
std::shared_ptr<GraphModule> tinyNet() {
  at::manual_seed(0);
  ir::ModelBuilder b;
  ir::Value* x = b.input("x");
  x = b.conv2d("conv", x, ir::Conv2dOptions(3, 8, 3).padding(1).bias(false));
  x = b.batchNorm2d("bn", x, 8);
  x = b.relu("relu", x);
  x = b.adaptiveAvgPool2d("pool", x, {1, 1});
  x = b.flatten("flatten", x);
  x = b.linear("fc", x, 8, 4);
  b.output({x});
  auto m = b.finish();
  m->setExampleInputShapes({{1, 3, 6, 6}});
  return m;
}

std::unique_ptr<PruningParametrization> make(const std::string& name) {
  PluginRegistrar r("prune");
  registerParametrizations(r);
  Registries regs;
  regs.commit(r);
  const auto* e = regs.of<PruningParametrization>().find(name);
  REQUIRE(e != nullptr);
  return e->factory.create(Options());
}

size_t countOps(const GraphModule& m, const std::string& op) {
  size_t n = 0;
  for (ir::Node* node : m.graph().nodes()) n += node->opcode() == ir::Opcode::Call && node->target() == op;
  return n;
}

}  // namespace

TEST_CASE("prune masks: blend multipliers per epoch equal the formula, gradients flow through weight x mask, bake",
          "[prune][masks]") {
  auto m = tinyNet();
  auto reference = m->clone();
  const at::Tensor w0 = m->tensor("conv.weight").detach().clone();
  const at::Tensor keep = unstructuredMask(w0.abs(), 0.5);
  const MaskNames names = insertMask(*m, "conv.weight", keep, w0.abs());
  m->lint();
  CHECK(names.mask == "conv.weight_prune_mask");
  CHECK(countOps(*m, "mul") == 1);
  // The form channel analysis recognises: mul(Param weight, Param buffer), read by the conv.
  ir::Node* mul = m->graph().findNode(names.mul);
  REQUIRE(mul != nullptr);
  CHECK(mul->input(0)->producer()->target() == "conv.weight");
  CHECK(mul->input(1)->producer()->target() == names.mask);
  CHECK(m->isBuffer(names.mask));
  CHECK(m->graph().findNode("conv")->input(1) == mul->output());
  const auto found = findMasks(*m);
  REQUIRE(found.size() == 1);
  CHECK(found[0].tensor == "conv.weight");
  CHECK(found[0].mul == names.mul);

  // 6 epochs, 2 dense: knee = 2 + floor(2 * 4 / 3) = 4.
  PruneSchedule s;
  s.total_epochs = 6;
  s.init_epochs = 2;
  s.p = 2;
  REQUIRE(s.knee() == 4);
  const double expected[6] = {1, 1, 0.25, 0, 0, 0};  // n = 3: (|3 - 4| / (4 - 2))^2
  auto blend = make("blend");
  for (int64_t epoch = 0; epoch < 6; ++epoch) {
    updateMasks(*m, found, *blend, "blend", s, epoch, MaskGroups::whole());
    const at::Tensor mask = m->tensor(names.mask);
    INFO("epoch " << epoch);
    CHECK(mask.masked_select(keep.eq(1)).eq(1).all().item<bool>());
    const at::Tensor pruned = mask.masked_select(keep.eq(0));
    CHECK(pruned.numel() == pruneCount(w0.numel(), 0.5));
    CHECK(pruned.eq(static_cast<float>(expected[epoch])).all().item<bool>());
    CHECK(static_cast<float>(blendFactor(s, epoch)) == static_cast<float>(expected[epoch]));
  }

  // Gradients at the factor 0.25: the weight's gradient is mask x the
  // gradient of the effective weight, and the output is the reference
  // network's with weight x mask.
  updateMasks(*m, found, *blend, "blend", s, 2, MaskGroups::whole());
  const at::Tensor mask = m->tensor(names.mask).clone();
  {
    at::NoGradGuard g;
    reference->tensor("conv.weight").copy_(w0 * mask);
  }
  at::manual_seed(1);
  const at::Tensor x = at::randn({2, 3, 6, 6});
  m->eval();
  reference->eval();
  const at::Tensor y = m->forward({x})[0];
  const at::Tensor y_ref = reference->forward({x})[0];
  CHECK(at::allclose(y, y_ref, 1e-6, 1e-6));
  y.pow(2).sum().backward();
  y_ref.pow(2).sum().backward();
  const at::Tensor g = m->tensor("conv.weight").grad();
  const at::Tensor g_ref = reference->tensor("conv.weight").grad();
  REQUIRE(g.defined());
  CHECK(at::allclose(g, g_ref * mask, 1e-5, 1e-6));
  CHECK(g.masked_select(keep.eq(0)).abs().max().item<double>() > 0);  // factor 0.25: still learning

  // Bake: the binary mask as zeros, the mul and all three buffers gone.
  updateMasks(*m, found, *blend, "blend", s, 5, MaskGroups::whole());
  const at::Tensor y_binary = m->forward({x})[0].detach();
  bakeMasks(*m, found);
  m->lint();
  CHECK(countOps(*m, "mul") == 0);
  CHECK(findMasks(*m).empty());
  for (const auto& name : {names.mask, names.keep, names.importance}) CHECK_FALSE(m->hasTensor(name));
  CHECK(m->graph().findNode("conv")->input(1)->producer()->target() == "conv.weight");
  const at::Tensor w = m->tensor("conv.weight");
  CHECK((w == 0).sum().item<int64_t>() == pruneCount(w.numel(), 0.5));
  CHECK(at::equal(w.ne(0), keep.ne(0)));
  CHECK(at::allclose(m->forward({x})[0], y_binary, 1e-6, 1e-6));
}

TEST_CASE("prune masks: channel-shaped keep C x 1 x 1 x 1 broadcasts over the weight, shape errors are named",
          "[prune][masks]") {
  auto m = tinyNet();
  const at::Tensor keep = at::tensor({1, 0, 1, 1, 0, 1, 1, 1}, at::kFloat).reshape({8, 1, 1, 1});
  const at::Tensor imp = at::arange(8, at::kDouble).reshape({8, 1, 1, 1});
  const MaskNames names = insertMask(*m, "conv.weight", keep, imp);
  PruneSchedule s;
  s.total_epochs = 4;
  s.init_epochs = 1;  // knee 3
  auto blend = make("blend");
  updateMasks(*m, findMasks(*m), *blend, "blend", s, 1, MaskGroups::whole());  // n = 2: (1/2)^2
  const at::Tensor mask = m->tensor(names.mask);
  CHECK(mask.sizes() == m->tensor("conv.weight").sizes());
  CHECK(mask[1].eq(0.25f).all().item<bool>());
  CHECK(mask[0].eq(1.0f).all().item<bool>());
  // A parametrization returning the wrong shape is an error naming it and the tensor.
  class Wrong : public PruningParametrization {
   public:
    at::Tensor multiplier(const PruneSchedule&, int64_t, const MaskedWeight& w) const override {
      return at::ones({w.keep.numel()});
    }
  } wrong;
  CHECK_THROWS_WITH(updateMasks(*m, findMasks(*m), wrong, "wrong", s, 1, MaskGroups::whole()),
                    Catch::Contains("'wrong'") && Catch::Contains("[8]") && Catch::Contains("conv.weight") &&
                        Catch::Contains("[8, 1, 1, 1]"));
  CHECK_THROWS_WITH(insertMask(*m, "fc.weight", at::ones({3, 8}), at::ones({3, 8})),
                    Catch::Contains("does not broadcast"));
}

TEST_CASE("prune parametrizations: sigmoid and incremental are 1 for the init epochs and the binary mask from the knee",
          "[prune][masks]") {
  at::manual_seed(3);
  const at::Tensor w = at::randn({8, 16, 3, 3});
  const at::Tensor imp = w.abs();
  PruneSchedule s;
  s.total_epochs = 8;
  s.init_epochs = 2;  // knee 6
  for (const auto& [groups, keep] :
       std::vector<std::pair<MaskGroups, at::Tensor>>{{MaskGroups::whole(), unstructuredMask(imp, 0.6)},
                                                      {MaskGroups::nm(4), nmMask(imp, 2, 4)},
                                                      {MaskGroups::perOutputChannel(), perChannelUnstructuredMask(imp, 0.5)}}) {
    const int64_t pruned = (keep == 0).sum().item<int64_t>();
    for (const char* name : {"sigmoid", "incremental", "blend"}) {
      auto p = make(name);
      INFO(name << ", groups " << static_cast<int>(groups.kind));
      const MaskedWeight mw{imp, keep, groups};
      CHECK(at::equal(p->multiplier(s, 0, mw), at::ones_like(keep)));
      CHECK(at::equal(p->multiplier(s, 1, mw), at::ones_like(keep)));
      for (int64_t epoch = 2; epoch < 8; ++epoch) {
        const at::Tensor mult = p->multiplier(s, epoch, mw);
        CHECK(mult.masked_select(keep.eq(1)).eq(1).all().item<bool>());
        CHECK(mult.min().item<double>() >= 0);
        if (epoch + 1 >= s.knee() && std::string(name) != "sigmoid") CHECK(at::equal(mult, keep));
      }
      if (std::string(name) == "incremental") {
        // n = 4: half of the way to the knee: half of the pruned weights are
        // off, the least important ones.
        const at::Tensor mult = p->multiplier(s, 3, mw);
        if (groups.kind != MaskGroups::Kind::OutputChannel) {
          CHECK((mult == 0).sum().item<int64_t>() == pruneCount(pruned, 0.5));
          const double off_max = imp.masked_select(mult.eq(0)).max().item<double>();
          const double still = imp.masked_select(mult.eq(1) & keep.eq(0)).min().item<double>();
          CHECK(off_max <= still);
        } else {
          for (int64_t o = 0; o < 8; ++o)
            CHECK((mult[o] == 0).sum().item<int64_t>() == pruneCount((keep[o] == 0).sum().item<int64_t>(), 0.5));
        }
      }
    }
  }
  // sigmoid: the weights just below the threshold fade last.
  const at::Tensor keep = unstructuredMask(imp, 0.5);
  const at::Tensor mult = make("sigmoid")->multiplier(s, 3, {imp, keep, MaskGroups::whole()});
  const at::Tensor pruned_imp = imp.masked_select(keep.eq(0)), pruned_mult = mult.masked_select(keep.eq(0));
  CHECK(pruned_mult[pruned_imp.argmax()].item<double>() >= pruned_mult[pruned_imp.argmin()].item<double>());
  CHECK(pruned_mult.max().item<double>() > pruned_mult.min().item<double>());
}
