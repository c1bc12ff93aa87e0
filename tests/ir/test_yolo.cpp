// The YOLOv5-style detector (plugins/zoo/yolo.cpp): names, head shapes,
// parameter counts and MACs against ultralytics' published numbers and the
// PyTorch reference (yolo_reference.py), init and seeding. Its numerical
// equivalence with the reference is in test_torchvision.cpp.
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/summary.h>

#include "ir_test_util.h"
#include "test_support.h"
#include "zoo_models.h"

#include <cmath>

using namespace edgeopt;
using namespace edgeopt::ir;
using Catch::Matchers::Contains;

namespace {
ZooOptions yoloOptions(int64_t num_classes, int64_t input_size) {
  ZooOptions o;
  o.num_classes = num_classes;
  o.input_size = input_size;
  return o;
}
}  // namespace

// Parameters at 80 classes are ultralytics' (yolov5n.yaml: 1,872,157; yolov5s.yaml:
// 7,235,389); conv MACs at 320x320 are yolo_reference.macs() (4.47 / 16.43 GFLOPs
// at 640 as ultralytics prints them, FLOPs = 2 x MACs).
TEST_CASE("yolo: parameter counts, MACs and head shapes at 320x320", "[ir][zoo][yolo]") {
  struct Expect { const char* name; int64_t params; int64_t macs; };
  for (Expect e : {Expect{"yolov5n", 1'872'157, 558'515'200}, Expect{"yolov5s", 7'235'389, 2'054'195'200}}) {
    INFO(e.name);
    auto m = buildZooModel(e.name, yoloOptions(80, 320));
    ModelSummary s = summarize(*m, {1, 3, 320, 320});
    CHECK(s.totalParams == e.params);
    CHECK(s.totalMacs == e.macs);
    CHECK(s.outputShapes == std::vector<Shape>{{1, 255, 40, 40}, {1, 255, 20, 20}, {1, 255, 10, 10}});
    int64_t layer_params = 0;
    for (auto& l : s.layers) layer_params += l.params;
    CHECK(layer_params == e.params);
  }
}

TEST_CASE("yolo: forward at 320x320 and 64x64 gives the three raw head maps", "[ir][zoo][yolo]") {
  at::manual_seed(0);
  auto m = buildZooModel("yolov5n", yoloOptions(3, 320));
  m->eval();
  at::NoGradGuard no_grad;
  for (int64_t size : {320, 64}) {
    INFO(size);
    auto out = m->forward({at::randn({2, 3, size, size})});
    REQUIRE(out.size() == 3);
    for (int64_t i = 0; i < 3; ++i)
      CHECK(out[i].sizes().vec() == Shape{2, 3 * (5 + 3), size / (8 << i), size / (8 << i)});
  }
}

TEST_CASE("yolo: ultralytics names, the k6 stem, SPPF and the neck", "[ir][zoo][yolo]") {
  auto m = buildZooModel("yolov5n", yoloOptions(80, 640));
  for (const char* name : {"model.0.conv.weight", "model.0.bn.running_var", "model.2.cv1.conv.weight",
                           "model.2.m.0.cv2.bn.bias", "model.6.m.2.cv1.conv.weight", "model.9.cv2.conv.weight",
                           "model.13.cv3.bn.weight", "model.23.m.0.cv2.conv.weight", "model.24.m.0.weight",
                           "model.24.m.2.bias", "model.24.anchors"})
    CHECK(m->hasTensor(name));
  CHECK_FALSE(m->hasTensor("model.6.m.3.cv1.conv.weight"));  // 9 * 0.33 -> 3 bottlenecks
  CHECK(m->tensor("model.0.conv.weight").sizes().vec() == Shape{16, 3, 6, 6});
  CHECK(m->tensor("model.24.m.2.weight").sizes().vec() == Shape{255, 256, 1, 1});

  Node* stem = m->graph().findNode("model.0.conv");
  REQUIRE(stem != nullptr);
  CHECK(stem->get<Ints>("stride") == Ints{2, 2});
  CHECK(stem->get<Ints>("padding") == Ints{2, 2});
  CHECK(stem->scope() == Scope{{"model", "Sequential"}, {"model.0", "Conv"}, {"model.0.conv", "Conv2d"}});
  CHECK(m->graph().findNode("model.0.act")->target() == "silu");
  CHECK(m->graph().findNode("model.0.bn")->get<double>("eps") == 1e-3);
  CHECK(m->graph().findNode("model.0.bn")->get<double>("momentum") == 0.03);

  // SPPF: one 5x5 stride-1 pool module called three times.
  for (const char* name : {"model.9.m", "model.9.m_1", "model.9.m_2"}) {
    Node* pool = m->graph().findNode(name);
    REQUIRE(pool != nullptr);
    CHECK(pool->target() == "max_pool2d");
    CHECK(pool->get<Ints>("kernel_size") == Ints{5, 5});
    CHECK(pool->get<Ints>("stride") == Ints{1, 1});
    CHECK(pool->modulePath() == "model.9.m");
  }
  CHECK(m->graph().findNode("model.9.cat")->numInputs() == 4);

  Node* up = m->graph().findNode("model.11");
  REQUIRE(up != nullptr);
  CHECK(up->target() == "interpolate");
  CHECK(up->moduleType() == "Upsample");
  CHECK(up->get<Doubles>("scale_factor") == Doubles{2.0, 2.0});
  CHECK(up->get<std::string>("mode") == "nearest");
  Node* cat = m->graph().findNode("model.12");
  CHECK(cat->moduleType() == "Concat");
  CHECK(cat->input(1)->producer()->name() == "model.6.cv3.act");  // P4 from the backbone
  CHECK(m->graph().findNode("model.22")->input(1)->producer()->name() == "model.10.act");
  CHECK(m->graph().findNode("model.2.m.0.add") != nullptr);   // backbone C3: shortcuts
  CHECK(m->graph().findNode("model.13.m.0.add") == nullptr);  // neck C3: none
  int64_t silu = 0, conv = 0;
  for (Node* n : m->graph().nodes()) {
    silu += n->target() == "silu";
    conv += n->target() == "conv2d";
  }
  CHECK(conv == 60);
  CHECK(silu == 57);  // every conv but the three heads
}

TEST_CASE("yolo: options, init and seeding", "[ir][zoo][yolo]") {
  at::manual_seed(3);
  auto a = buildZooModel("yolov5n", yoloOptions(80, 640));
  at::manual_seed(3);
  auto b = buildZooModel("yolov5n", yoloOptions(80, 640));
  auto sa = a->stateDict(), sb = b->stateDict();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) CHECK(at::equal(sa[i].second, sb[i].second));

  // PyTorch's default conv init U(+-1/sqrt(fan_in)); Detect's bias priors.
  at::Tensor w = a->tensor("model.8.cv3.conv.weight");
  CHECK(w.abs().max().item<double>() <= 1 / std::sqrt(256.0));
  at::Tensor bias = a->tensor("model.24.m.0.bias").view({3, 85});
  double bound = 1 / std::sqrt(64.0);
  double objectness = std::log(8.0 / std::pow(640.0 / 8, 2)), cls = std::log(0.6 / (80 - 0.99));
  CHECK(((bias.select(1, 4) - objectness).abs() <= bound).all().item<bool>());
  CHECK(((bias.narrow(1, 5, 80) - cls).abs() <= bound).all().item<bool>());
  CHECK((bias.narrow(1, 0, 4).abs() <= bound).all().item<bool>());
  at::Tensor anchors = a->tensor("model.24.anchors");
  CHECK(anchors.sizes().vec() == Shape{3, 3, 2});
  CHECK(anchors[0][0][0].item<double>() == Approx(10.0 / 8));
  CHECK(anchors[2][2][1].item<double>() == Approx(326.0 / 32));
  CHECK(a->exampleInputShapes() == std::vector<Shape>{{1, 3, 640, 640}});

  ZooOptions wide = yoloOptions(2, 64);
  wide.width_mult = 2.0;  // yolov5n x2 = yolov5s widths
  wide.in_channels = 1;
  auto c = buildZooModel("yolov5n", wide);
  CHECK(c->tensor("model.0.conv.weight").sizes().vec() == Shape{32, 1, 6, 6});
  CHECK(c->tensor("model.24.m.1.weight").sizes().vec() == Shape{21, 256, 1, 1});
  REQUIRE_THROWS_AS(buildZooModel("yolov5s", yoloOptions(80, 100)), InputError);
  REQUIRE_THROWS_WITH(buildZooModel("yolov5s", yoloOptions(80, 100)),
                      Contains("yolov5 needs input_size to be a multiple of 32 (its largest stride), got 100"));
}

TEST_CASE("yolo: save/load keeps the three outputs, the anchors and the upsample scales", "[ir][zoo][yolo]") {
  at::manual_seed(4);
  auto m = buildZooModel("yolov5n", yoloOptions(5, 64));
  std::string path = test::scratchDir("ir_yolo") + "/yolov5n.edgeopt";
  m->save(path);
  auto loaded = GraphModule::load(path);
  CHECK(at::equal(loaded->tensor("model.24.anchors"), m->tensor("model.24.anchors")));
  CHECK(loaded->graph().findNode("model.15")->get<Doubles>("scale_factor") == Doubles{2.0, 2.0});
  m->eval();
  loaded->eval();
  at::NoGradGuard no_grad;
  at::Tensor x = at::randn({1, 3, 64, 64});
  auto a = m->forward({x}), b = loaded->forward({x});
  REQUIRE(b.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(at::equal(a[i], b[i]));
}
