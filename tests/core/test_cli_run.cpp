// edgeopt-run end to end with stages from two plugin libraries (toy_train
// from the test plugin, export from the built-in export plugin).
#include <edgeopt/graph_module.h>

#include "cli_runner.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <filesystem>

namespace fs = std::filesystem;
using namespace edgeopt::test;

namespace {

const char* kTwoStage = R"(# toy_train comes from libedgeopt_toy_train, export from libedgeopt_export
version: 1
name: twostage
seed: 3
threads: 1
deterministic: true
model:
  source: toy
  channels: 4
stages:
  - kind: toy_train
    epochs: 3
    layers: [type:Conv2d]
  - kind: export
)";

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

edgeopt::GraphModule::NamedTensors stateOf(const std::string& path) {
  return edgeopt::GraphModule::load(path)->stateDict();
}

// Largest |a - b - offset| over the parameters (buffers must be equal).
double maxParamOffsetError(const std::string& a_path, const std::string& b_path, double offset) {
  auto a = edgeopt::GraphModule::load(a_path), b = edgeopt::GraphModule::load(b_path);
  double worst = 0;
  auto pa = a->namedParameters(), pb = b->namedParameters();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i)
    worst = std::max(worst, (pa[i].second - pb[i].second - offset).abs().max().item<double>());
  auto ba = a->namedBuffers(), bb = b->namedBuffers();
  for (size_t i = 0; i < ba.size(); ++i) REQUIRE(at::equal(ba[i].second, bb[i].second));
  return worst;
}

}  // namespace

TEST_CASE("a two-stage recipe from two plugins writes the run directory", "[cli]") {
  const std::string dir = scratchDir("two-stage");
  writeText(dir + "/r.yaml", kTwoStage);
  CliResult r = runCli("r.yaml", dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const std::string run = dir + "/" + trimmed(r.out);
  CHECK(fs::path(trimmed(r.out)).parent_path() == "runs");
  CHECK(fs::path(run).filename().string().rfind("twostage-", 0) == 0);
  for (const char* f : {"recipe.yaml", "manifest.json", "log.txt", "state.json",
                        "checkpoints/stage-0-toy_train.edgeopt", "checkpoints/stage-1-export.edgeopt",
                        "exports/model.edgeopt"})
    CHECK(fs::is_regular_file(run + "/" + f));

  auto manifest = nlohmann::json::parse(readText(run + "/manifest.json"));
  CHECK(manifest["seed"] == 3);
  CHECK(manifest["deterministic"] == true);
  CHECK(manifest["threads"] == 1);
  CHECK(manifest["libtorch"]["version"] == "1.13.0");
  bool found = false;
  for (const auto& p : manifest["plugins"])
    if (p["name"] == "toy_train") {
      found = true;
      CHECK(p["version"] == "1.2.3");
      CHECK(p["sha256"].get<std::string>().size() == 64);
    }
  CHECK(found);
  CHECK(nlohmann::json::parse(readText(run + "/state.json"))["completed_stages"] == 2);
  CHECK(readText(run + "/log.txt").find("stage 2/2: export (plugin export)") != std::string::npos);

  // The same recipe with only the export stage: the difference is exactly the
  // three toy epochs, 0.01 + 0.02 + 0.03, on every parameter.
  CliResult plain = runCli("r.yaml --set stages.0.epochs=1 --output plain", dir);
  REQUIRE(plain.code == 0);
  CHECK(maxParamOffsetError(run + "/exports/model.edgeopt", dir + "/plain/exports/model.edgeopt", 0.05) < 1e-6);
  // The exported model equals the checkpoint after the last stage.
  auto exported = stateOf(run + "/exports/model.edgeopt"), checkpoint = stateOf(run + "/checkpoints/stage-1-export.edgeopt");
  REQUIRE(exported.size() == checkpoint.size());
  for (size_t i = 0; i < exported.size(); ++i) CHECK(at::equal(exported[i].second, checkpoint[i].second));
}

TEST_CASE("dry run validates, resolves selectors, prints the plan and writes nothing", "[cli]") {
  const std::string dir = scratchDir("dry-run");
  writeText(dir + "/r.yaml", kTwoStage);
  CliResult r = runCli("r.yaml --dry-run", dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("recipe r.yaml: twostage (seed 3, threads 1, deterministic yes)\n") == 0);
  CHECK(r.out.find("model: toy (plugin toy_train): 0.000 M params, 0.007 M MACs at [1, 3, 8, 8]\n") != std::string::npos);
  CHECK(r.out.find("  0. toy_train (plugin toy_train, r.yaml:11:5)\n"
                   "       layers: 1 layers (features.0)\n"
                   "       epochs: 3\n"
                   "  1. export (plugin export, r.yaml:14:5)\n"
                   "       writes exports/model.edgeopt\n") != std::string::npos);
  CHECK(r.out.find("dry run: recipe valid, nothing written") != std::string::npos);
  CHECK_FALSE(fs::exists(dir + "/runs"));
}

TEST_CASE("resume after kill -9 mid-stage ends with the uninterrupted result", "[cli]") {
  const std::string dir = scratchDir("resume");
  writeText(dir + "/r.yaml", kTwoStage);
  CliResult full = runCli("r.yaml --output full", dir);
  REQUIRE(full.code == 0);

  // Killed (SIGKILL) right after saving epoch 2 of 3.
  CliResult killed = runCli("r.yaml --output killed --set stages.0.kill_after_epoch=1", dir);
  REQUIRE(killed.code == 128 + 9);
  auto state = nlohmann::json::parse(readText(dir + "/killed/state.json"));
  CHECK(state["completed_stages"] == 0);
  CHECK(state["progress"]["state"] == "2");
  CHECK_FALSE(fs::exists(dir + "/killed/exports"));

  CliResult resumed = runCli("--resume killed", dir);
  INFO(resumed.err);
  REQUIRE(resumed.code == 0);
  CHECK(resumed.err.find("resuming killed after stage 0 of 2 (with in-stage progress)") != std::string::npos);
  // The recorded recipe still kills at epoch 1, but epoch 1 is done: resuming
  // runs epoch 2 only, so the weights match the uninterrupted run exactly.
  CHECK(maxParamOffsetError(dir + "/killed/exports/model.edgeopt", dir + "/full/exports/model.edgeopt", 0) == 0);
  CHECK(nlohmann::json::parse(readText(dir + "/killed/state.json"))["completed_stages"] == 2);

  // Resuming a finished run does nothing more and succeeds.
  CHECK(runCli("--resume killed", dir).code == 0);
}
