#include <edgeopt/recipe.h>

#include "test_support.h"

using namespace edgeopt;
using edgeopt::test::scratchDir;
using edgeopt::test::writeText;

namespace {
const char* kRecipe = R"(version: 1
name: demo
seed: 7
vars:
  lr: 0.05
  size: [1, 3, 32, 32]
  stem: features
model:
  source: zoo
  input: ${vars.size}
stages:
  - kind: train
    lr: ${vars.lr}
    layers: ${vars.stem}.0
  - kind: export
)";

std::string recipeFile(const std::string& text, const std::string& name = "r.yaml") {
  return writeText(scratchDir("recipe-" + name) + "/" + name, text);
}
}  // namespace

TEST_CASE("vars substitute whole values and parts of text", "[recipe]") {
  Recipe r = loadRecipeDocument(recipeFile(kRecipe));
  CHECK(r.name == "demo");
  CHECK(r.seed == 7);
  const ConfigNode& stage = r.document.find("stages")->items()[0];
  CHECK(stage.find("lr")->value() == "0.05");
  CHECK(stage.find("layers")->value() == "features.0");
  REQUIRE(r.document.find("model")->find("input")->isSequence());
  CHECK(r.document.find("model")->find("input")->items().size() == 4);
}

TEST_CASE("set overrides recipe values and vars before substitution", "[recipe]") {
  Recipe r = loadRecipeDocument(recipeFile(kRecipe), {"vars.lr=0.2", "stages.1.format=[onnx]", "seed=3"});
  CHECK(r.seed == 3);
  CHECK(r.document.find("stages")->items()[0].find("lr")->value() == "0.2");
  const ConfigNode* format = r.document.find("stages")->items()[1].find("format");
  REQUIRE(format != nullptr);
  CHECK(format->isSequence());
  CHECK(format->location().str() == "--set stages.1.format=[onnx]");
}

TEST_CASE("recipe-level errors", "[recipe]") {
  const std::string path = recipeFile(kRecipe, "errors.yaml");
  // A --set PATH that can't be followed is a bad command line (exit 2).
  EDGEOPT_REQUIRE_THROWS_MESSAGE(loadRecipeDocument(path, {"stages.5.lr=1"}), UsageError,
                                 "--set stages.5.lr=1: stages.5: index out of range: the list has 2 entries");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(loadRecipeDocument(path, {"stages"}), UsageError,
                                 "--set stages: expected PATH=VALUE, such as stages.1.epochs=3");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(
      loadRecipeDocument(path, {"stages.99999999999999999999.epochs=1"}), UsageError,
      "--set stages.99999999999999999999.epochs=1: stages.99999999999999999999: index out of range: the list has 2 "
      "entries");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(loadRecipeDocument(path, {"seed=-1"}), RecipeError,
                                 "--set seed=-1: seed: must be at least 0 (got -1)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(loadRecipeDocument(path, {"version=2"}), RecipeError,
                                 "--set version=2: version: must be between 1 and 1 (got 2)");

  auto bad = [](const std::string& text) { return loadRecipeDocument(recipeFile(text, "bad.yaml")); };
  const std::string dir = std::string(EDGEOPT_TEST_WORK_DIR) + "/recipe-bad.yaml/bad.yaml";
  EDGEOPT_REQUIRE_THROWS_MESSAGE(bad("version: 1\nname: x\nmodel: {source: zoo}\nstages: []\n"), RecipeError,
                                 dir + ":4:9: stages: expected a non-empty list of stages, got a list");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(bad("version: 1\nname: x\nmodel: {source: zoo}\n"), RecipeError,
                                 dir + ":1:1: missing required key 'stages' (a list of stages)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(bad("version: 1\nnmae: x\nmodel: {}\nstages: [{kind: a}]\n"), RecipeError,
                                 dir + ":2:1: nmae: unknown key; did you mean 'name'? (known: version, name, seed, "
                                       "deterministic, threads, vars, plugins, model, data, output)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(bad("version: 1\nname: x\nmodel: {}\nstages:\n  - lr: ${vars.lr}\n"), RecipeError,
                                 dir + ":5:9: stages.0.lr: undefined variable 'lr' (define it under vars:, or --set "
                                       "vars.lr=...)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(bad(""), RecipeError, dir + ": the recipe is empty");
}

TEST_CASE("vars may use each other in any order, and a cycle or an endless chain is named", "[recipe]") {
  auto load = [](const std::string& vars, const std::string& name = "vars.yaml") {
    return loadRecipeDocument(recipeFile("version: 1\nname: v\nvars: " + vars +
                                             "\nmodel: {source: zoo, size: '${vars.a}'}\nstages: [{kind: export}]\n",
                                         name));
  };
  Recipe r = load("{a: '${vars.b}', b: '${vars.c}-x', c: 7}");
  CHECK(r.document.find("model")->find("size")->value() == "7-x");
  CHECK(r.document.find("vars")->find("a")->value() == "7-x");

  const std::string file = std::string(EDGEOPT_TEST_WORK_DIR) + "/recipe-vars.yaml/vars.yaml";
  EDGEOPT_REQUIRE_THROWS_MESSAGE(load("{a: '${vars.a}'}"), RecipeError,
                                 file + ":3:11: vars.a: variables refer to each other in a cycle: vars.a -> vars.a");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(
      load("{a: '${vars.b}', b: 'x${vars.a}'}"), RecipeError,
      file + ":3:11: vars.a: variables refer to each other in a cycle: vars.b -> vars.a -> vars.b");
  std::string chain = "{a: '${vars.v0}', ";
  for (int i = 0; i < 40; ++i) chain += "v" + std::to_string(i) + ": '${vars.v" + std::to_string(i + 1) + "}', ";
  chain += "v40: 1}";
  REQUIRE_THROWS_MATCHES(load(chain), RecipeError,
                         Catch::Matchers::Predicate<RecipeError>([](const RecipeError& e) {
                           return e.message().rfind("variables refer to each other more than 32 deep: vars.v0 -> "
                                                    "vars.v1 -> vars.v2 -> ", 0) == 0;
                         }));
}
