// Zoo models: torchvision names and structure, counts, summary, seeding.
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/summary.h>

#include "ir_test_util.h"
#include "zoo_models.h"

using namespace edgeopt;
using namespace edgeopt::ir;
using Catch::Matchers::Contains;

namespace {
int64_t countOps(const GraphModule& m, const std::string& op) {
  int64_t n = 0;
  for (Node* node : m.graph().nodes()) n += node->opcode() == Opcode::Call && node->target() == op;
  return n;
}
}  // namespace

TEST_CASE("zoo: names and errors", "[ir][zoo]") {
  auto names = zooModelNames();
  for (const char* n : {"mobilenet_v2", "resnet18", "resnet50", "simple_cnn", "efficientnet_b0", "regnet_x_800mf",
                        "yolov5n", "yolov5s"})
    CHECK(std::find(names.begin(), names.end(), n) != names.end());
  REQUIRE_THROWS_AS(buildZooModel("lenet", ZooOptions{}), InputError);
  REQUIRE_THROWS_WITH(buildZooModel("lenet", ZooOptions{}),
                      Contains("zoo: unknown model 'lenet' (known: efficientnet_b0, mobilenet_v2,"));
  ZooOptions bad;
  bad.num_classes = 0;
  REQUIRE_THROWS_AS(buildZooModel("resnet18", bad), InputError);
  CHECK(zoo::makeDivisible(32 * 0.35) == 16);
  CHECK(zoo::makeDivisible(24 * 0.5) == 16);
  CHECK(zoo::makeDivisible(1280 * 1.4) == 1792);
}

// Parameter counts and MACs (conv + linear multiply-accumulates at 224x224)
// equal torchvision's published numbers.
TEST_CASE("zoo: torchvision parameter counts and MACs at 224", "[ir][zoo]") {
  // Conv + linear MACs. torchvision documents "GFLOPS" (counted as MACs) of 0.30
  // (mobilenet_v2), 1.81 (resnet18), 0.22 / 0.06 (mobilenet_v3 large / small), 4.09 (resnet50),
  // 0.39 (efficientnet_b0), 0.80 (regnet_x_800mf); the exact values are from forward hooks
  // on the torchvision models (out.numel() * in / groups * kH * kW, out.numel() * in_features).
  struct Expect { const char* name; int64_t params; int64_t macs; int64_t convs; };
  for (Expect e : {Expect{"mobilenet_v2", 3504872, 300'774'272, 52},
                   Expect{"resnet18", 11689512, 1'814'073'344, 20},
                   Expect{"mobilenet_v3_large", 5483032, 216'589'760, 62},
                   Expect{"mobilenet_v3_small", 2542856, 56'510'400, 52},
                   Expect{"resnet50", 25557032, 4'089'184'256, 53},
                   Expect{"efficientnet_b0", 5288548, 385'814'752, 81},
                   Expect{"regnet_x_800mf", 7259656, 799'699'712, 53}}) {
    INFO(e.name);
    auto m = buildZooModel(e.name, ZooOptions{});
    ModelSummary s = summarize(*m, {1, 3, 224, 224});
    CHECK(s.totalParams == e.params);
    CHECK(s.trainableParams == e.params);
    CHECK(s.totalMacs == e.macs);
    CHECK(countOps(*m, "conv2d") == e.convs);
    CHECK(s.outputShapes == std::vector<Shape>{{1, 1000}});
    int64_t layer_params = 0;
    for (auto& l : s.layers) layer_params += l.params;
    CHECK(layer_params == e.params);  // every parameter is reached by a Param node
  }
}

TEST_CASE("zoo: mobilenet_v2 names, scopes and small-input variant", "[ir][zoo]") {
  auto m = buildZooModel("mobilenet_v2", ZooOptions{});
  for (const char* name : {"features.0.0.weight", "features.0.1.running_var", "features.1.conv.0.0.weight",
                           "features.1.conv.1.weight", "features.2.conv.0.0.weight", "features.2.conv.3.bias",
                           "features.17.conv.2.weight", "features.18.1.num_batches_tracked", "classifier.1.bias"})
    CHECK(m->hasTensor(name));
  Node* bn = m->graph().findNode("features.3.conv.1.1");
  REQUIRE(bn != nullptr);
  CHECK(bn->target() == "batch_norm");
  CHECK(bn->moduleType() == "BatchNorm2d");
  CHECK(bn->scope() == Scope{{"features", "Sequential"},
                             {"features.3", "InvertedResidual"},
                             {"features.3.conv", "Sequential"},
                             {"features.3.conv.1", "Conv2dNormActivation"},
                             {"features.3.conv.1.1", "BatchNorm2d"}});
  Node* add = m->graph().findNode("features.3.add");
  REQUIRE(add != nullptr);
  CHECK(add->moduleType().empty());
  CHECK(add->modulePath() == "features.3");
  CHECK(m->graph().findNode("features.2.add") == nullptr);  // stride 2: no residual
  CHECK(countOps(*m, "add") == 10);
  CHECK(m->graph().findNode("features.2.conv.1.0")->get<Ints>("stride") == Ints{2, 2});

  ZooOptions small;
  small.input_size = 32;
  auto s = buildZooModel("mobilenet_v2", small);
  CHECK(s->graph().findNode("features.0.0")->get<Ints>("stride") == Ints{1, 1});
  CHECK(s->graph().findNode("features.2.conv.1.0")->get<Ints>("stride") == Ints{1, 1});
  CHECK(s->graph().findNode("features.4.conv.1.0")->get<Ints>("stride") == Ints{2, 2});
  summarize(*s, {1, 3, 32, 32});
  CHECK(*s->graph().findNode("features.18.2")->output()->shape() == Shape{1, 1280, 4, 4});  // 32 / 8
}

// The small-input variant keeps every parameter name and shape (torchvision
// weights load) and ends at input/8.
TEST_CASE("zoo: small-input variants keep the state_dict and end at input/8", "[ir][zoo]") {
  struct Expect { const char* name; const char* last_features; int64_t channels; };
  for (Expect e : {Expect{"mobilenet_v2", "features.18.2", 1280}, Expect{"efficientnet_b0", "features.8.2", 1280},
                   Expect{"regnet_x_800mf", "trunk_output.block4.block4-4.activation", 672},
                   Expect{"resnet18", "layer4.1.relu_1", 512}, Expect{"resnet50", "layer4.2.relu_2", 2048}}) {
    INFO(e.name);
    ZooOptions o;
    o.num_classes = 10;
    auto full = buildZooModel(e.name, o);
    o.input_size = 32;
    auto small = buildZooModel(e.name, o);
    auto a = full->stateDict(), b = small->stateDict();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].first == b[i].first);
      CHECK(a[i].second.sizes() == b[i].second.sizes());
    }
    ModelSummary s = summarize(*small, {1, 3, 32, 32});
    CHECK(s.outputShapes == std::vector<Shape>{{1, 10}});
    Node* last = small->graph().findNode(e.last_features);
    REQUIRE(last != nullptr);
    CHECK(*last->output()->shape() == Shape{1, e.channels, 4, 4});
    summarize(*full, {1, 3, 224, 224});
    CHECK(*full->graph().findNode(e.last_features)->output()->shape() == Shape{1, e.channels, 7, 7});
  }
  ZooOptions small;
  small.input_size = 64;
  CHECK(buildZooModel("resnet18", small)->graph().findNode("maxpool") == nullptr);
  CHECK(buildZooModel("resnet18", small)->graph().findNode("conv1")->get<Ints>("stride") == Ints{1, 1});
  CHECK(buildZooModel("resnet18", ZooOptions{})->graph().findNode("maxpool") != nullptr);
  auto eff = buildZooModel("efficientnet_b0", small);
  CHECK(eff->graph().findNode("features.0.0")->get<Ints>("stride") == Ints{1, 1});
  CHECK(eff->graph().findNode("features.2.0.block.1.0")->get<Ints>("stride") == Ints{1, 1});
  CHECK(eff->graph().findNode("features.3.0.block.1.0")->get<Ints>("stride") == Ints{2, 2});
  auto reg = buildZooModel("regnet_x_800mf", small);
  CHECK(reg->graph().findNode("stem.0")->get<Ints>("stride") == Ints{1, 1});
  CHECK(reg->graph().findNode("trunk_output.block1.block1-0.f.b.0")->get<Ints>("stride") == Ints{1, 1});
  CHECK(reg->graph().findNode("trunk_output.block2.block2-0.proj.0")->get<Ints>("stride") == Ints{2, 2});
  // simple_cnn is the small-input design; larger inputs get a stride-2 first conv.
  CHECK(buildZooModel("simple_cnn", small)->graph().findNode("features.0")->get<Ints>("stride") == Ints{1, 1});
  auto cnn = buildZooModel("simple_cnn", ZooOptions{});
  CHECK(cnn->graph().findNode("features.0")->get<Ints>("stride") == Ints{2, 2});
  summarize(*cnn, {1, 3, 224, 224});
  CHECK(*cnn->graph().findNode("features.6")->output()->shape() == Shape{1, 32, 56, 56});
}

TEST_CASE("zoo: efficientnet_b0 and regnet_x_800mf names and modules", "[ir][zoo]") {
  auto eff = buildZooModel("efficientnet_b0", ZooOptions{});
  for (const char* name : {"features.0.0.weight", "features.1.0.block.0.0.weight", "features.1.0.block.1.fc1.bias",
                           "features.1.0.block.2.1.running_var", "features.2.0.block.0.0.weight",
                           "features.2.0.block.2.fc2.weight", "features.7.0.block.3.0.weight",
                           "features.8.1.num_batches_tracked", "classifier.1.weight"})
    CHECK(eff->hasTensor(name));
  // Stochastic depth only on residual blocks, p = 0.2 * block index / 16.
  CHECK(eff->graph().findNode("features.2.0.stochastic_depth") == nullptr);
  Node* sd = eff->graph().findNode("features.6.3.stochastic_depth");
  REQUIRE(sd != nullptr);
  CHECK(sd->moduleType() == "StochasticDepth");
  CHECK(sd->get<double>("p") == Approx(0.2 * 14 / 16));
  CHECK(countOps(*eff, "stochastic_depth") == 9);
  CHECK(countOps(*eff, "sigmoid") == 16);
  CHECK(eff->graph().findNode("features.1.0.block.1.scale_activation")->moduleType() == "Sigmoid");
  // EfficientNet's Linear init: U(+-1/sqrt(out_features)), zero bias.
  CHECK(eff->tensor("classifier.1.weight").abs().max().item<double>() <= 1 / std::sqrt(1000.0));
  CHECK(eff->tensor("classifier.1.weight").abs().max().item<double>() > 0.9 / std::sqrt(1000.0));
  CHECK(eff->tensor("classifier.1.bias").eq(0).all().item<bool>());

  auto reg = buildZooModel("regnet_x_800mf", ZooOptions{});
  for (const char* name : {"stem.0.weight", "trunk_output.block1.block1-0.proj.0.weight",
                           "trunk_output.block1.block1-0.f.a.0.weight", "trunk_output.block3.block3-6.f.c.1.bias",
                           "trunk_output.block4.block4-4.f.b.0.weight", "fc.weight"})
    CHECK(reg->hasTensor(name));
  CHECK_FALSE(reg->hasTensor("trunk_output.block2.block2-1.proj.0.weight"));
  CHECK(reg->graph().findNode("trunk_output.block3.block3-2.f.b.0")->get<int64_t>("groups") == 288 / 16);
  CHECK(reg->graph().findNode("stem.0")->scope().front() == ScopeEntry{"stem", "SimpleStemIN"});
}

TEST_CASE("zoo: resnet names reuse the block's relu module", "[ir][zoo]") {
  auto m = buildZooModel("resnet18", ZooOptions{});
  for (const char* name : {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                           "layer2.0.downsample.1.bias", "layer4.1.bn2.weight", "fc.weight", "fc.bias"})
    CHECK(m->hasTensor(name));
  CHECK_FALSE(m->hasTensor("layer1.0.downsample.0.weight"));
  Node* second = m->graph().findNode("layer1.0.relu_1");
  REQUIRE(second != nullptr);
  CHECK(second->modulePath() == "layer1.0.relu");
  CHECK(second->input(0)->producer()->name() == "layer1.0.add");
  auto r50 = buildZooModel("resnet50", ZooOptions{});
  CHECK(r50->tensor("layer1.0.conv3.weight").sizes().vec() == Shape{256, 64, 1, 1});
  CHECK(r50->tensor("layer3.0.conv2.weight").sizes().vec() == Shape{256, 256, 3, 3});
}

TEST_CASE("zoo: at::manual_seed makes models reproducible", "[ir][zoo]") {
  ZooOptions o;
  o.num_classes = 10;
  at::manual_seed(7);
  auto a = buildZooModel("resnet18", o);
  at::manual_seed(7);
  auto b = buildZooModel("resnet18", o);
  auto sa = a->stateDict(), sb = b->stateDict();
  for (size_t i = 0; i < sa.size(); ++i) CHECK(at::equal(sa[i].second, sb[i].second));
  // torchvision init: conv std sqrt(2 / fan_out), BN 1/0, Linear U(+-1/sqrt(in)).
  at::Tensor w = a->tensor("layer3.0.conv1.weight");
  double expected_std = std::sqrt(2.0 / (256 * 9));
  CHECK(std::abs(w.std().item<double>() / expected_std - 1) < 0.02);
  CHECK(a->tensor("layer3.0.bn1.weight").eq(1).all().item<bool>());
  CHECK(a->tensor("fc.weight").abs().max().item<double>() <= 1 / std::sqrt(512.0));
}

TEST_CASE("summary: table with per-layer rows and totals", "[ir][summary]") {
  ZooOptions o;
  o.num_classes = 10;
  o.input_size = 32;
  auto m = buildZooModel("simple_cnn", o);
  ModelSummary s = summarize(*m, {2, 3, 32, 32});
  REQUIRE(s.layers.size() == 10);
  CHECK(s.layers[0].name == "features.0");
  CHECK(s.layers[0].op == "conv2d");
  CHECK(s.layers[0].moduleType == "Conv2d");
  CHECK(s.layers[0].outputShape == Shape{2, 16, 32, 32});
  CHECK(s.layers[0].params == 16 * 3 * 9);
  CHECK(s.layers[0].macs == 2 * 16 * 32 * 32 * 3 * 9);
  CHECK(s.layers[4].macs == 2 * 32 * 16 * 16 * 16 * 9);
  CHECK(s.layers[9].macs == 2 * 10 * 32);
  CHECK(s.totalParams == 432 + 32 + 4608 + 64 + 330);
  CHECK(s.totalMacs == 2 * (16 * 32 * 32 * 27 + 32 * 16 * 16 * 144 + 320));
  std::string table = formatSummary(s);
  CHECK_THAT(table, Contains("features.0") && Contains("Conv2d (conv2d)") && Contains("[2, 16, 32, 32]"));
  CHECK_THAT(table, Contains("Total params: 5,466"));
  CHECK_THAT(table, Contains("Total MACs: 3,244,672 (3.24 M)"));
  CHECK_THAT(table, Contains("flatten"));
}
