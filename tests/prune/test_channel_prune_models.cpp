// Channel pruning with physical removal on whole networks: the zoo's
// resnet18/50, mobilenet_v2/v3, efficientnet_b0, regnet_x and yolov5n, and
// torchvision's shufflenet_v2, densenet121 and regnet_y (scripted by
// make_prune_fixtures.py, imported from TorchScript). For each: 30 % of every
// prunable group's channels (FPGM); the masked model and the physically
// pruned one give the same outputs, the pruned one has fewer MACs, trains
// (one SGD step, gradients of the new shapes) and exports to ONNX that ONNX
// Runtime runs with the same outputs.
#include "export_test_util.h"  // first: ATen's glog CHECK must come before Catch's
#include "ort_runner.h"
#include "python_fixtures.h"

#include <edgeopt/ir/shape_prop.h>
#include <edgeopt/ir/summary.h>
#include <edgeopt/model_source.h>
#include <edgeopt/prune/channel_groups.h>
#include <edgeopt/prune/masks.h>

#include <cstdio>

using namespace edgeopt;
using namespace edgeopt::test;
using namespace edgeopt::prune;

namespace {

constexpr int64_t kSize = 64;

std::shared_ptr<GraphModule> torchvisionModel(const std::string& name) {
  static const std::string dir =
      pythonFixtureDir(std::string(EDGEOPT_SOURCE_DIR) + "/tests/prune/make_prune_fixtures.py",
                       std::string(EDGEOPT_TEST_WORK_DIR) + "/fixtures");
  loadBuiltinPlugin("torchscript");
  const auto* entry = registries().of<ModelSource>().find("torchscript");
  REQUIRE(entry);
  auto yaml = "path: " + dir + "/" + name + ".script.pt\ninput_shape: [1, 3, " + std::to_string(kSize) + ", " +
              std::to_string(kSize) + "]\n";
  auto m = entry->factory.create(entry->factory.options.validate(ConfigNode::parse(yaml, "model"), "model"))->load();
  m->eval();
  return m;
}

struct Pruned {
  size_t prunable = 0;
  double mac_ratio = 1;
};

Pruned pruneAndCheck(const std::string& label, std::shared_ptr<GraphModule> m) {
  const ir::Shape input{1, 3, kSize, kSize};
  m->setExampleInputShapes({input});
  const int64_t macs_before = ir::summarize(*m, input).totalMacs;  // propagates shapes
  auto deps = analyzeChannels(*m);
  Pruned result;
  std::vector<at::Tensor> keeps;
  auto masked = m->clone();
  for (const auto& g : deps.groups) {
    if (!g.prunable || g.channels < 4) {
      keeps.emplace_back();
      continue;
    }
    ++result.prunable;
    keeps.push_back(channelMask(groupImportance(*m, g, ChannelCriterion::Fpgm), 0.3));
    maskChannels(*masked, g, keeps.back());
  }
  auto pruned = m->clone();
  removeChannels(*pruned, deps, keeps);
  pruned->lint();
  result.mac_ratio = double(ir::summarize(*pruned, input).totalMacs) / double(macs_before);

  at::manual_seed(1);
  const at::Tensor x = at::randn({2, 3, kSize, kSize});
  masked->eval();
  pruned->eval();
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> a = masked->forward({x}), b = pruned->forward({x});
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const double scale = std::max(1.0, a[i].abs().max().item<double>());
    INFO(label << " output " << i << ": max |masked - pruned| " << maxAbsDiff(a[i], b[i]) << ", scale " << scale);
    CHECK(maxAbsDiff(a[i], b[i]) <= 1e-5 * scale);
  }
  std::printf("%s: %zu prunable groups of %zu, MACs %.1f %% of dense\n", label.c_str(), result.prunable,
              deps.groups.size(), 100 * result.mac_ratio);

  // The pruned model is an ordinary one: it trains and exports.
  {
    at::GradMode::set_enabled(true);
    auto trainable = pruned->clone();
    trainable->train();
    at::Tensor loss = at::zeros({});
    for (const at::Tensor& out : trainable->forward({x})) loss = loss + out.pow(2).mean();  // every head
    loss.backward();
    for (const auto& [name, p] : trainable->namedParameters()) {
      INFO(label << ": " << name);
      REQUIRE(p.grad().defined());
      CHECK(p.grad().sizes() == p.sizes());
    }
    at::GradMode::set_enabled(false);
  }
  loadBuiltinPlugin("onnx_export");
  const std::string dir = scratchDir("prune-" + label);
  makeExporter("onnx")->write(*pruned, dir + "/pruned.onnx");
  writeFloats(dir + "/x.bin", x);
  std::vector<double> diffs = runInOrt(dir, {{dir + "/pruned.onnx", label, b}}, dir + "/x.bin", x.sizes());
  INFO(label << ": ONNX Runtime vs EdgeOpt " << diffs[0]);
  CHECK(diffs[0] <= 1e-4 * std::max(1.0, maxAbs(b)));
  return result;
}

}  // namespace

TEST_CASE("channel pruning: zoo models (resnet mobilenet efficientnet regnet yolov5n)", "[prune][models]") {
  struct Case {
    const char* name;
    size_t prunable;
  };
  // Prunable groups, counted by hand from the architectures: resnet18: 8 block-inner convs + 4 residual
  // streams (the stem joins layer1's); resnet50: 32 inner + 4 streams + the stem; mobilenet_v2: 16 expand
  // convs (each with its depthwise) + the stem (with block 0's depthwise) + 7 streams + the 1280 head;
  // efficientnet_b0: 15 expand + 16 SE squeeze + 7 streams + stem + head; regnet_x: grouped convs stop
  // their blocks' channels, leaving the stem and 4 streams.
  for (const Case c : {Case{"resnet18", 12}, Case{"resnet50", 37}, Case{"mobilenet_v2", 25},
                       Case{"mobilenet_v3_large", 30}, Case{"efficientnet_b0", 40}, Case{"regnet_x_800mf", 5},
                       Case{"yolov5n", 50}}) {
    SECTION(c.name) {
      Pruned p = pruneAndCheck(c.name, zooModel(c.name, kSize));
      CHECK(p.prunable == c.prunable);
      CHECK(p.mac_ratio < 0.8);
    }
  }
}

TEST_CASE("channel pruning: torchvision shufflenet_v2 densenet121 regnet_y from TorchScript", "[prune][models]") {
  struct Case {
    const char* name;
    size_t prunable;
  };
  // densenet121: 58 bottlenecks + 58 growth outputs (each at its offset in every later concat) + stem +
  // 3 transitions; regnet_y: 16 SE squeezes + stem + 4 streams; shufflenet: the channel split and shuffle
  // are barriers, the branches' inner convs are not.
  for (const Case c : {Case{"shufflenet_v2_x0_5", 18}, Case{"densenet121", 120}, Case{"regnet_y_400mf", 21}}) {
    SECTION(c.name) {
      Pruned p = pruneAndCheck(c.name, torchvisionModel(c.name));
      CHECK(p.prunable == c.prunable);
      CHECK(p.mac_ratio < 0.9);
    }
  }
}
