// Interruption and the run directory's integrity: Ctrl-C stops at a safe
// point and resumes, the log is on disk as the run goes, --resume checks
// state.json, leftovers of a killed write go away, no stage option writes
// outside the run directory, and a full disk is a message, not a crash.
#include <edgeopt/graph_module.h>

#include "cli_runner.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <filesystem>

namespace fs = std::filesystem;
using namespace edgeopt::test;

namespace {

const char* kRecipe = R"(version: 1
name: interrupt
threads: 1
deterministic: true
model: {source: toy}
stages:
  - kind: toy_train
    epochs: 3
  - kind: export
)";

std::string setup(const std::string& name) {
  const std::string dir = scratchDir(name);
  writeText(dir + "/r.yaml", kRecipe);
  return dir;
}

bool sameParameters(const std::string& a, const std::string& b) {
  auto pa = edgeopt::GraphModule::load(a)->stateDict(), pb = edgeopt::GraphModule::load(b)->stateDict();
  if (pa.size() != pb.size()) return false;
  for (size_t i = 0; i < pa.size(); ++i)
    if (!at::equal(pa[i].second, pb[i].second)) return false;
  return true;
}

}  // namespace

TEST_CASE("Ctrl-C stops at the next safe point, says how to continue, exit 130", "[cli]") {
  const std::string dir = setup("interrupt");
  REQUIRE(runCli("r.yaml --output full", dir).code == 0);
  // The stage sends itself SIGINT after epoch 1; epoch 2 saves its progress, then the run stops.
  const CliResult r = runCli("r.yaml --output out --set stages.0.interrupt_after_epoch=0", dir);
  INFO(r.err);
  CHECK(r.code == 130);
  CHECK(r.lastErrLine() == "error: interrupted; continue with edgeopt-run --resume out");
  const auto state = nlohmann::json::parse(readText(dir + "/out/state.json"));
  CHECK(state["completed_stages"] == 0);
  CHECK(state["progress"]["state"] == "2");
  CHECK(readText(dir + "/out/log.txt").find("stage 1/2: toy_train") != std::string::npos);

  const CliResult resumed = runCli("--resume out", dir);
  INFO(resumed.err);
  REQUIRE(resumed.code == 0);
  CHECK(sameParameters(dir + "/out/exports/model.edgeopt", dir + "/full/exports/model.edgeopt"));
}

TEST_CASE("log.txt is written as the run goes, and a resume removes what a killed write left", "[cli]") {
  const std::string dir = setup("leftovers");
  const CliResult killed = runCli("r.yaml --output out --set stages.0.kill_after_epoch=0", dir);
  REQUIRE(killed.code == 128 + 9);
  CHECK(readText(dir + "/out/log.txt").find("stage 1/2: toy_train (plugin toy_train)") != std::string::npos);
  // What kill -9 in the middle of atomicWrite and of the TorchScript exporter leaves.
  writeText(dir + "/out/checkpoints/progress-stage-0.edgeopt.tmp-4242-1f2e", "half a checkpoint");
  writeText(dir + "/out/exports/model.pt.tmp-4242", "half an export");
  const CliResult resumed = runCli("--resume out", dir);
  INFO(resumed.err);
  REQUIRE(resumed.code == 0);
  CHECK_FALSE(fs::exists(dir + "/out/checkpoints/progress-stage-0.edgeopt.tmp-4242-1f2e"));
  CHECK_FALSE(fs::exists(dir + "/out/exports/model.pt.tmp-4242"));
  CHECK(fs::is_regular_file(dir + "/out/exports/model.edgeopt"));
}

TEST_CASE("resuming validates state.json like a recipe: exit 5 naming the key", "[cli]") {
  const std::string dir = setup("bad-state");
  const CliResult killed = runCli("r.yaml --output out --set stages.0.kill_after_epoch=0", dir);
  REQUIRE(killed.code == 128 + 9);
  const std::string good = readText(dir + "/out/state.json");
  auto resumeWith = [&](const std::string& state) {
    writeText(dir + "/out/state.json", state);
    return runCli("--resume out", dir);
  };
  const std::string prefix = "out/state.json: completed_stages: must be an integer from 0 to 2, the recipe's stage count ";
  auto expect = [](const CliResult& r, const std::string& message) {
    INFO(r.err);
    CHECK(r.code == 5);
    CHECK(r.lastErrLine() == "error: " + message);
  };
  expect(resumeWith(R"({"completed_stages": -1})"), prefix + "(got -1)");
  expect(resumeWith(R"({"completed_stages": 4294967297})"), prefix + "(got 4294967297)");
  expect(resumeWith(R"({"completed_stages": "1"})"), prefix + "(got \"1\")");
  expect(resumeWith(R"({"completed_stages": 0, "progress": {"state": "1", "checkpoint": "../../r.yaml"}})"),
         "out/state.json: progress.checkpoint: must name a file inside the run directory (got \"../../r.yaml\")");
  expect(resumeWith(R"({"completed_stages": 0, "metrics": [1]})"),
         "out/state.json: metrics: expected rows that are objects, got 1");
  CHECK(resumeWith(good).code == 0);  // the run itself was fine
}

TEST_CASE("a stage option cannot write outside the run directory", "[cli]") {
  const std::string dir = setup("escape");
  const CliResult r = runCli("r.yaml --dry-run --set stages.1.kind=summary --set stages.1.file=../../escape.txt", dir);
  CHECK(r.code == 3);
  CHECK(r.lastErrLine() == "error: --set stages.1.file=../../escape.txt: stages.1.file: must be a relative path inside "
                           "the stage folder, without '..' above it (got \"../../escape.txt\")");
  CHECK(runCli("r.yaml --output out --set stages.1.kind=summary --set stages.1.file=tables/s.txt", dir).code == 0);
  CHECK(fs::is_regular_file(dir + "/out/stages/1-summary/tables/s.txt"));
}

TEST_CASE("a full disk (here: ulimit -f) is one line naming the file, no crash, no temporary left", "[cli]") {
  const std::string dir = setup("file-size-limit");
  const std::string plugins = cliPluginPath();  // copies the plugins: before the limit
  // Children inherit the limit: the manifest (~2 KB) fits, a checkpoint (~5 KB) does not.
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  rlimit small = saved;
  small.rlim_cur = 3000;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  const CliResult r = runCli("r.yaml --output out", dir, plugins);
  ::setrlimit(RLIMIT_FSIZE, &saved);
  INFO(r.err);
  CHECK(r.code == 1);
  CHECK(r.lastErrLine() == "error: r.yaml:7:5: stages.0: stage 'toy_train' (plugin toy_train) failed: writing "
                           "out/checkpoints/progress-stage-0.edgeopt failed: File too large (disk full?); the previous "
                           "file, if any, is unchanged");
  for (const auto& e : fs::recursive_directory_iterator(dir + "/out"))
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
}

TEST_CASE("Ctrl-C in a terminal stops every rank of --nproc at its safe point", "[cli][dist]") {
  const std::string dir = setup("interrupt-nproc");
  // A terminal's Ctrl-C reaches the launcher and the ranks alike; the launcher
  // must not forward it a second time (that would kill the ranks outright).
  const std::string cmd = "cd '" + dir + "' && EDGEOPT_NO_BUILTIN_PLUGINS=1 EDGEOPT_PLUGIN_PATH='" + cliPluginPath() +
                          "' python3 '" + EDGEOPT_SOURCE_DIR + "/tests/core/ctrl_c.py' out/checkpoints/"
                          "progress-stage-0.edgeopt '" + EDGEOPT_BINARY_DIR + "/bin/edgeopt-run' --nproc 2 r.yaml "
                          "--output out --set stages.0.epochs=1000 > terminal.txt 2>&1";
  const int status = std::system(cmd.c_str());
  const std::string terminal = readText(dir + "/terminal.txt");
  INFO(terminal);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK(terminal.find("error: interrupted; continue with edgeopt-run --resume out") != std::string::npos);
  CHECK(terminal.find("killed by signal") == std::string::npos);
  // Rank 1 may finish its part first and then lose rank 0 at the last barrier
  // (code 1): the launcher still reports a rank's 130 as the cause.
  CHECK(terminal.find(" exited with code 130; stopped the others") != std::string::npos);
  const auto state = nlohmann::json::parse(readText(dir + "/out/state.json"));
  CHECK(state["completed_stages"] == 0);
  CHECK(state.contains("progress"));
}
