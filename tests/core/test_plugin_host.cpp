// The plugin host against real plugin libraries: one good, and one for each
// way a plugin can be broken (tests/plugins/src). Each test uses its own
// Registries so that what one loads can't leak into another.
#include <edgeopt/plugin.h>
#include <edgeopt/plugin_host.h>
#include <edgeopt/stage.h>

#include "cli_runner.h"

#include <filesystem>

using namespace edgeopt;
using edgeopt::test::testPluginDir;

namespace {
std::string pluginFile(const std::string& folder, const std::string& name) {
  return std::filesystem::canonical(testPluginDir(folder) + "/libedgeopt_" + name + ".so").string();
}
}  // namespace

TEST_CASE("a good plugin registers its factories with its name and version", "[plugins]") {
  Registries reg;
  PluginHost host(reg);
  const LoadedPlugin& p = host.load(pluginFile("good", "toy_train"));
  CHECK(p.name == "toy_train");
  CHECK(p.version == "1.2.3");
  CHECK(p.api_version == EDGEOPT_PLUGIN_API_VERSION);
  CHECK(p.sha256.size() == 64);
  REQUIRE(p.provides.size() == 3);
  CHECK(p.provides[0] == std::make_pair(FactoryKind::ModelSource, std::string("toy")));
  CHECK(reg.of<Stage>().names() == std::vector<std::string>{"fail", "toy_train"});
  CHECK(reg.of<Stage>().find("toy_train")->provider == "toy_train");
  CHECK(reg.providerOf(FactoryKind::ModelSource, "toy") == "toy_train");
  // Loading the same file again is a no-op.
  host.load(testPluginDir("good") + "/../good/libedgeopt_toy_train.so");
  CHECK(host.plugins().size() == 1);
}

TEST_CASE("loadDirectory loads only libedgeopt_*.so files", "[plugins]") {
  const std::string dir = edgeopt::test::scratchDir("plugin-dir");
  std::filesystem::copy_file(pluginFile("good", "toy_train"), dir + "/libedgeopt_toy_train.so");
  edgeopt::test::writeText(dir + "/README.txt", "not a plugin");
  edgeopt::test::writeText(dir + "/libother.so", "not ours");
  Registries reg;
  PluginHost host(reg);
  host.loadDirectory(dir);
  host.loadDirectory(dir + "/missing");  // skipped
  REQUIRE(host.plugins().size() == 1);
  CHECK(host.plugins()[0].name == "toy_train");
}

TEST_CASE("every broken plugin is a one-line error naming the library", "[plugins]") {
  Registries reg;
  PluginHost host(reg);
  auto fails = [&](const std::string& path, const std::string& message) {
    INFO(path);
    REQUIRE_THROWS_MATCHES(host.load(path), PluginError, Catch::Matchers::Message("plugin " + path + ": " + message));
  };
  fails("/nonexistent/libedgeopt_x.so", "no such file (check the path, or EDGEOPT_PLUGIN_PATH)");
  fails(testPluginDir("good"), "is a folder; name the plugin's .so file");
  const std::string text = edgeopt::test::writeText(edgeopt::test::scratchDir("text-plugin") + "/libedgeopt_text.so",
                                                    std::string(200, '#') + "\nthis is not a shared library\n");
  fails(text, "cannot be loaded as a shared library: invalid ELF header");
  fails(pluginFile("missing_symbol", "missing_symbol"),
        "cannot be loaded as a shared library: undefined symbol: edgeopt_test_missing_function");
  fails(pluginFile("no_entry", "no_entry"),
        "has no 'edgeopt_plugin_info' entry point; is it an EdgeOpt plugin? (define one with EDGEOPT_PLUGIN)");
  fails(pluginFile("bad_api", "bad_api"),
        "was built for plugin API version 99, this EdgeOpt supports version 1; rebuild it against this EdgeOpt SDK");
  fails(pluginFile("wrong_name", "wrong_name"),
        "reports the name 'other_name' but a plugin named so must be the file libedgeopt_other_name.so (build it "
        "with edgeopt_add_plugin)");
  fails(pluginFile("throws_register", "throws_register"), "registration failed: cannot open my config file");
  fails(pluginFile("null_entry", "null_entry"),
        "'edgeopt_plugin_info' is a null pointer (define the entry point with EDGEOPT_PLUGIN)");
  fails(pluginFile("function_entry", "function_entry"),
        "'edgeopt_plugin_info' is a function, not the pointer to one that the host expects (define the entry point "
        "with EDGEOPT_PLUGIN)");
  CHECK_FALSE(reg.of<Stage>().contains("half_registered"));  // all or nothing
  CHECK(host.plugins().empty());
}

TEST_CASE("two plugins registering one name: the second fails and adds nothing", "[plugins]") {
  Registries reg;
  PluginHost host(reg);
  host.load(pluginFile("good", "toy_train"));
  const std::string dup = pluginFile("dup", "dup_stage");
  REQUIRE_THROWS_MATCHES(host.load(dup), PluginError,
                         Catch::Matchers::Message("plugin " + dup +
                                                  ": stage 'toy_train' is already provided by plugin 'toy_train'; "
                                                  "rename one of them or load only one of the two plugins"));
  CHECK(host.plugins().size() == 1);
  CHECK(reg.of<Stage>().find("toy_train")->provider == "toy_train");
}
