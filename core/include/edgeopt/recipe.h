#pragma once
// Recipes: YAML documents naming the model, the data and an ordered list of
// stages. Loading happens in two steps so that plugins named by the recipe can
// be loaded before the components they provide are validated:
//   1. loadRecipeDocument: parse, apply --set overrides, substitute ${vars.x};
//   2. validateRecipe: check every key against the schemas of the registered
//      model source, dataset and stage kinds.
// Every problem is a RecipeError "file:line:col: key: what is wrong".
#include <edgeopt/config.h>
#include <edgeopt/options.h>
#include <edgeopt/registry.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace edgeopt {

// The current (and only) recipe format version.
constexpr int kRecipeVersion = 1;

// A configured component: a model source, a dataset or a stage.
struct ComponentConfig {
  std::string kind;      // registered name ("zoo", "export", ...)
  std::string key;       // key path in the recipe ("model", "stages.2")
  SourceLocation location;
  std::string provider;  // plugin that registered `kind`
  Options options;
};

struct Recipe {
  std::string path;  // recipe file
  std::string dir;   // its folder: relative paths in the recipe resolve here
  ConfigNode document;  // after overrides and substitution (written to the run directory)

  int version = kRecipeVersion;
  std::string name;
  uint64_t seed = 0;
  bool deterministic = false;
  int threads = 0;  // 0 = all cores
  std::vector<std::pair<std::string, SourceLocation>> plugins;  // resolved paths
  ComponentConfig model;
  std::optional<ComponentConfig> data;
  std::vector<ComponentConfig> stages;
  std::string output_root = "runs";
};

// Parses `path`, applies `sets` ("a.b.0.c=value", in order) and substitutes
// ${vars.NAME} in every scalar. Top-level keys are checked here too. Relative
// paths in the recipe resolve against `base_dir` (default: the recipe's folder;
// a resumed run passes the folder of the recipe it was started from).
Recipe loadRecipeDocument(const std::string& path, const std::vector<std::string>& sets = {},
                          const std::string& base_dir = "");

// Fills model/data/stages from the document, validating each against the
// factory registered under its name.
void validateComponents(Recipe& recipe, const Registries& registries);

// Applies one "path=value" override to `doc` (exposed for tests).
void applyOverride(ConfigNode& doc, const std::string& assignment);

}  // namespace edgeopt
