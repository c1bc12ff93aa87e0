// GraphModule: tensors, train/eval, clone, save/load and corrupted files.
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>

#include "ir_test_util.h"
#include "test_support.h"
#include "zoo_models.h"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <sstream>

using namespace edgeopt;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::shared_ptr<GraphModule> smallMobileNet() {
  at::manual_seed(0);
  ZooOptions o;
  o.num_classes = 10;
  o.width_mult = 0.5;
  o.input_size = 32;
  return buildZooModel("mobilenet_v2", o);
}

// Gives BN buffers non-trivial values so that round trips test real data.
void perturbBuffers(GraphModule& m) {
  at::NoGradGuard no_grad;
  for (auto& [name, t] : m.namedBuffers())
    if (t.is_floating_point()) t.uniform_(0.5, 1.5);
}

}  // namespace

TEST_CASE("graph module: parameters and buffers in registration order", "[ir][module]") {
  auto m = buildZooModel("simple_cnn", ZooOptions{});
  auto params = m->namedParameters();
  auto buffers = m->namedBuffers();
  std::vector<std::string> names;
  for (auto& [n, t] : params) names.push_back(n);
  CHECK(names == std::vector<std::string>{"features.0.weight", "features.1.weight", "features.1.bias",
                                          "features.4.weight", "features.5.weight", "features.5.bias",
                                          "classifier.weight", "classifier.bias"});
  CHECK(buffers.size() == 6);
  CHECK(buffers[2].first == "features.1.num_batches_tracked");
  CHECK(buffers[2].second.scalar_type() == at::kLong);
  for (auto& t : m->parameters()) CHECK(t.requires_grad());
  for (auto& [n, t] : buffers) CHECK_FALSE(t.requires_grad());
  CHECK(m->isTraining());
  m->eval();
  CHECK_FALSE(m->isTraining());
  REQUIRE_THROWS_WITH(m->tensor("nope"), "GraphModule: no parameter or buffer named 'nope'");
  REQUIRE_THROWS_WITH(m->registerBuffer("features.0.weight", at::zeros({1})),
                      "GraphModule: tensor 'features.0.weight' is registered twice");
  REQUIRE_THROWS_WITH(m->removeTensor("features.0.weight"),
                      "GraphModule: cannot remove 'features.0.weight', node 'features.0.weight' uses it");
}

TEST_CASE("graph module: training updates BN stats, eval does not", "[ir][module]") {
  auto m = smallMobileNet();
  at::Tensor x = at::randn({2, 3, 32, 32});
  at::Tensor mean = m->tensor("features.0.1.running_mean");
  at::Tensor before = mean.clone();
  m->eval();
  m->forward({x});
  CHECK(at::equal(mean, before));
  CHECK(m->tensor("features.0.1.num_batches_tracked").item<int64_t>() == 0);
  m->train();
  m->forward({x});
  CHECK_FALSE(at::equal(mean, before));
  CHECK(m->tensor("features.0.1.num_batches_tracked").item<int64_t>() == 1);
}

TEST_CASE("graph module: loadStateDict checks names and shapes", "[ir][module]") {
  auto m = buildZooModel("simple_cnn", ZooOptions{});
  auto state = m->stateDict();
  for (auto& [n, t] : state) t = t.detach().clone().fill_(0.5);
  m->loadStateDict(state);
  CHECK(m->tensor("features.4.weight").eq(0.5).all().item<bool>());
  CHECK(m->tensor("features.4.weight").requires_grad());
  state.pop_back();
  state.emplace_back("extra.weight", at::zeros({1}));
  state[0].second = at::zeros({2, 2});
  REQUIRE_THROWS_AS(m->loadStateDict(state), InputError);
  REQUIRE_THROWS_WITH(m->loadStateDict(state),
                      "loadStateDict:\n  shape mismatch: features.0.weight is [16, 3, 3, 3], given [2, 2]"
                      "\n  unexpected: extra.weight\n  missing: classifier.bias");
}

TEST_CASE("graph module: clone is deep", "[ir][module]") {
  auto m = smallMobileNet();
  m->eval();
  auto c = m->clone();
  at::Tensor x = at::randn({1, 3, 32, 32});
  CHECK(at::equal(m->forward({x})[0], c->forward({x})[0]));
  CHECK(c->graph().print() == m->graph().print());
  CHECK_FALSE(c->isTraining());
  {
    at::NoGradGuard no_grad;
    c->tensor("classifier.1.bias").add_(1.0);
  }
  CHECK(test::maxAbsDiff(c->forward({x})[0], m->forward({x})[0] + 1.0) < 1e-6);
  c->graph().findNode("classifier.0")->setAttr("p", 0.0);
  CHECK(m->graph().findNode("classifier.0")->get<double>("p") == 0.2);
}

TEST_CASE("graph module: save/load round trip is bit-identical", "[ir][module]") {
  std::string dir = test::scratchDir("ir_save_load");
  auto m = smallMobileNet();
  perturbBuffers(*m);
  m->graph().findNode("classifier.1")->setAttr("note", "round trip");
  m->eval();
  std::string path = dir + "/model.edgeopt";
  m->save(path, R"({"epoch": 3})");
  std::string meta;
  auto loaded = GraphModule::load(path, &meta);
  CHECK(meta == R"({"epoch": 3})");
  CHECK_FALSE(loaded->isTraining());
  CHECK(loaded->graph().print() == m->graph().print());
  auto a = m->stateDict(), b = loaded->stateDict();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].first == b[i].first);
    CHECK(a[i].second.scalar_type() == b[i].second.scalar_type());
    CHECK(at::equal(a[i].second, b[i].second));
    CHECK(a[i].second.requires_grad() == b[i].second.requires_grad());
  }
  CHECK(loaded->namedBuffers().size() == m->namedBuffers().size());
  ir::Node* n = loaded->graph().findNode("features.2.conv.1.0");
  REQUIRE(n != nullptr);
  CHECK(n->moduleType() == "Conv2d");
  CHECK(n->scope() == m->graph().findNode("features.2.conv.1.0")->scope());
  CHECK(n->get<ir::Ints>("stride") == ir::Ints{1, 1});  // small-input variant
  at::Tensor x = at::randn({2, 3, 32, 32});
  CHECK(at::equal(loaded->forward({x})[0], m->forward({x})[0]));
  // No temporary file is left behind.
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("graph module: damaged files are InputErrors naming the path", "[ir][module]") {
  std::string dir = test::scratchDir("ir_damaged");
  auto m = buildZooModel("simple_cnn", ZooOptions{});
  std::string path = dir + "/model.edgeopt";
  m->save(path);
  std::string bytes = test::readText(path);
  auto write = [&](const std::string& name, const std::string& content) {
    return test::writeText(dir + "/" + name, content);
  };

  SECTION("truncated in the data") {
    std::string p = write("cut_data.edgeopt", bytes.substr(0, bytes.size() - 100));
    REQUIRE_THROWS_AS(GraphModule::load(p), InputError);
    REQUIRE_THROWS_WITH(GraphModule::load(p), StartsWith(p + ": corrupted model file: truncated: tensor") &&
                                                  Contains("classifier"));
  }
  SECTION("truncated in the header") {
    std::string p = write("cut_head.edgeopt", bytes.substr(0, 200));
    REQUIRE_THROWS_WITH(GraphModule::load(p), StartsWith(p + ": truncated: header says"));
  }
  SECTION("truncated in the prefix") {
    std::string p = write("cut_prefix.edgeopt", bytes.substr(0, 10));
    REQUIRE_THROWS_WITH(GraphModule::load(p), p + ": not an EdgeOpt model file (bad magic; expected \"EDGEOPT\\0\")");
  }
  SECTION("wrong magic") {
    std::string p = write("magic.edgeopt", "PK" + bytes.substr(2));
    REQUIRE_THROWS_WITH(GraphModule::load(p), StartsWith(p + ": not an EdgeOpt model file"));
  }
  SECTION("future version") {
    std::string v = bytes;
    v[8] = 9;
    std::string p = write("version.edgeopt", v);
    REQUIRE_THROWS_WITH(GraphModule::load(p), p + ": format version 9 is not supported (this build reads 1)");
  }
  SECTION("corrupted header") {
    std::string c = bytes;
    c[c.find(':', 20)] = '#';  // breaks the JSON whatever its first key is
    std::string p = write("header.edgeopt", c);
    REQUIRE_THROWS_WITH(GraphModule::load(p), StartsWith(p + ": corrupted model file: "));
  }
  SECTION("header naming an unknown op") {
    std::string c = bytes;
    size_t at = c.find("\"conv2d\"");
    REQUIRE(at != std::string::npos);
    c.replace(at, 8, "\"conv9d\"");
    std::string p = write("op.edgeopt", c);
    // One line for the user; the printed graph goes to the log, at debug level.
    std::ostringstream log;
    auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
    logger->set_level(spdlog::level::debug);
    const auto previous = spdlog::default_logger();
    spdlog::set_default_logger(logger);
    std::string what;
    try {
      GraphModule::load(p);
    } catch (const InputError& e) {
      what = e.what();
    }
    spdlog::set_default_logger(previous);
    CHECK(what == p + ": corrupted model file: lint: node 'features.0': unknown op 'conv9d'");
    CHECK(log.str().find("unknown op 'conv9d'\ngraph(%x):\n") != std::string::npos);
  }
  SECTION("missing file") {
    REQUIRE_THROWS_AS(GraphModule::load(dir + "/absent.edgeopt"), InputError);
    REQUIRE_THROWS_WITH(GraphModule::load(dir + "/absent.edgeopt"), Contains(dir + "/absent.edgeopt"));
  }
}
