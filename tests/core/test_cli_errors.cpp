// Bad input to edgeopt-run: each case checks the exact one-line message and
// the documented exit code (2 usage, 3 recipe, 4 plugin, 5 input, 1 runtime).
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/builder.h>

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
              "kill_after_epoch, interrupt_after_epoch, layers)");
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
  // An entry symbol that is not the pointer EDGEOPT_PLUGIN exports: a line, not a crash.
  for (const std::string folder : {"null_entry", "function_entry"}) {
    const std::string lib = fs::canonical(testPluginDir(folder) + "/libedgeopt_" + folder + ".so").string();
    const CliResult r = runCli("--list-plugins", dir, cliPluginPath() + ":" + testPluginDir(folder));
    INFO(r.err);
    CHECK(r.code == 4);
    CHECK(r.err.rfind("error: plugin " + lib + ": 'edgeopt_plugin_info' is ", 0) == 0);
    CHECK(r.err.find('\n') == r.err.size() - 1);
  }
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
              "--resume continues a run exactly as recorded; it takes no --set, --seed, --threads, --input-shape, "
              "--output or --dry-run");
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

TEST_CASE("hostile recipes: one line, exit 3 (2 for a --set that can't be followed)", "[cli]") {
  const std::string dir = setup("hostile-recipes");
  const std::string tail = "model: {source: toy}\nstages: [{kind: export}]\n";
  writeText(dir + "/alias.yaml", "version: 1\nname: x\nvars: &v {a: *v}\n" + tail);
  expectError(runCli("alias.yaml", dir), 3,
              "alias.yaml:3:7: recursive YAML alias: this value contains itself (an alias *name inside its own &name)");
  std::string bomb = "version: 1\nname: x\nvars:\n  l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n";
  for (int i = 1; i < 9; ++i) {
    bomb += "  l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) bomb += (j ? ", *l" : "*l") + std::to_string(i - 1);
    bomb += "]\n";
  }
  writeText(dir + "/bomb.yaml", bomb + tail);
  const CliResult b = runCli("bomb.yaml", dir);
  CHECK(b.code == 3);
  CHECK(b.lastErrLine().find("more than 100000 values once YAML aliases are expanded") != std::string::npos);
  writeText(dir + "/two.yaml", "version: 1\nname: x\n" + tail + "---\nname: y\n");
  expectError(runCli("two.yaml", dir), 3, "two.yaml:6:1: a second YAML document (after '---'); a recipe is one document");
  writeText(dir + "/self.yaml", "version: 1\nname: x\nvars: {n: '${vars.n}'}\nmodel: {source: toy, channels: '${vars.n}'}\n"
                                "stages: [{kind: export}]\n");
  expectError(runCli("self.yaml", dir), 3,
              "self.yaml:3:11: vars.n: variables refer to each other in a cycle: vars.n -> vars.n");
  expectError(runCli("r.yaml --set foo", dir), 2, "--set foo: expected PATH=VALUE, such as stages.1.epochs=3");
  expectError(runCli("r.yaml --set stages.99999999999999999999.epochs=1", dir), 2,
              "--set stages.99999999999999999999.epochs=1: stages.99999999999999999999: index out of range: the list "
              "has 2 entries");
  // Control bytes from the file are escaped: the terminal gets no escape sequence.
  writeText(dir + "/esc.yaml", "version: 1\nname: x\nmodel: {source: toy}\nstages: [{kind: \"ex\\e[2Jport\"}]\n");
  const CliResult e = runCli("esc.yaml", dir);
  CHECK(e.code == 3);
  CHECK(e.err.find('\x1b') == std::string::npos);
  CHECK(e.lastErrLine().find("unknown stage 'ex\\x1b[2Jport'") != std::string::npos);
}

TEST_CASE("a model file with a zero stride: one line naming the file and the node, exit 5", "[cli]") {
  const std::string dir = setup("zero-stride");
  {
    edgeopt::ir::ModelBuilder b;
    edgeopt::ir::Value* x = b.input("x");
    b.output({b.conv2d("conv", x, edgeopt::ir::Conv2dOptions(3, 4, 3))});
    auto model = b.finish();
    model->graph().findNode("conv")->setAttr("stride", int64_t{0});
    model->setExampleInputShapes({{1, 3, 8, 8}});
    model->save(dir + "/bad.edgeopt");
  }
  const std::string cause = ": shape propagation failed at %conv = conv2d(%x, %conv.weight, %conv.bias) {dilation=[1, "
                            "1], groups=1, padding=[0, 0], stride=0}  # conv: Conv2d: node 'conv' (conv2d): attribute "
                            "'stride' must be at least 1, got 0";
  const CliResult inspect = runProgram("edgeopt-inspect", "bad.edgeopt", dir);
  expectError(inspect, 5, "bad.edgeopt" + cause);
  CHECK(inspect.err.find('\n') == inspect.err.size() - 1);
  writeText(dir + "/m.yaml", "version: 1\nname: m\nmodel: {source: checkpoint, path: bad.edgeopt}\n"
                             "stages: [{kind: export}]\n");
  expectError(runCli("m.yaml --dry-run", dir), 5, "bad.edgeopt" + cause);

  // Sizes below 1 stop at validation, not in the middle of a run.
  expectError(runProgram("edgeopt-inspect", "bad.edgeopt --input-shape 1,3,0,8", dir), 2,
              "--input-shape: every size must be at least 1, got [1, 3, 0, 8]");
  expectError(runCli("r.yaml --dry-run --set stages.1.kind=summary --set stages.1.input_shape=[1,3,-8,8]", dir), 3,
              "--set stages.1.input_shape=[1,3,-8,8]: stages.1.input_shape.2: must be at least 1 (got -8)");
}

TEST_CASE("data.channels: 2 stops at --dry-run, not when a stage opens the data", "[cli]") {
  const std::string dir = setup("channels");
  const std::string plugins = cliPluginPath() + ":" + builtinSubset("channels", {"imagenet"});
  expectError(runCli("r.yaml --dry-run --set 'data={dataset: imagenet, root: ., channels: 2}'", dir, plugins), 3,
              "--set data={dataset: imagenet, root: ., channels: 2}: data.channels: must be one of: 1, 3 (got 2)");
}

TEST_CASE("an export stage writing TorchScript first makes exports/ itself", "[cli]") {
  const std::string dir = setup("torchscript-first");
  const std::string plugins = testPluginDir("good") + ":" + builtinSubset("ts", {"export", "torchscript_export"});
  const CliResult r = runCli("r.yaml --output out --set stages.1.formats=[torchscript,edgeopt]", dir, plugins);
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(fs::is_regular_file(dir + "/out/exports/model.pt"));
}
