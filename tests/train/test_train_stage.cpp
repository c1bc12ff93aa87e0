// The train stage end to end through edgeopt-run on a small generated
// ImageNet-style folder: learning happens, metrics are written per epoch, and
// a run killed mid-epoch (kill -9) resumes to the bit-identical result.
#include <edgeopt/graph_module.h>

#include "brightness_classes.h"
#include "cli_runner.h"
#include "run_metrics.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <filesystem>

namespace fs = std::filesystem;
using namespace edgeopt::test;

namespace {

const char* kRecipe = R"(version: 1
name: tiny
seed: 5
deterministic: true
threads: 1
model: {source: toy, channels: 8, num_classes: 3, input_size: 12}
data:
  dataset: imagenet
  root: images
  batch_size: 8
  workers: 2
  train_transforms: [{horizontal_flip: 0.5}, {normalize: {mean: [0.3, 0.3, 0.3], std: [0.3, 0.3, 0.3]}}]
  val_transforms: [{normalize: {mean: [0.3, 0.3, 0.3], std: [0.3, 0.3, 0.3]}}]
stages:
  - kind: train
    epochs: 4
    lr: 0.2
    warmup_epochs: 0.5
  - kind: export
)";

std::string plugins() {
  static const std::string path =
      testPluginDir("good") + ":" + builtinSubset("train", {"train", "imagenet", "export"});
  return path;
}

}  // namespace

TEST_CASE("train stage: learns, writes metrics per epoch, resumes after kill -9 or Ctrl-C mid-epoch", "[train]") {
  const std::string dir = scratchDir("train-stage");
  makeBrightnessClasses(dir + "/images", 7, 1);
  writeText(dir + "/r.yaml", kRecipe);

  CliResult full = runCli("r.yaml --output full", dir, plugins());
  INFO(full.err);
  REQUIRE(full.code == 0);
  const auto rows = metricsRows(dir + "/full");
  REQUIRE(rows.size() == 4);
  for (int e = 0; e < 4; ++e) CHECK(rows[static_cast<size_t>(e)]["epoch"] == e + 1);
  CHECK(rows[3]["val_top1"].get<double>() >= 90.0);  // an easy task: the loop really trains
  CHECK(rows[3]["train_loss"].get<double>() < rows[0]["train_loss"].get<double>());
  CHECK(readText(dir + "/full/metrics.csv").rfind("stage,kind,epoch,lr,train_loss,train_top1,images_per_sec,seconds,skipped,val_loss,val_top1,val_top5", 0) == 0);

  // Killed after batch 5 of epoch 3 (9 batches per epoch), then resumed.
  CliResult killed = runCli("r.yaml --output killed", dir, plugins(), "EDGEOPT_FAULT_KILL=3:5");
  REQUIRE(killed.code == 128 + 9);
  CHECK(metricsRows(dir + "/killed").size() == 2);
  CliResult resumed = runCli("--resume killed", dir, plugins());
  INFO(resumed.err);
  REQUIRE(resumed.code == 0);
  const auto again = metricsRows(dir + "/killed");
  REQUIRE(again.size() == 4);
  for (size_t e = 0; e < 4; ++e)
    for (const char* key : {"train_loss", "train_top1", "val_loss", "val_top1", "lr", "best_epoch"})
      CHECK(again[e][key] == rows[e][key]);
  auto a = edgeopt::GraphModule::load(dir + "/full/exports/model.edgeopt")->stateDict();
  auto b = edgeopt::GraphModule::load(dir + "/killed/exports/model.edgeopt")->stateDict();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(at::equal(a[i].second, b[i].second));

  // Ctrl-C (SIGINT) after batch 5 of epoch 3: stops before batch 6, says how to continue.
  CliResult interrupted =
      runCli("r.yaml --output interrupted", dir, plugins(), "EDGEOPT_FAULT_KILL=3:5 EDGEOPT_FAULT_SIGNAL=2");
  INFO(interrupted.err);
  CHECK(interrupted.code == 130);
  CHECK(interrupted.lastErrLine() == "error: interrupted; continue with edgeopt-run --resume interrupted");
  CHECK(metricsRows(dir + "/interrupted").size() == 2);
  REQUIRE(runCli("--resume interrupted", dir, plugins()).code == 0);
  auto c = edgeopt::GraphModule::load(dir + "/interrupted/exports/model.edgeopt")->stateDict();
  REQUIRE(a.size() == c.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(at::equal(a[i].second, c[i].second));
}

TEST_CASE("train stage: a diverging loss stops the run naming the epoch and batch", "[train]") {
  const std::string dir = scratchDir("train-nan");
  makeBrightnessClasses(dir + "/images", 7, 1);
  writeText(dir + "/r.yaml", kRecipe);
  // Inputs scaled by 1e45 are infinite: the loss is not finite at batch 1.
  CliResult r = runCli("r.yaml --output out --set 'data.train_transforms=[{normalize: {mean: [0, 0, 0], std: "
                       "[1e-45, 1e-45, 1e-45]}}]'",
                       dir, plugins());
  INFO(r.err);
  CHECK(r.code == 1);
  CHECK(r.lastErrLine().find("r.yaml:15:5: stages.0: stage 'train' (plugin train) failed: the loss is ") == 7);
  CHECK(r.lastErrLine().find("; the last good checkpoint is kept (resume with --resume after lowering lr)") !=
        std::string::npos);
}

TEST_CASE("train stage: keeps best and last checkpoints, keep: best hands on the best epoch model", "[train]") {
  const std::string dir = scratchDir("train-keep");
  makeBrightnessClasses(dir + "/images", 7, 1);
  writeText(dir + "/r.yaml", kRecipe);
  for (const char* keep : {"last", "best"}) {
    const std::string out = std::string("keep-") + keep;
    CliResult r = runCli("r.yaml --output " + out + " --set stages.0.keep=" + keep, dir, plugins());
    INFO(r.err);
    REQUIRE(r.code == 0);
    // best_epoch is the first epoch with the highest val_top1 so far.
    const auto rows = metricsRows(dir + "/" + out);
    REQUIRE(rows.size() == 4);
    int64_t best = 0;
    double best_top1 = -1;
    for (const auto& row : rows) {
      if (row["val_top1"].get<double>() > best_top1) {
        best_top1 = row["val_top1"].get<double>();
        best = row["epoch"].get<int64_t>();
      }
      CHECK(row["best_epoch"].get<int64_t>() == best);
    }
    const std::string stage = dir + "/" + out + "/stages/0-train/";
    const auto exported = edgeopt::GraphModule::load(dir + "/" + out + "/exports/model.edgeopt")->stateDict();
    const auto kept = edgeopt::GraphModule::load(stage + keep + ".edgeopt")->stateDict();
    REQUIRE(exported.size() == kept.size());
    for (size_t i = 0; i < kept.size(); ++i) CHECK(at::equal(exported[i].second, kept[i].second));
    // The checkpoints differ unless the last epoch was the best.
    const auto last = edgeopt::GraphModule::load(stage + "last.edgeopt")->stateDict();
    const auto best_state = edgeopt::GraphModule::load(stage + "best.edgeopt")->stateDict();
    bool same = true;
    for (size_t i = 0; i < last.size(); ++i) same = same && at::equal(last[i].second, best_state[i].second);
    CHECK(same == (best == 4));
  }
}

// memory_format (edgeopt/memory_format.h): channels-last, the default, converts
// the conv weights and batches to NHWC while training; the same run in the
// contiguous layout differs only by float summation order.
TEST_CASE("train stage: channels_last and contiguous layouts train alike", "[train]") {
  const std::string dir = scratchDir("train-layout");
  makeBrightnessClasses(dir + "/images", 7, 1);
  writeText(dir + "/r.yaml", kRecipe);
  CliResult cl = runCli("r.yaml --output cl --log-level debug --set stages.0.epochs=2", dir, plugins());
  INFO(cl.err);
  REQUIRE(cl.code == 0);
  // The toy net has one 4-D weight (its conv); the log says it was converted.
  CHECK(cl.err.find("training in the channels-last layout (1 4-D weights converted)") != std::string::npos);
  CliResult plain =
      runCli("r.yaml --output plain --set stages.0.epochs=2 --set stages.0.memory_format=contiguous", dir, plugins());
  INFO(plain.err);
  REQUIRE(plain.code == 0);
  CHECK(plain.err.find("channels-last layout") == std::string::npos);
  const auto a = metricsRows(dir + "/cl"), b = metricsRows(dir + "/plain");
  REQUIRE(a.size() == 2);
  REQUIRE(b.size() == 2);
  for (size_t e = 0; e < 2; ++e)
    CHECK(std::abs(a[e]["train_loss"].get<double>() - b[e]["train_loss"].get<double>()) <= 1e-4);
  const auto wa = edgeopt::GraphModule::load(dir + "/cl/exports/model.edgeopt")->stateDict();
  const auto wb = edgeopt::GraphModule::load(dir + "/plain/exports/model.edgeopt")->stateDict();
  REQUIRE(wa.size() == wb.size());
  for (size_t i = 0; i < wa.size(); ++i) {
    INFO(wa[i].first);
    CHECK(at::allclose(wa[i].second.to(at::kDouble), wb[i].second.to(at::kDouble), 1e-4, 1e-5));
  }

  CliResult bad = runCli("r.yaml --output bad --dry-run --set stages.0.memory_format=nhwc", dir, plugins());
  CHECK(bad.code == 3);
  CHECK(bad.lastErrLine().find("memory_format") != std::string::npos);
}
