// Numerical equivalence with torchvision: the zoo models load torchvision's
// state_dict by name and reproduce its eval output and one SGD training step.
// References come from make_torchvision_fixtures.py, run here with Debian's
// python3 (the one with python3-torch/torchvision).
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>

#include "ir_test_util.h"
#include "python_fixtures.h"
#include "test_support.h"
#include "zoo_models.h"

#include <ATen/Parallel.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include <filesystem>

using namespace edgeopt;
using test::maxAbsDiff;

namespace {

namespace fs = std::filesystem;

// make_torchvision_fixtures.py's output folder (run once per version of it
// and of yolo_reference.py, which it imports).
std::string fixtureDir() {
  static const std::string dir =
      test::pythonFixtureDir(std::string(EDGEOPT_SOURCE_DIR) + "/tests/ir/make_torchvision_fixtures.py",
                             (fs::path(EDGEOPT_TEST_WORK_DIR) / "torchvision_fixtures").string(),
                             {std::string(EDGEOPT_SOURCE_DIR) + "/tests/ir/yolo_reference.py"});
  return dir;
}

c10::Dict<c10::IValue, c10::IValue> loadFixture(const std::string& model) {
  std::string bytes = readFile(fixtureDir() + "/" + model + ".pt");
  return torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
}

GraphModule::NamedTensors named(const c10::IValue& dict) {
  GraphModule::NamedTensors out;
  for (auto& item : dict.toGenericDict()) out.emplace_back(item.key().toStringRef(), item.value().toTensor());
  return out;
}

constexpr uint64_t kStochasticDepthSeed = 1234;  // SD_SEED in the script

void setDropProbability(GraphModule& m, const std::string& op, double p) {
  for (ir::Node* n : m.graph().nodes())
    if (n->target() == op) n->setAttr("p", p);
}

void checkEquivalence(const std::string& model, double eval_tol, double train_tol) {
  at::set_num_threads(1);  // the fixture script uses one thread too
  auto fx = loadFixture(model);
  ZooOptions o;
  o.num_classes = 10;  // default input_size: the torchvision structure, fed 64x64 images
  auto m = buildZooModel(model, o);
  m->loadStateDict(named(fx.at("state")));  // strict: every torchvision name exists here
  at::Tensor x = fx.at("x").toTensor();

  m->eval();
  at::Tensor eval_out;
  {
    at::NoGradGuard no_grad;
    eval_out = m->forward({x})[0];
  }
  INFO(model << " eval output differs by " << maxAbsDiff(eval_out, fx.at("eval_out").toTensor()));
  CHECK(maxAbsDiff(eval_out, fx.at("eval_out").toTensor()) < eval_tol);

  if (fx.contains("sd_out")) {
    // Stochastic depth on, from the seed the script used: the same rows drop.
    auto sd = m->clone();
    setDropProbability(*sd, "dropout", 0.0);
    sd->train();
    at::manual_seed(kStochasticDepthSeed);
    at::NoGradGuard no_grad;
    at::Tensor sd_out = sd->forward({x})[0];
    INFO(model << " training output with stochastic depth differs by "
               << maxAbsDiff(sd_out, fx.at("sd_out").toTensor()));
    CHECK(maxAbsDiff(sd_out, fx.at("sd_out").toTensor()) < train_tol);
    CHECK(maxAbsDiff(sd_out, fx.at("train_out").toTensor()) > 0.1);  // some rows did drop
  }

  setDropProbability(*m, "dropout", 0.0);
  setDropProbability(*m, "stochastic_depth", 0.0);
  m->train();
  torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-4));
  at::Tensor out = m->forward({x})[0];
  at::Tensor loss = at::cross_entropy_loss(out, fx.at("target").toTensor());
  opt.zero_grad();
  loss.backward();
  opt.step();
  INFO("loss " << loss.item<double>() << " vs torchvision " << fx.at("loss").toTensor().item<double>());
  CHECK(std::abs(loss.item<double>() - fx.at("loss").toTensor().item<double>()) < train_tol);
  CHECK(maxAbsDiff(out, fx.at("train_out").toTensor()) < train_tol);
  for (auto& [name, expected] : named(fx.at("after"))) {
    INFO(name << " after one SGD step differs by " << maxAbsDiff(m->tensor(name), expected));
    CHECK(maxAbsDiff(m->tensor(name), expected) < train_tol);
  }
}

}  // namespace

TEST_CASE("torchvision equivalence: mobilenet_v2 eval and one SGD step", "[ir][torchvision]") {
  checkEquivalence("mobilenet_v2", 1e-5, 1e-4);
}

TEST_CASE("torchvision equivalence: resnet18 eval and one SGD step", "[ir][torchvision]") {
  checkEquivalence("resnet18", 1e-5, 1e-4);
}

TEST_CASE("torchvision equivalence: mobilenet_v3_small eval and one SGD step", "[ir][torchvision]") {
  checkEquivalence("mobilenet_v3_small", 1e-5, 1e-4);
}

TEST_CASE("torchvision equivalence: efficientnet_b0 eval, stochastic depth and one SGD step", "[ir][torchvision]") {
  checkEquivalence("efficientnet_b0", 1e-5, 1e-4);
}

TEST_CASE("torchvision equivalence: regnet_x_800mf eval and one SGD step", "[ir][torchvision]") {
  checkEquivalence("regnet_x_800mf", 1e-5, 1e-4);
}

// The detector against its PyTorch re-implementation (yolo_reference.py):
// state_dict names, eval head maps and one SGD step on sum(mean(map^2)).
TEST_CASE("reference equivalence: yolov5n eval and one SGD step", "[ir][torchvision][yolo]") {
  at::set_num_threads(1);
  auto fx = loadFixture("yolov5n");
  ZooOptions o;
  o.num_classes = 10;
  o.input_size = 64;
  auto m = buildZooModel("yolov5n", o);
  int64_t params = 0;
  for (auto& p : m->parameters()) params += p.numel();
  CHECK(params == fx.at("params").toTensor().item<int64_t>());
  m->loadStateDict(named(fx.at("state")));  // strict, anchors included
  at::Tensor x = fx.at("x").toTensor();
  auto expected = [&](const char* key) {
    std::vector<at::Tensor> out;
    for (const auto& t : fx.at(key).toList()) out.push_back(t.get().toTensor());
    return out;
  };

  m->eval();
  std::vector<at::Tensor> eval_out;
  {
    at::NoGradGuard no_grad;
    eval_out = m->forward({x});
  }
  auto eval_ref = expected("eval_out");
  REQUIRE(eval_out.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    INFO("head " << i << " eval output differs by " << maxAbsDiff(eval_out[i], eval_ref[i]));
    CHECK(maxAbsDiff(eval_out[i], eval_ref[i]) < 1e-5);
  }

  m->train();
  torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-4));
  auto out = m->forward({x});
  at::Tensor loss = out[0].pow(2).mean() + out[1].pow(2).mean() + out[2].pow(2).mean();
  opt.zero_grad();
  loss.backward();
  opt.step();
  CHECK(std::abs(loss.item<double>() - fx.at("loss").toTensor().item<double>()) < 1e-4);
  auto train_ref = expected("train_out");
  for (size_t i = 0; i < 3; ++i) CHECK(maxAbsDiff(out[i], train_ref[i]) < 1e-4);
  for (auto& [name, t] : named(fx.at("after"))) {
    INFO(name << " after one SGD step differs by " << maxAbsDiff(m->tensor(name), t));
    CHECK(maxAbsDiff(m->tensor(name), t) < 1e-4);
  }
}
