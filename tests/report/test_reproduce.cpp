// edgeopt-run --reproduce RUN_DIR: a short deterministic run reproduces
// bit for bit (metrics, export hashes, checkpoint tensors; verdict
// "identical"); another seed is "different" (exit 6); a changed plugin binary
// is named; compareRuns' tolerance verdicts on a perturbed copy; and the
// command line's errors.
#include <edgeopt/error.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/reproduce.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "brightness_classes.h"
#include "cli_runner.h"
#include "run_metrics.h"

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace edgeopt::test;

namespace {

const char* kRecipe = R"(version: 1
name: repro
seed: 4
deterministic: true
threads: 2
model: {source: zoo, name: simple_cnn, num_classes: 3, in_channels: 1, input_size: 12, width_mult: 0.5}
data:
  dataset: imagenet
  root: images
  channels: 1
  batch_size: 8
  workers: 2
  train_transforms: [{random_resized_crop: {size: 12, scale: [0.7, 1.0]}}, {horizontal_flip: 0.5}, {normalize: {mean: [0.3], std: [0.3]}}]
  val_transforms: [{normalize: {mean: [0.3], std: [0.3]}}]
stages:
  - kind: train
    epochs: 2
    lr: 0.1
  - kind: qat
    preset: WC8_AT8
    epochs: 1
    lr: 0.01
  - kind: export
    formats: [edgeopt, onnx, qdq_onnx, torchscript]
)";

const std::vector<std::string> kPlugins = {"zoo", "train", "quant", "export", "onnx_export", "torchscript_export",
                                           "imagenet"};

std::string plugins() {
  static const std::string path = builtinSubset("repro", kPlugins);
  return path;
}

std::string firstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

// A finished short run in <dir>/orig, made once per process.
const std::string& originalRun() {
  static const std::string dir = [] {
    const std::string d = scratchDir("repro-" + std::to_string(::getpid()));
    makeBrightnessClasses(d + "/images", 5, 1);
    writeText(d + "/r.yaml", kRecipe);
    CliResult r = runCli("r.yaml --output orig", d, plugins());
    INFO(r.err);
    REQUIRE(r.code == 0);
    return d;
  }();
  return dir;
}

}  // namespace

TEST_CASE("reproduce: a deterministic run is reproduced bit for bit, verdict identical", "[reproduce]") {
  const std::string dir = originalRun();
  CliResult r = runCli("--reproduce orig --output again", dir, plugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  CHECK(firstLine(r.out) == "again");
  CHECK(r.out.find("verdict: identical\n") != std::string::npos);
  CHECK(r.out.find("environment differs") == std::string::npos);
  CHECK(r.out.find("compared 3 metrics rows, ") != std::string::npos);
  // Checked here independently: the same rows, export bytes and checkpoint tensors.
  const auto a = metricsRows(dir + "/orig"), b = metricsRows(dir + "/again");
  REQUIRE(a.size() == 3);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i)
    for (const char* key : {"train_loss", "val_loss", "val_top1", "lr"})
      if (a[i].contains(key)) CHECK(a[i][key] == b[i][key]);
  for (const char* f : {"model.edgeopt", "model.onnx", "model.qdq.onnx", "model.pt"})
    CHECK(edgeopt::sha256File(dir + "/orig/exports/" + f) == edgeopt::sha256File(dir + "/again/exports/" + f));
  for (const char* f : {"stage-0-train.edgeopt", "stage-1-qat.edgeopt", "stage-2-export.edgeopt"}) {
    const auto x = edgeopt::GraphModule::load(dir + "/orig/checkpoints/" + f)->stateDict();
    const auto y = edgeopt::GraphModule::load(dir + "/again/checkpoints/" + f)->stateDict();
    REQUIRE(x.size() == y.size());
    for (size_t i = 0; i < x.size(); ++i) CHECK(at::equal(x[i].second, y[i].second));
  }
  // The reproduction records the original's recipe, seed and threads.
  const auto manifest = nlohmann::json::parse(readText(dir + "/again/manifest.json"));
  CHECK(manifest["seed"] == 4);
  CHECK(manifest["threads"] == 2);
  CHECK(manifest["deterministic"] == true);
}

TEST_CASE("reproduce: another seed gives different results, named, exit 6", "[reproduce]") {
  const std::string dir = originalRun();
  CliResult r = runCli("--reproduce orig --output seed1 --seed 1", dir, plugins());
  INFO(r.out << r.err);
  CHECK(r.code == 6);
  CHECK(r.out.find("environment differs: seed: 4 -> 1\n") != std::string::npos);
  CHECK(r.out.find("verdict: different (") != std::string::npos);
  CHECK(r.out.find("  metrics row 1 (stage 0 train, epoch 1) train_loss: ") != std::string::npos);
  CHECK(r.out.find("  checkpoints/stage-0-train.edgeopt: ") != std::string::npos);
}

TEST_CASE("reproduce: a changed plugin binary is warned about and named", "[reproduce]") {
  const std::string dir = originalRun();
  // The same plugins, but libedgeopt_export.so has other bytes (still loads).
  const std::string changed = builtinSubset("repro-changed", kPlugins);
  std::ofstream(changed + "/libedgeopt_export.so", std::ios::binary | std::ios::app) << std::string(16, '\0');
  CliResult r = runCli("--reproduce orig --output changed", dir, changed);
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK(r.out.find("environment differs: plugin export: binary changed (SHA-256 ") != std::string::npos);
  CHECK(r.out.find("libedgeopt_export.so)") != std::string::npos);
  CHECK(r.out.find("plugin quant") == std::string::npos);
  CHECK(r.out.find("verdict: identical\n") != std::string::npos);
}

TEST_CASE("reproduce: tiny differences are the same within tolerance, larger ones different", "[reproduce]") {
  const std::string dir = originalRun();
  const std::string copy = dir + "/copy-" + std::to_string(::getpid());
  fs::remove_all(copy);
  fs::copy(dir + "/orig", copy, fs::copy_options::recursive);
  CHECK(edgeopt::compareRuns(dir + "/orig", copy).verdict == edgeopt::Reproduction::Verdict::Identical);

  // A weight 1e-7 off (relative to values of about 1): within the default 1e-5.
  const std::string ckpt = copy + "/checkpoints/stage-0-train.edgeopt";
  auto m = edgeopt::GraphModule::load(ckpt);
  const std::string name = m->namedParameters()[0].first;
  at::Tensor w = m->tensor(name).clone();
  w.view(-1)[0] += 1e-7f;
  m->setTensor(name, w);
  m->save(ckpt);
  auto r = edgeopt::compareRuns(dir + "/orig", copy);
  INFO(r.text());
  CHECK(r.verdict == edgeopt::Reproduction::Verdict::WithinTolerance);
  CHECK(r.text().find("verdict: same within tolerance (largest difference ") != std::string::npos);
  CHECK(r.largest.find("checkpoints/stage-0-train.edgeopt: tensor " + name) != std::string::npos);
  // With no tolerance it is a difference, named.
  auto strict = edgeopt::compareRuns(dir + "/orig", copy, 0);
  CHECK(strict.verdict == edgeopt::Reproduction::Verdict::Different);
  REQUIRE(strict.differences.size() == 1);
  CHECK(strict.differences[0].rfind("checkpoints/stage-0-train.edgeopt: 1 of ", 0) == 0);
  CHECK(strict.differences[0].find("tensors differ, most " + name + " by up to ") != std::string::npos);

  // A missing export.
  fs::remove(copy + "/exports/model.onnx");
  r = edgeopt::compareRuns(dir + "/orig", copy);
  CHECK(r.verdict == edgeopt::Reproduction::Verdict::Different);
  CHECK(std::find(r.differences.begin(), r.differences.end(), "exports/model.onnx: missing in the reproduction") !=
        r.differences.end());
}

TEST_CASE("reproduce: the command line refuses what cannot be reproduced (exit 2)", "[reproduce]") {
  const std::string dir = originalRun();
  CliResult r = runCli("--reproduce images", dir, plugins());
  CHECK(r.code == 2);
  CHECK(r.lastErrLine() ==
        "error: --reproduce images: not a run directory (recipe.yaml, manifest.json or state.json missing)");
  r = runCli("r.yaml --reproduce orig", dir, plugins());
  CHECK(r.code == 2);
  CHECK(r.lastErrLine() == "error: --reproduce RUN_DIR runs that run's recorded recipe; it takes no recipe, "
                           "--resume, --dry-run or --input-shape");
  // An unfinished run (stopped by kill -9 in training).
  CliResult killed = runCli("r.yaml --output killed", dir, plugins(), "EDGEOPT_FAULT_KILL=1:2");
  REQUIRE(killed.code == 128 + 9);
  r = runCli("--reproduce killed", dir, plugins());
  CHECK(r.code == 2);
  CHECK(r.lastErrLine() == "error: --reproduce killed: the run has not finished (0 of 3 stages); finish it with "
                           "--resume killed first");
}

TEST_CASE("reproduce: a --nproc 2 run is reproduced by --nproc 2, and differs with one process", "[reproduce]") {
  const std::string dir = originalRun();
  CliResult r = runCli("--nproc 2 r.yaml --output ranks --set threads=1 --set data.workers=1", dir, plugins());
  INFO(r.err);
  REQUIRE(r.code == 0);
  r = runCli("--nproc 2 --reproduce ranks --output ranks-again", dir, plugins());
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK(r.out.find("verdict: identical\n") != std::string::npos);
  r = runCli("--reproduce ranks --output ranks-one", dir, plugins());
  CHECK(r.code == 6);
  CHECK(r.out.find("environment differs: world size: 2 -> 1 (reproduce with --nproc 2)\n") != std::string::npos);
}
