#include <edgeopt/options.h>

#include "test_support.h"

using namespace edgeopt;

namespace {
OptionSchema trainSchema() {
  OptionSchema s;
  s.add("epochs", OptionType::Int).required().range(1, 1000).help("training epochs");
  s.add("lr", OptionType::Float).defaultValue(0.1).range(0, 10);
  s.add("optimizer", OptionType::String).defaultValue(std::string("sgd")).choices({"sgd", "adamw"});
  s.add("nesterov", OptionType::Bool).defaultValue(false);
  s.add("milestones", OptionType::IntList);
  s.add("layers", OptionType::Selectors);
  s.add("weights", OptionType::Path);
  return s;
}
Options validate(const std::string& yaml) {
  return trainSchema().validate(ConfigNode::parse(yaml, "r.yaml"), "stages.1", {"kind"}, "/recipes");
}
}  // namespace

TEST_CASE("options are typed, defaulted and located", "[options]") {
  Options o = validate("kind: train\nepochs: 3\nmilestones: 2\nweights: w/model.pt\nlayers: [type:Conv2d, '!features.0']\n");
  CHECK(o.get<int64_t>("epochs") == 3);
  CHECK(o.get<double>("lr") == 0.1);
  CHECK(o.get<std::string>("optimizer") == "sgd");
  CHECK_FALSE(o.get<bool>("nesterov"));
  CHECK(o.get<std::vector<int64_t>>("milestones") == std::vector<int64_t>{2});
  CHECK(o.get<std::string>("weights") == "/recipes/w/model.pt");
  CHECK(o.get<std::vector<std::string>>("layers") == std::vector<std::string>{"type:Conv2d", "!features.0"});
  CHECK(o.location("epochs").str() == "r.yaml:2:9");
  CHECK(o.key("epochs") == "stages.1.epochs");
  CHECK_FALSE(o.has("unset_without_default"));
}

TEST_CASE("option errors name file:line:col, key and what is wrong", "[options]") {
  EDGEOPT_REQUIRE_THROWS_MESSAGE(validate("epochs: 3\nepoch: 4\n"), RecipeError,
                                 "r.yaml:2:1: stages.1.epoch: unknown key; did you mean 'epochs'? (known: epochs, "
                                 "lr, optimizer, nesterov, milestones, layers, weights)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(validate("lr: 0.1\n"), RecipeError,
                                 "r.yaml:1:1: stages.1: missing required key 'epochs' (training epochs)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(validate("epochs: three\n"), RecipeError,
                                 "r.yaml:1:9: stages.1.epochs: expected an integer, got \"three\"");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(validate("epochs: 2.5\n"), RecipeError,
                                 "r.yaml:1:9: stages.1.epochs: expected an integer, got \"2.5\"");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(validate("epochs: 0\n"), RecipeError,
                                 "r.yaml:1:9: stages.1.epochs: must be between 1 and 1000 (got 0)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(validate("epochs: 1\noptimizer: adam\n"), RecipeError,
                                 "r.yaml:2:12: stages.1.optimizer: must be one of: sgd, adamw (got \"adam\"); did "
                                 "you mean 'adamw'?");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(validate("epochs: 1\nnesterov: maybe\n"), RecipeError,
                                 "r.yaml:2:11: stages.1.nesterov: expected true or false, got \"maybe\"");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(validate("epochs: 1\nmilestones: [1, x]\n"), RecipeError,
                                 "r.yaml:2:17: stages.1.milestones.1: expected an integer, got \"x\"");
  REQUIRE_THROWS_WITH(validate("epochs: 1\nlayers: ['re:(']\n"),
                      Catch::StartsWith("r.yaml:2:10: stages.1.layers: invalid regular expression '('"));
  EDGEOPT_REQUIRE_THROWS_MESSAGE(validate("epochs: 1\nlr:\n"), RecipeError,
                                 "r.yaml:2:1: stages.1.lr: has no value; expected number");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(validate("- 1\n"), RecipeError,
                                 "r.yaml:1:1: stages.1: expected a map of options, got a list");
}
