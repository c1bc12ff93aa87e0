// Bad input to edgeopt-run: each case checks the exact one-line message and
// the documented exit code (2 usage, 3 recipe, 4 plugin, 1 runtime).
#include "cli_runner.h"

#include <filesystem>

namespace fs = std::filesystem;
using namespace edgeopt::test;

namespace {

const char* kRecipe = R"(version: 1
name: errs
model:
  source: toy
stages:
  - kind: toy_train
    epochs: 2
    layers: [features.0]
  - kind: export
)";

std::string setup(const std::string& name, const std::string& recipe = kRecipe) {
  const std::string dir = scratchDir(name);
  writeText(dir + "/r.yaml", recipe);
  return dir;
}

void expectError(const CliResult& r, int code, const std::string& message) {
  INFO(r.err);
  CHECK(r.code == code);
  CHECK(r.lastErrLine() == "error: " + message);
}

std::string withPlugin(const std::string& path) {
  std::string recipe = kRecipe;
  return recipe.replace(recipe.find("model:"), 0, "plugins:\n  - " + path + "\n");
}

}  // namespace

TEST_CASE("malformed recipes: file:line:col: key: message, exit 3", "[cli]") {
  const std::string dir = setup("recipe-errors");
  expectError(runCli("r.yaml --set stages.1.kind=exprt", dir), 3,
              "--set stages.1.kind=exprt: stages.1.kind: unknown stage 'exprt'; did you mean 'export'? (available: "
              "export, fail, summary, toy_train; a plugin may provide it: add it under plugins:)");
  expectError(runCli("r.yaml --set stages.0.epochs=many", dir), 3,
              "--set stages.0.epochs=many: stages.0.epochs: expected an integer, got \"many\"");
  expectError(runCli("r.yaml --set stages.0.epoch=2", dir), 3,
              "--set stages.0.epoch=2: stages.0.epoch: unknown key; did you mean 'epochs'? (known: epochs, "
              "kill_after_epoch, layers)");
  expectError(runCli("r.yaml --set stages.0.layers=features.9", dir), 3,
              "--set stages.0.layers=features.9: stages.0.layers: selector 'features.9' matches no layer of the "
              "model (layer names look like: features.0, features.1, features.2, avgpool; see edgeopt-run --dry-run "
              "or the summary stage)");
  expectError(runCli("r.yaml --set stages.1.formats=[edgeopt,tflite]", dir), 3,
              "--set stages.1.formats=[edgeopt,tflite]: stages.1.formats: unknown export format 'tflite' "
              "(available: edgeopt)");
  expectError(runCli("r.yaml --set model.source=zooo", dir), 3,
              "--set model.source=zooo: model.source: unknown model source 'zooo'; did you mean 'zoo'? (available: "
              "checkpoint, toy, zoo; a plugin may provide it: add it under plugins:)");
  expectError(runCli("missing.yaml", dir), 3, "missing.yaml: cannot read the recipe: no such file");

  writeText(dir + "/syntax.yaml", "version: 1\nname: x\nstages:\n  - kind: export\n   bad: indent\n");
  expectError(runCli("syntax.yaml", dir), 3, "syntax.yaml:5:4: invalid YAML: end of sequence not found");
  writeText(dir + "/nokind.yaml", "version: 1\nname: x\nmodel: {source: toy}\nstages:\n  - epochs: 2\n");
  expectError(runCli("nokind.yaml", dir), 3,
              "nokind.yaml:5:5: stages.0: missing required key 'kind' (which stage: export, fail, summary, "
              "toy_train)");
  CHECK_FALSE(fs::exists(dir + "/runs"));  // nothing written for a bad recipe
}

TEST_CASE("broken plugins named by a recipe: exit 4 at the recipe line", "[cli]") {
  const std::string dir = setup("plugin-errors");
  auto run = [&](const std::string& plugin) {
    writeText(dir + "/p.yaml", withPlugin(plugin));
    return runCli("p.yaml", dir);
  };
  const std::string no_entry = fs::canonical(testPluginDir("no_entry") + "/libedgeopt_no_entry.so").string();
  expectError(run(no_entry), 4,
              "p.yaml:4:5: plugins: plugin " + no_entry +
                  ": has no 'edgeopt_plugin_info' entry point; is it an EdgeOpt plugin? (define one with "
                  "EDGEOPT_PLUGIN)");
  expectError(run("libs/libedgeopt_gone.so"), 4,
              "p.yaml:4:5: plugins: plugin " + dir + "/libs/libedgeopt_gone.so: no such file (check the path, or "
              "EDGEOPT_PLUGIN_PATH)");
  const std::string dup = fs::canonical(testPluginDir("dup") + "/libedgeopt_dup_stage.so").string();
  expectError(run(dup), 4,
              "p.yaml:4:5: plugins: plugin " + dup +
                  ": stage 'toy_train' is already provided by plugin 'toy_train'; rename one of them or load only "
                  "one of the two plugins");
  // A broken plugin on EDGEOPT_PLUGIN_PATH stops every command, --list-plugins included.
  const std::string bad_api = fs::canonical(testPluginDir("bad_api") + "/libedgeopt_bad_api.so").string();
  expectError(runCli("--list-plugins", dir, cliPluginPath() + ":" + testPluginDir("bad_api")), 4,
              "plugin " + bad_api +
                  ": was built for plugin API version 99, this EdgeOpt supports version 1; rebuild it against this "
                  "EdgeOpt SDK");
}

TEST_CASE("a stage that throws: exit 1 naming the stage, its plugin and recipe line", "[cli]") {
  const std::string dir = setup("stage-error");
  CliResult r = runCli("r.yaml --set stages.1.kind=fail --output out", dir);
  expectError(r, 1, "r.yaml:9:5: stages.1: stage 'fail' (plugin toy_train) failed: deliberate failure");
  // The stage before it finished and was checkpointed.
  CHECK(readText(dir + "/out/state.json").find("\"completed_stages\": 1") != std::string::npos);
  CHECK(fs::exists(dir + "/out/checkpoints/stage-0-toy_train.edgeopt"));
}

TEST_CASE("bad command lines: exit 2", "[cli]") {
  const std::string dir = setup("usage-errors");
  expectError(runCli("r.yaml --threads -1", dir), 2,
              "--threads: Value -1 not in range 0 to 4096 (see edgeopt-run --help)");
  expectError(runCli("--bogus", dir), 2, "The following argument was not expected: --bogus (see edgeopt-run --help)");
  expectError(runCli("", dir), 2, "no recipe given (edgeopt-run RECIPE.yaml; see --help)");
  expectError(runCli("--resume nowhere", dir), 2, "--resume nowhere: no such run directory");
  expectError(runCli("--resume nowhere --set seed=1", dir), 2,
              "--resume continues a run exactly as recorded; it takes no --set, --seed, --threads, --output or "
              "--dry-run");
  fs::create_directories(dir + "/taken/x");
  expectError(runCli("r.yaml --output taken", dir), 2,
              "--output taken: already exists and is not empty; use --resume to continue that run, or choose a new "
              "folder");
}

TEST_CASE("version and plugin listing", "[cli]") {
  const std::string dir = scratchDir("info");
  CliResult v = runCli("--version", dir);
  CHECK(v.code == 0);
  CHECK(v.out.rfind("edgeopt-run 0.1.0 (git ", 0) == 0);
  CHECK(v.out.find("LibTorch 1.13.0, plugin API 1") != std::string::npos);
  CliResult l = runCli("--list-plugins", dir);
  CHECK(l.code == 0);
  CHECK(l.out.find("toy_train 1.2.3 (plugin API 1) ") != std::string::npos);
  CHECK(l.out.find("  stage: toy_train\n") != std::string::npos);
  CHECK(l.out.find("export 0.1.0 (plugin API 1) ") != std::string::npos);
  CHECK(l.out.find("  exporter: edgeopt\n") != std::string::npos);
}
