// Recipe loader and validator: YAML parsing, --set overrides, ${vars}
// substitution, top-level checks, then every component against its plugin's
// option schema (all built-in plugins loaded, as edgeopt-run does).
// Input: a recipe; leading lines "#set PATH=VALUE" (YAML comments) become
// --set overrides, so the fuzzer reaches applyOverride too.
#include <edgeopt/recipe.h>
#include <edgeopt/registry.h>

#include <string>
#include <vector>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgeopt::fuzz::quietLogs();
  edgeopt::PluginHost host;
  host.loadDefaults();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> sets;
  for (size_t at = 0; text.compare(at, 5, "#set ") == 0;) {
    const size_t end = text.find('\n', at);
    sets.push_back(text.substr(at + 5, end == std::string::npos ? std::string::npos : end - at - 5));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  const std::string path = edgeopt::fuzz::writeInput(data, size, ".yaml");
  edgeopt::fuzz::expectHandled([&] {
    edgeopt::Recipe recipe = edgeopt::loadRecipeDocument(path, sets);
    edgeopt::validateComponents(recipe, edgeopt::registries());
  });
  return 0;
}
