// Numerical equivalence with torchvision: the zoo models load torchvision's
// state_dict by name and reproduce its eval output and one SGD training step.
// References come from make_torchvision_fixtures.py, run here with Debian's
// python3 (the one with python3-torch/torchvision).
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>

#include "ir_test_util.h"
#include "test_support.h"
#include "zoo_models.h"

#include <ATen/Parallel.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include <cstdlib>
#include <filesystem>

using namespace edgeopt;
using test::maxAbsDiff;

namespace {

namespace fs = std::filesystem;

// Generates the fixtures once per script version (cached by its hash).
std::string fixtureDir() {
  static const std::string dir = [] {
    std::string script = std::string(EDGEOPT_SOURCE_DIR) + "/tests/ir/make_torchvision_fixtures.py";
    fs::path out = fs::path(EDGEOPT_TEST_WORK_DIR) / "torchvision_fixtures";
    std::string stamp = (out / "script.sha256").string();
    std::string hash = sha256File(script);
    if (fs::exists(stamp) && test::readText(stamp) == hash) return out.string();
    fs::remove_all(out);
    fs::create_directories(out);
    std::string log = (out / "python.log").string();
    std::string cmd = std::string(EDGEOPT_SYSTEM_PYTHON) + " '" + script + "' '" + out.string() + "' > '" + log + "' 2>&1";
    int rc = std::system(cmd.c_str());
    if (rc != 0) FAIL("fixture script failed (" << cmd << "):\n" << test::readText(log));
    test::writeText(stamp, hash);
    return out.string();
  }();
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

  for (ir::Node* n : m->graph().nodes())
    if (n->target() == "dropout") n->setAttr("p", 0.0);
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
