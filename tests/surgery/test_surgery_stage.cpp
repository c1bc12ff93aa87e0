// The surgery stage through edgeopt-run, as a user runs it: the lite table on
// a zoo model, recipe rules, module-level replacement, --dry-run, and the
// recipe errors (one line, exit 3, the rule's recipe line).
// ATen before Catch: glog, which ATen pulls in, defines its own CHECK.
#include <edgeopt/graph_module.h>

#include <ATen/ATen.h>

#include "cli_runner.h"

#include <nlohmann/json.hpp>

using namespace edgeopt::test;

namespace {

std::string pluginPath() {
  static const std::string path = builtinSubset("surgery", {"zoo", "surgery", "export", "inspect"});
  return path;
}

struct Run {
  CliResult cli;
  std::string dir;
  nlohmann::json surgery() const {
    return nlohmann::json::parse(readText(dir + "/run/stages/0-surgery/surgery.json"));
  }
};

Run runRecipe(const std::string& name, const std::string& stage_yaml, const std::string& model, const std::string& flags = "") {
  Run r;
  r.dir = scratchDir("surgery-" + name);
  writeText(r.dir + "/recipe.yaml", "version: 1\nname: " + name + "\nmodel: " + model + "\nstages:\n  - kind: surgery\n" +
                                        stage_yaml);
  r.cli = runCli("recipe.yaml --output run " + flags, r.dir, pluginPath());
  return r;
}

const std::string kMobileNetV3 = "{source: zoo, name: mobilenet_v3_large, num_classes: 10, input_size: 64}";
const std::string kMobileNetV2 = "{source: zoo, name: mobilenet_v2, num_classes: 10, input_size: 64}";

std::vector<std::pair<std::string, int>> counts(const nlohmann::json& j) {
  std::vector<std::pair<std::string, int>> out;
  for (const auto& r : j["replacements"]) out.emplace_back(r["rule"], r["count"]);
  return out;
}

}  // namespace

TEST_CASE("the lite table on mobilenet_v3_large: SE blocks and Hardswish gone, numbers exact", "[surgery][cli]") {
  Run r = runRecipe("lite", "    layers: [\"!features.0\"]\n", kMobileNetV3);
  INFO(r.cli.err);
  REQUIRE(r.cli.code == 0);
  const auto j = r.surgery();
  // 8 SE blocks; 21 Hardswish less the stem's (features.0 is out of `layers`).
  CHECK(counts(j) == std::vector<std::pair<std::string, int>>{{"se_to_identity", 8}, {"hardswish_to_relu", 20}});
  // SE parameters, fc1 + fc2 with biases, for (channels, squeeze) = (72, 24),
  // 2x (120, 32), (480, 120), 3x (672, 168)... : 3552 + 15664 + 115800 +
  // 453264 + 924000 = 1,512,280.
  CHECK(j["before"]["params"] == 4214842);
  CHECK(j["after"]["params"] == 4214842 - 1512280);
  CHECK(j["before"]["macs"] == 20101760);
  CHECK(j["after"]["macs"] == 18594560);
  const auto& ops = j["after"]["ops"];
  CHECK(ops["hardswish"] == 1);  // the stem's, kept
  CHECK_FALSE(ops.contains("hardsigmoid"));
  CHECK_FALSE(ops.contains("mul"));
  CHECK(ops["adaptive_avg_pool2d"] == 1);  // the classifier's pool stays
  CHECK(r.cli.err.find("surgery: se_to_identity: 8 replaced (features.4.block.2.mul") != std::string::npos);
}

TEST_CASE("the surgery stage under --dry-run prints its plan and writes nothing", "[surgery][cli]") {
  Run r = runRecipe("dry", "", kMobileNetV3, "--dry-run");
  INFO(r.cli.err);
  REQUIRE(r.cli.code == 0);
  CHECK(r.cli.out.find("would do: se_to_identity: 8 replaced") != std::string::npos);
  CHECK(r.cli.out.find("would do: hardswish_to_relu: 21 replaced") != std::string::npos);
  CHECK(r.cli.out.find("would do: params 4.215 M -> 2.703 M") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(r.dir + "/run"));
}

TEST_CASE("recipe rules and module-level rules run in declared order", "[surgery][cli]") {
  Run r = runRecipe("custom",
                    "    preset: none\n"
                    "    modules: [{module: \"type:SqueezeExcitation\", to: identity}]\n"
                    "    replace:\n"
                    "      - {from: \"type:Hardswish\", to: relu6}\n"
                    "      - {from: \"re:features\\\\.12\\\\..*\", to: identity}\n"
                    "      - {pattern: \"conv2d{kernel_size: 5, groups: 72}\", to: identity}\n",
                    kMobileNetV3);
  INFO(r.cli.err);
  REQUIRE(r.cli.code == 0);
  const auto j = r.surgery();
  CHECK(counts(j) == std::vector<std::pair<std::string, int>>{
                         {"modules.0", 8}, {"replace.0", 21}, {"replace.1", 1}, {"replace.2", 1}});
  CHECK(j["replacements"][0]["nodes"][0] == "features.4.block.2");  // module paths
  CHECK(j["replacements"][1]["nodes"][0] == "features.0.2");        // the node keeps its name
  // 21 Hardswish became ReLU6, then features.12 (two of them, with its three
  // convs) became identity: 19 ReLU6 left. 21 and 2,625,274 params were a
  // rewriter bug that left part of the block dead in the graph (found by the
  // ASan build, whose allocator does not reuse freed addresses at once).
  CHECK(j["after"]["ops"]["relu6"] == 19);
  CHECK(j["after"]["ops"]["conv2d"] == 42);
  CHECK(j["after"]["params"] == 2541274);
}

TEST_CASE("module-level blocks copy channels and stride from the replaced modules", "[surgery][cli]") {
  Run r = runRecipe("blocks",
                    "    preset: none\n"
                    "    modules: [{module: features.1, to: conv_bn_relu},\n"
                    "              {module: \"re:features\\\\.1[4-6]\", to: conv_bn, kernel_size: 1}]\n"
                    "  - kind: summary\n",
                    kMobileNetV2);
  INFO(r.cli.err);
  REQUIRE(r.cli.code == 0);
  const auto j = r.surgery();
  CHECK(j["replacements"][1]["nodes"] == nlohmann::json::array({"features.14", "features.15", "features.16"}));
  CHECK(j["after"]["params"] == 1512682);
  const std::string summary = readText(r.dir + "/run/stages/1-summary/summary.txt");
  // 32 -> 16 channels, 3x3: 16 * 32 * 9 weights; 96 -> 160 at stride 2 (16x16 -> 8x8), 1x1.
  CHECK(summary.find("features.1.0          Conv2d (conv2d)           [1, 16, 64, 64]            4,608") != std::string::npos);
  CHECK(summary.find("features.14.0         Conv2d (conv2d)           [1, 160, 8, 8]            15,360") != std::string::npos);
}

TEST_CASE("surgery recipe errors are one line at the rule's recipe line, exit 3", "[surgery][cli]") {
  struct Case {
    std::string stage, message;
  };
  for (const Case& c : {
           Case{"    rules: {no_such_rule: true}\n",
                "recipe.yaml:6:13: stages.0.rules.no_such_rule: unknown surgery rule 'no_such_rule' (known: "},
           Case{"    rules: {gelu_to_relu: maybe}\n",
                "recipe.yaml:6:27: stages.0.rules.gelu_to_relu: expected true, false or the rule's options (a map)"},
           Case{"    preset: none\n    replace: [{pattern: \"hardtanh -> mul\", to: identity}]\n",
                "recipe.yaml:7:25: stages.0.replace.0.pattern: pattern 'hardtanh -> mul' matches nothing in the model"},
           Case{"    replace: [{from: \"type:GELU\", to: relu}]\n",
                "recipe.yaml:6:22: stages.0.replace.0.from: selector 'type:GELU' matches no layer of the model"},
           Case{"    replace: [{from: \"type:Hardswish\", to: frobnicate}]\n",
                "recipe.yaml:6:44: stages.0.replace.0.to: unknown op 'frobnicate'"},
           Case{"    replace: [{from: \"type:Hardswish\", pattern: relu, to: relu}]\n",
                "recipe.yaml:6:15: stages.0.replace.0: needs exactly one of 'from' (layer selectors) and 'pattern'"},
           Case{"    modules: [{module: \"type:Nope\", to: identity}]\n",
                "recipe.yaml:6:24: stages.0.modules.0.module: module selector 'type:Nope' matches no module instance"},
       }) {
    Run r = runRecipe("errors", c.stage, kMobileNetV3, "--dry-run");
    INFO(c.stage);
    CHECK(r.cli.code == 3);
    CHECK(r.cli.lastErrLine().rfind("error: " + c.message, 0) == 0);
    CHECK(r.cli.err.find('\n') == r.cli.err.size() - 1);  // one line
  }
}

TEST_CASE("replacing eval-mode dropout by identity is exact (checkpoints before and after)", "[surgery][cli]") {
  Run r = runRecipe("identity",
                    "    preset: none\n"
                    "    replace: [{from: \"type:Dropout\", to: identity}]\n"
                    "  - kind: export\n"
                    "    name: after\n"
                    "    formats: [edgeopt]\n",
                    kMobileNetV2);
  INFO(r.cli.err);
  REQUIRE(r.cli.code == 0);
  CHECK(counts(r.surgery()) == std::vector<std::pair<std::string, int>>{{"replace.0", 1}});
  CHECK_FALSE(r.surgery()["after"]["ops"].contains("dropout"));
  // The model before surgery is the one the zoo builds with the run's seed;
  // rebuild it the same way through a recipe without the surgery stage.
  const std::string before_dir = scratchDir("surgery-identity-before");
  writeText(before_dir + "/recipe.yaml", "version: 1\nname: before\nmodel: " + kMobileNetV2 +
                                             "\nstages:\n  - kind: export\n    name: before\n    formats: [edgeopt]\n");
  REQUIRE(runCli("recipe.yaml --output run", before_dir, pluginPath()).code == 0);
  auto before = edgeopt::GraphModule::load(before_dir + "/run/exports/before.edgeopt");
  auto after = edgeopt::GraphModule::load(r.dir + "/run/exports/after.edgeopt");
  before->eval();
  after->eval();
  const at::Tensor x = at::randn({2, 3, 64, 64});
  at::NoGradGuard no_grad;
  CHECK(at::equal(before->forward({x})[0], after->forward({x})[0]));
}
