// Data parallel training through the real edgeopt-run, on a small generated
// image folder: 2 ranks with per-rank batch 4 train the same weights (within
// 1e-5) and report the same metrics as 1 rank with batch 8, launched with
// --nproc or with torchrun's variables; only rank 0 writes; a rank that dies
// or cannot reach rank 0 ends the run with a clear error, not a hang; and a
// killed 2-rank run resumes to the uninterrupted result.
//
// The model is the toy conv-BN-ReLU net with its BN folded into the conv
// first (transform: fold-conv-bn): BatchNorm in train mode normalizes with
// each rank's own batch statistics, which no 2-rank run can match exactly.
#include <edgeopt/distributed.h>
#include <edgeopt/graph_module.h>

#include "brightness_classes.h"
#include "cli_runner.h"
#include "run_metrics.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <thread>

#include <csignal>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace edgeopt::test;

namespace {

// SGD with momentum and weight decay, a horizontal flip (random per example),
// 2 epochs of 9 steps; then the evaluate stage (sharded over the ranks too).
const char* kRecipe = R"(version: 1
name: ddp
seed: 3
deterministic: true
threads: 1
model: {source: toy, channels: 8, num_classes: 3, input_size: 12}
data:
  dataset: imagenet
  root: images
  batch_size: 8
  workers: 1
  train_transforms: [{horizontal_flip: 0.5}, {normalize: {mean: [0.3, 0.3, 0.3], std: [0.3, 0.3, 0.3]}}]
  val_transforms: [{normalize: {mean: [0.3, 0.3, 0.3], std: [0.3, 0.3, 0.3]}}]
stages:
  - kind: transform
    passes: [fold-conv-bn]
  - kind: train
    epochs: 2
    lr: 0.05
    momentum: 0.9
    weight_decay: 0.001
  - kind: evaluate
  - kind: export
)";

std::string plugins() {
  static const std::string path =
      testPluginDir("good") + ":" + builtinSubset("ddp", {"train", "imagenet", "export", "transform"});
  return path;
}

// The largest difference between two exported models' tensors.
double maxDifference(const std::string& a_file, const std::string& b_file) {
  auto a = edgeopt::GraphModule::load(a_file)->stateDict();
  auto b = edgeopt::GraphModule::load(b_file)->stateDict();
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].first == b[i].first);
    worst = std::max(worst, (a[i].second.to(at::kDouble) - b[i].second.to(at::kDouble)).abs().max().item<double>());
  }
  return worst;
}

void requireSameMetrics(const std::vector<nlohmann::json>& one, const std::vector<nlohmann::json>& two) {
  REQUIRE(one.size() == 3);  // 2 epochs, then the evaluate stage
  REQUIRE(two.size() == one.size());
  CHECK(one[2]["kind"] == "evaluate");
  for (size_t e = 0; e < one.size(); ++e)
    for (const char* key : {"lr", "train_loss", "train_top1", "val_loss", "val_top1", "val_images"}) {
      if (!one[e].contains(key)) continue;
      INFO("row " << e + 1 << " " << key);
      CHECK(two[e][key].get<double>() == Approx(one[e][key].get<double>()).margin(1e-5));
    }
}

std::string launchEnv(int rank, int port) {
  return "RANK=" + std::to_string(rank) + " WORLD_SIZE=2 LOCAL_RANK=" + std::to_string(rank) +
         " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " EDGEOPT_DIST_TIMEOUT=60";
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("ddp: 2 ranks with batch 4 each train the weights and metrics of 1 rank with batch 8", "[dist]") {
  const std::string dir = scratchDir("ddp-equal");
  makeBrightnessClasses(dir + "/images", 11, 3);
  writeText(dir + "/r.yaml", kRecipe);

  CliResult one = runCli("r.yaml --output one", dir, plugins());
  INFO(one.err);
  REQUIRE(one.code == 0);

  // --nproc 2, into runs/ (no --output): one run directory, written by rank 0.
  CliResult two = runCli("r.yaml --nproc 2 --set data.batch_size=4", dir, plugins());
  INFO(two.err);
  REQUIRE(two.code == 0);
  REQUIRE(entries(dir + "/runs").size() == 1);
  const std::string run = dir + "/runs/" + entries(dir + "/runs")[0];
  CHECK(two.out == run.substr(dir.size() + 1) + "\n");  // rank 0 alone prints the run directory
  CHECK(two.err.find("rank 1 info stage 2/4: train (plugin train)") != std::string::npos);
  CHECK(readText(run + "/log.txt").find("rank 1") == std::string::npos);
  CHECK(nlohmann::json::parse(readText(run + "/manifest.json"))["world_size"] == 2);
  CHECK(maxDifference(dir + "/one/exports/model.edgeopt", run + "/exports/model.edgeopt") < 1e-5);
  requireSameMetrics(metricsRows(dir + "/one"), metricsRows(run));
  CHECK(metricsRows(run)[0]["val_images"] == 24);

  // Launched by hand, torchrun style, rank 1 from another folder: it joins
  // rank 0's run directory and writes nothing in its own folder.
  const std::string elsewhere = scratchDir("ddp-equal-rank1");
  const int port = edgeopt::dist::freeLocalPort();
  CliResult rank1;
  std::thread second([&] {
    rank1 = runCli("'" + dir + "/r.yaml' --set data.batch_size=4", elsewhere, plugins(), launchEnv(1, port));
  });
  CliResult rank0 = runCli("r.yaml --output manual --set data.batch_size=4", dir, plugins(), launchEnv(0, port));
  second.join();
  INFO(rank0.err << rank1.err);
  REQUIRE(rank0.code == 0);
  REQUIRE(rank1.code == 0);
  CHECK(rank1.out.empty());
  CHECK(entries(elsewhere) == std::vector<std::string>{".cli-stderr", ".cli-stdout"});
  CHECK(maxDifference(dir + "/one/exports/model.edgeopt", dir + "/manual/exports/model.edgeopt") < 1e-5);
  requireSameMetrics(metricsRows(dir + "/one"), metricsRows(dir + "/manual"));
}

TEST_CASE("ddp: a rank killed mid-epoch stops the run with its exit status, and --resume finishes it", "[dist]") {
  const std::string dir = scratchDir("ddp-kill");
  makeBrightnessClasses(dir + "/images", 11, 3);
  writeText(dir + "/r.yaml", kRecipe);
  CliResult full = runCli("r.yaml --nproc 2 --output full --set data.batch_size=4", dir, plugins());
  INFO(full.err);
  REQUIRE(full.code == 0);

  // Rank 1 alone dies (SIGKILL) after batch 3 of epoch 2; rank 0 is left
  // waiting in a collective: the launcher stops it.
  const auto t0 = std::chrono::steady_clock::now();
  CliResult killed = runCli("r.yaml --nproc 2 --output killed --set data.batch_size=4", dir, plugins(),
                            "EDGEOPT_FAULT_KILL=2:3 EDGEOPT_FAULT_KILL_RANK=1");
  INFO(killed.err);
  CHECK(killed.code == 128 + 9);
  CHECK(killed.lastErrLine() == "error: rank 1 was killed by signal 9 (Killed); stopped the others");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60));
  CHECK(metricsRows(dir + "/killed").size() == 1);  // epoch 1 was saved

  // Without a launcher (torchrun-style variables), rank 0 notices by itself
  // that its peer is gone, at the next collective.
  const int port = edgeopt::dist::freeLocalPort();
  CliResult rank1;
  std::thread second([&] {
    rank1 = runCli("'" + dir + "/r.yaml' --set data.batch_size=4", scratchDir("ddp-kill-rank1"), plugins(),
                   launchEnv(1, port) + " EDGEOPT_FAULT_KILL=2:3 EDGEOPT_FAULT_KILL_RANK=1");
  });
  CliResult rank0 = runCli("r.yaml --output alone --set data.batch_size=4", dir, plugins(),
                           launchEnv(0, port) + " EDGEOPT_FAULT_KILL=2:3 EDGEOPT_FAULT_KILL_RANK=1");
  second.join();
  CHECK(rank1.code == 128 + 9);
  CHECK(rank0.code == 1);
  CHECK(rank0.lastErrLine().rfind("error: r.yaml:17:5: stages.1: stage 'train' (plugin train) failed: rank 0: "
                                  "all-reduce with the other ranks failed (did another rank stop?): ",
                                  0) == 0);

  CliResult resumed = runCli("--nproc 2 --resume killed", dir, plugins());
  INFO(resumed.err);
  REQUIRE(resumed.code == 0);
  CHECK(maxDifference(dir + "/full/exports/model.edgeopt", dir + "/killed/exports/model.edgeopt") == 0);
  const auto a = metricsRows(dir + "/full"), b = metricsRows(dir + "/killed");
  REQUIRE(b.size() == a.size());
  for (size_t e = 0; e < a.size(); ++e)
    for (const char* key : {"train_loss", "val_loss", "val_top1"})
      if (a[e].contains(key)) CHECK(b[e][key] == a[e][key]);
}

TEST_CASE("ddp: a rank that cannot reach rank 0 fails within EDGEOPT_DIST_TIMEOUT, naming the address", "[dist]") {
  const std::string dir = scratchDir("ddp-unreachable");
  makeBrightnessClasses(dir + "/images", 11, 3);
  writeText(dir + "/r.yaml", kRecipe);
  const int port = edgeopt::dist::freeLocalPort();  // nobody listens there
  const auto t0 = std::chrono::steady_clock::now();
  CliResult r = runCli("r.yaml", dir, plugins(),
                       "RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) +
                           " EDGEOPT_DIST_TIMEOUT=2");
  CHECK(r.code == 1);
  CHECK(r.lastErrLine().rfind("error: rank 1 of 2: the rendezvous at MASTER_ADDR:MASTER_PORT = 127.0.0.1:" +
                                  std::to_string(port) + " failed after ",
                              0) == 0);
  CHECK(r.lastErrLine().find("is rank 0 running and reachable there? (EDGEOPT_DIST_TIMEOUT = 2 s)") !=
        std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30));
  CHECK_FALSE(fs::exists(dir + "/runs"));

  CliResult bad = runCli("r.yaml", dir, plugins(), "RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=http");
  CHECK(bad.code == 2);
  CHECK(bad.lastErrLine() == "error: environment variable MASTER_PORT='http' must be an integer in [1, 65535]");
  // Rank 0 refuses a used --output (exit 2); rank 1, losing the rendezvous
  // with it, fails too (exit 1): the run's status is rank 0's.
  writeText(dir + "/used/file", "x");
  CliResult used = runCli("r.yaml --nproc 2 --output used", dir, plugins());
  CHECK(used.code == 2);
  CHECK(used.err.find("error: --output used: already exists and is not empty") != std::string::npos);
  CHECK(used.lastErrLine() == "error: rank 0 exited with code 2; stopped the others");

  CliResult both = runCli("r.yaml --nproc 2", dir, plugins(), "WORLD_SIZE=2 RANK=0");
  CHECK(both.code == 2);
  CHECK(both.lastErrLine() ==
        "error: --nproc starts its own ranks; unset WORLD_SIZE/RANK (or launch without --nproc)");
}

TEST_CASE("ddp: a rank that hangs makes the others fail after EDGEOPT_DIST_TIMEOUT, not wait forever", "[dist]") {
  const std::string dir = scratchDir("ddp-hang");
  makeBrightnessClasses(dir + "/images", 11, 3);
  writeText(dir + "/r.yaml", kRecipe);
  const std::string elsewhere = scratchDir("ddp-hang-rank1");
  const int port = edgeopt::dist::freeLocalPort();
  const std::string env =
      " EDGEOPT_DIST_TIMEOUT=4 EDGEOPT_NO_BUILTIN_PLUGINS=1 EDGEOPT_PLUGIN_PATH='" + plugins() + "'";
  // Rank 1 in the background (its pid kept), then stopped (SIGSTOP) while
  // rank 0 trains: its sockets stay open, so only the timeout can end the wait.
  const std::string rank1 = "cd '" + elsewhere + "' && { RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                            std::to_string(port) + env + " '" + EDGEOPT_BINARY_DIR + "/bin/edgeopt-run' '" + dir +
                            "/r.yaml' --set stages.1.epochs=1000 >/dev/null 2>&1 & echo $! > pid; }";
  REQUIRE(std::system(rank1.c_str()) == 0);
  const pid_t pid = std::stoi(readText(elsewhere + "/pid"));
  CliResult rank0;
  std::thread first([&] {
    rank0 = runCli("r.yaml --output out --set stages.1.epochs=1000", dir, plugins(),
                   "RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) +
                       " EDGEOPT_DIST_TIMEOUT=4");
  });
  // Stop rank 1 only once both ranks train (rank 0 logs the train stage after
  // the rendezvous); a fixed sleep raced a slow start on a loaded machine.
  const auto started = std::chrono::steady_clock::now();
  while (readText(dir + "/out/log.txt").find("stage 2/") == std::string::npos &&
         std::chrono::steady_clock::now() - started < std::chrono::seconds(120))
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(pid, SIGSTOP);
  first.join();
  ::kill(pid, SIGKILL);
  CHECK(rank0.code == 1);
  CHECK(rank0.lastErrLine().find("error: ") == 0);
  CHECK(rank0.lastErrLine().find("4000ms") != std::string::npos);  // Gloo's or the store's timeout
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30));
}
