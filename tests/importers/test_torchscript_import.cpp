// The "torchscript" model source against PyTorch: scripted torchvision models
// import with torchvision's names, reproduce PyTorch's eval output and one SGD
// step; traced files import for inference only; broken files are InputErrors.
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/graph.h>

#include "cli_runner.h"
#include "importer_test_util.h"
#include "script_parity.h"

#include <ATen/Parallel.h>

using namespace edgeopt;
using edgeopt::test::importerFixtureDir;
using edgeopt::test::loadModel;
using edgeopt::test::loadPickle;
using edgeopt::test::checkNames;
using edgeopt::test::maxAbsDiff;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::string fixture(const std::string& file) { return importerFixtureDir() + "/" + file; }

std::shared_ptr<GraphModule> importScript(const std::string& file, const std::string& mode = "train") {
  return loadModel("torchscript", "{path: '" + fixture(file) + "', mode: " + mode + "}");
}

int64_t countOps(const GraphModule& m, const std::string& op) {
  int64_t n = 0;
  for (ir::Node* node : m.graph().nodes()) n += node->opcode() == ir::Opcode::Call && node->target() == op;
  return n;
}

void checkEquivalence(const std::string& model) { test::checkScriptParity(fixture(model)); }

}  // namespace

TEST_CASE("torchscript: scripted mobilenet_v2 matches PyTorch (eval, one SGD step)", "[importers][torchscript]") {
  checkEquivalence("mobilenet_v2");
  auto m = importScript("mobilenet_v2.script.pt");
  ir::Node* bn = m->graph().findNode("features.3.conv.1.1");
  REQUIRE(bn != nullptr);
  CHECK(bn->target() == "batch_norm");
  CHECK(bn->moduleType() == "BatchNorm2d");
  CHECK(bn->scope() == ir::Scope{{"features", "Sequential"},
                                 {"features.3", "InvertedResidual"},
                                 {"features.3.conv", "Sequential"},
                                 {"features.3.conv.1", "Conv2dNormActivation"},
                                 {"features.3.conv.1.1", "BatchNorm2d"}});
  CHECK(bn->numInputs() == 6);  // num_batches_tracked counts training steps
  ir::Node* relu6 = m->graph().findNode("features.3.conv.1.2");
  REQUIRE(relu6 != nullptr);
  CHECK(relu6->target() == "relu6");
  CHECK(relu6->moduleType() == "ReLU6");
  ir::Node* add = m->graph().findNode("features.3.add");
  REQUIRE(add != nullptr);
  CHECK(add->moduleType().empty());
  CHECK(add->modulePath() == "features.3");
  CHECK(m->graph().findNode("features.2.add") == nullptr);  // stride 2: no residual
  CHECK(countOps(*m, "conv2d") == 52);
  CHECK(countOps(*m, "batch_norm") == 52);
  CHECK(countOps(*m, "add") == 10);
  CHECK(m->graph().findNode("classifier.1") != nullptr);
  CHECK(m->graph().findNode("classifier.0")->target() == "dropout");
  CHECK(m->graph().findNode("adaptive_avg_pool2d") != nullptr);  // functional call in forward
}

TEST_CASE("torchscript: scripted mobilenet_v3_large matches PyTorch", "[importers][torchscript]") {
  checkEquivalence("mobilenet_v3_large");
  auto m = importScript("mobilenet_v3_large.script.pt");
  CHECK(m->graph().findNode("features.4.block.1.0")->moduleType() == "Conv2d");
  CHECK(m->graph().findNode("features.4.block.2.fc1")->moduleType() == "Conv2d");
  CHECK(m->graph().findNode("features.4.block.2.scale_activation")->target() == "hardsigmoid");
  CHECK(m->graph().findNode("features.4.block.2.mul")->moduleType().empty());
}

TEST_CASE("torchscript: scripted resnet18 matches PyTorch", "[importers][torchscript]") {
  checkEquivalence("resnet18");
  auto m = importScript("resnet18.script.pt");
  // BasicBlock calls its one ReLU module twice.
  CHECK(m->graph().findNode("layer1.0.relu")->target() == "relu");
  CHECK(m->graph().findNode("layer1.0.relu_1")->modulePath() == "layer1.0.relu");
  CHECK(m->graph().findNode("layer2.0.downsample.0")->moduleType() == "Conv2d");
  CHECK(m->graph().findNode("maxpool")->target() == "max_pool2d");
}

TEST_CASE("torchscript: scripted resnet50 matches PyTorch", "[importers][torchscript]") {
  checkEquivalence("resnet50");
}

TEST_CASE("torchscript: scripted efficientnet_b0 matches PyTorch", "[importers][torchscript]") {
  checkEquivalence("efficientnet_b0");
  // StochasticDepth modules of the residual blocks are kept in both modes
  // (identity in eval), with torchvision's p (0.2 * block index / 16).
  for (std::string mode : {"train", "eval"}) {
    auto m = importScript("efficientnet_b0.script.pt", mode);
    CHECK(m->isTraining() == (mode == "train"));
    CHECK(countOps(*m, "dropout") == 1);
    CHECK(countOps(*m, "stochastic_depth") == 9);
    ir::Node* sd = m->graph().findNode("features.2.1.stochastic_depth");
    REQUIRE(sd != nullptr);
    CHECK(sd->target() == "stochastic_depth");
    CHECK(sd->moduleType() == "StochasticDepth");
    CHECK(sd->get<double>("p") == Approx(0.2 * 2 / 16));
    CHECK(sd->get<std::string>("mode") == "row");
  }
}

TEST_CASE("torchscript: scripted regnet_x_800mf matches PyTorch", "[importers][torchscript]") {
  checkEquivalence("regnet_x_800mf");
}

TEST_CASE("torchscript: eval mode, input_shape", "[importers][torchscript]") {
  at::set_num_threads(1);
  auto m = loadModel("torchscript",
                     "{path: '" + fixture("mobilenet_v2.script.pt") + "', mode: eval, input_shape: [2, 3, 64, 64]}");
  CHECK_FALSE(m->isTraining());
  REQUIRE(m->graph().inputs().size() == 1);
  REQUIRE(m->graph().inputs()[0]->shape());
  CHECK(*m->graph().inputs()[0]->shape() == ir::Shape{2, 3, 64, 64});
  CHECK(m->exampleInputShapes() == std::vector<ir::Shape>{{2, 3, 64, 64}});
  auto ref = loadPickle(fixture("mobilenet_v2.ref.pt"));
  at::NoGradGuard no_grad;
  CHECK(maxAbsDiff(m->forward({ref.at("x").toTensor()})[0], ref.at("eval_out").toTensor()) < 1e-5);
}

TEST_CASE("torchscript: traced files import for inference and refuse to train", "[importers][torchscript]") {
  at::set_num_threads(1);
  for (std::string model : {"mobilenet_v2", "resnet18"}) {
    INFO(model);
    auto ref = loadPickle(fixture(model + ".ref.pt"));
    auto m = importScript(model + ".traced.pt", "eval");
    checkNames(*m);
    {
      at::NoGradGuard no_grad;
      double d = maxAbsDiff(m->forward({ref.at("x").toTensor()})[0], ref.at("eval_out").toTensor());
      WARN(model << " traced: eval max abs diff " << d);
      CHECK(d < 1e-5);
    }
    const std::string path = fixture(model + ".traced.pt");
    EDGEOPT_REQUIRE_THROWS_MESSAGE(
        importScript(model + ".traced.pt", "train"), InputError,
        path + ": this file was made by torch.jit.trace, which bakes training=False into its batch_norm/dropout "
               "calls, so it can't be trained; import it with mode: eval for inference, or save the model with "
               "torch.jit.script to train it");
  }
  auto m = importScript("mobilenet_v2.traced.pt", "eval");
  CHECK(m->graph().findNode("features.3.conv.1.1")->moduleType() == "BatchNorm2d");
  CHECK(countOps(*m, "conv2d") == 52);
}

TEST_CASE("torchscript: run-time sizes (x.view(x.size(0), -1)) and tuple outputs", "[importers][torchscript]") {
  auto ref = loadPickle(fixture("view_net.ref.pt"));
  for (std::string file : {"view_net.script.pt", "view_net.traced.pt"}) {
    INFO(file);
    auto m = importScript(file, "eval");
    CHECK(countOps(*m, "flatten") == 1);
    at::NoGradGuard no_grad;
    at::Tensor x = ref.at("x").toTensor();
    auto out = m->forward({x});
    REQUIRE(out.size() == 2);
    CHECK(maxAbsDiff(out[0], ref.at("out0").toTensor()) < 1e-6);
    CHECK(maxAbsDiff(out[1], ref.at("out1").toTensor()) < 1e-6);
  }
}

TEST_CASE("torchscript: shapes computed from x.size() import with input_shape", "[importers][torchscript]") {
  at::set_num_threads(1);
  const std::string path = fixture("shufflenet_v2_x0_5.script.pt");
  REQUIRE_THROWS_WITH(importScript("shufflenet_v2_x0_5.script.pt", "eval"),
                      StartsWith(path + ": unsupported TorchScript operations") &&
                          Contains("aten::view at 'stage2.0' (shufflenetv2.py:") && Contains("need input_shape"));
  auto m = loadModel("torchscript", "{path: '" + path + "', mode: eval, input_shape: [2, 3, 64, 64]}");
  checkNames(*m);
  auto ref = loadPickle(fixture("shufflenet_v2_x0_5.ref.pt"));
  at::Tensor x = ref.at("x").toTensor();
  at::NoGradGuard no_grad;
  double d = maxAbsDiff(m->forward({x})[0], ref.at("eval_out").toTensor());
  WARN("shufflenet_v2_x0_5 (input_shape given): eval max abs diff " << d);
  CHECK(d < 1e-5);
  // The batch size stays free: only the other sizes were fixed by input_shape.
  CHECK(maxAbsDiff(m->forward({x.slice(0, 1, 2)})[0], ref.at("eval_out").toTensor().slice(0, 1, 2)) < 1e-5);
}

TEST_CASE("torchscript: unsupported ops are listed, each with a node", "[importers][torchscript]") {
  const std::string path = fixture("unsupported.script.pt");
  REQUIRE_THROWS_AS(importScript("unsupported.script.pt"), InputError);
  REQUIRE_THROWS_WITH(importScript("unsupported.script.pt"),
                      StartsWith(path + ": unsupported TorchScript operations (EdgeOpt's IR has no equivalent): "
                                        "aten::cumsum at the top-level module (") &&
                          Contains("; aten::flip at the top-level module (") && !Contains("conv"));
  REQUIRE_THROWS_WITH(importScript("data_dependent.script.pt"),
                      Contains("aten::gt at the top-level module") &&
                          Contains("prim::If at the top-level module") &&
                          Contains("control flow that depends on values known only at run time"));
}

TEST_CASE("torchscript: missing, truncated and foreign files are InputErrors", "[importers][torchscript]") {
  const std::string dir = test::scratchDir("torchscript-broken");
  std::string bytes = readFile(fixture("resnet18.script.pt"));
  const std::string half = test::writeText(dir + "/half.pt", bytes.substr(0, bytes.size() / 2));
  const std::string junk = test::writeText(dir + "/junk.pt", "this is not a zip file");
  const std::string onnx = fixture("resnet18.onnx");
  for (const std::string& p : {half, junk, onnx, dir + "/missing.pt"}) {
    INFO(p);
    REQUIRE_THROWS_AS(loadModel("torchscript", "{path: '" + p + "'}"), InputError);
    REQUIRE_THROWS_WITH(loadModel("torchscript", "{path: '" + p + "'}"), StartsWith(p + ": "));
  }
  // Through edgeopt-run: exit code 5, one line naming the file.
  test::writeText(dir + "/recipe.yaml",
                  "version: 1\nname: ts\nmodel: {source: torchscript, path: half.pt}\nstages:\n  - kind: summary\n");
  auto r = test::runCli("recipe.yaml --dry-run", dir, builtinPluginDir());
  CHECK(r.code == 5);
  CHECK_THAT(r.lastErrLine(), StartsWith("error: ") && Contains("half.pt: not a readable TorchScript file"));
}
