#include <edgeopt/config.h>

#include "test_support.h"

using edgeopt::ConfigNode;
using edgeopt::RecipeError;

TEST_CASE("ConfigNode keeps 1-based line:column of every value", "[config]") {
  ConfigNode n = ConfigNode::parse("name: demo\nstages:\n  - kind: export\n    lr: 0.1\n", "r.yaml");
  REQUIRE(n.isMap());
  REQUIRE(n.entries().size() == 2);
  CHECK(n.find("name")->value() == "demo");
  CHECK(n.find("name")->location().str() == "r.yaml:1:7");
  CHECK(n.findEntry("stages")->key_location.str() == "r.yaml:2:1");
  const ConfigNode& stage = n.find("stages")->items().at(0);
  CHECK(stage.location().str() == "r.yaml:3:5");
  CHECK(stage.find("lr")->location().str() == "r.yaml:4:9");
}

TEST_CASE("YAML syntax errors point at the offending position", "[config]") {
  EDGEOPT_REQUIRE_THROWS_MESSAGE(ConfigNode::parse("a: [1, 2\nb: 3\n", "bad.yaml"), RecipeError,
                                 "bad.yaml:2:2: invalid YAML: end of sequence flow not found");
}

TEST_CASE("duplicate keys are errors naming both places", "[config]") {
  EDGEOPT_REQUIRE_THROWS_MESSAGE(ConfigNode::parse("a: 1\nb: 2\na: 3\n", "d.yaml"), RecipeError,
                                 "d.yaml:3:1: a: duplicate key (also at d.yaml:1:1)");
}

TEST_CASE("a missing recipe file is a recipe error naming it", "[config]") {
  EDGEOPT_REQUIRE_THROWS_MESSAGE(ConfigNode::loadFile("/nonexistent/r.yaml"), RecipeError,
                                 "/nonexistent/r.yaml: cannot read the recipe: no such file");
}

TEST_CASE("toYaml round-trips values, order and quoting", "[config]") {
  const std::string text = "b: 1\na:\n  - x\n  - \"007\"\nc:\n  d: [1, 2]\n";
  ConfigNode n = ConfigNode::parse(text, "r.yaml");
  ConfigNode again = ConfigNode::parse(n.toYaml(), "again.yaml");
  REQUIRE(again.entries().size() == 3);
  CHECK(again.entries()[0].key == "b");
  CHECK(again.find("a")->items()[1].value() == "007");
  CHECK(again.find("a")->items()[1].quoted());
  CHECK(again.find("c")->find("d")->items()[1].value() == "2");
  CHECK(n.toYaml() == again.toYaml());
}
