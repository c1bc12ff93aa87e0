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

TEST_CASE("a recursive YAML alias is a recipe error, not a crash", "[config]") {
  EDGEOPT_REQUIRE_THROWS_MESSAGE(
      ConfigNode::parse("version: 1\nvars: &v {a: *v}\n", "r.yaml"), RecipeError,
      "r.yaml:2:7: recursive YAML alias: this value contains itself (an alias *name inside its own &name)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(
      ConfigNode::parse("stages:\n  - &s\n    kind: export\n    next: [*s]\n", "s.yaml"), RecipeError,
      "s.yaml:2:5: recursive YAML alias: this value contains itself (an alias *name inside its own &name)");
}

TEST_CASE("a YAML alias bomb stops early with a recipe error", "[config]") {
  // Billion laughs: 9 levels of 10 aliases each expand to 10^9 values.
  std::string text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) text += (j ? ", " : "") + prev;
    text += "]\n";
  }
  REQUIRE_THROWS_MATCHES(ConfigNode::parse(text, "bomb.yaml"), RecipeError,
                         Catch::Matchers::Predicate<RecipeError>(
                             [](const RecipeError& e) {
                               return e.code() == edgeopt::ExitCode::Recipe &&
                                      e.message() ==
                                          "more than 100000 values once YAML aliases are expanded (nested aliases?)";
                             },
                             "a recipe error about expanded aliases"));
}

TEST_CASE("values nested too deeply are a recipe error", "[config]") {
  const std::string text = "a: " + std::string(70, '[') + std::string(70, ']') + "\n";
  EDGEOPT_REQUIRE_THROWS_MESSAGE(ConfigNode::parse(text, "deep.yaml"), RecipeError,
                                 "deep.yaml:1:67: values nested more than 64 levels deep");
}

TEST_CASE("a multi-document YAML recipe is an error", "[config]") {
  EDGEOPT_REQUIRE_THROWS_MESSAGE(ConfigNode::parse("name: a\n---\nname: b\n", "m.yaml"), RecipeError,
                                 "m.yaml:3:1: a second YAML document (after '---'); a recipe is one document");
}
