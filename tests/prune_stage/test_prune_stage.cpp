// The prune stage end to end through edgeopt-run on a tiny image folder:
// exact zero counts (per layer, overrides, global with its cap), the N:M
// pattern in the final weights, channel pruning with physical removal (the
// smaller model computes what the masked one does), prune.json, and recipe
// errors at their line.
#include <edgeopt/graph_module.h>
#include <edgeopt/passes/rewriter.h>
#include <edgeopt/prune/masks.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <spdlog/fmt/fmt.h>

#include "cli_runner.h"
#include "test_support.h"

#include <cstdio>
#include <filesystem>

using namespace edgeopt;
using namespace edgeopt::test;

namespace {

// root/{train,val}/{dark,light}/NN.png: noise below or above mid-gray.
void writeImageFolder(const std::string& root, int train_per_class, int val_per_class) {
  for (const char* split : {"train", "val"})
    for (int c = 0; c < 2; ++c) {
      const std::string dir = root + "/" + split + "/" + (c ? "light" : "dark");
      std::filesystem::create_directories(dir);
      const int n = std::string(split) == "train" ? train_per_class : val_per_class;
      for (int i = 0; i < n; ++i) {
        cv::Mat image(32, 32, CV_8UC3);
        cv::RNG rng(static_cast<uint64_t>(1000 * c + i + (std::string(split) == "val" ? 500 : 0)));
        rng.fill(image, cv::RNG::UNIFORM, c ? 150 : 0, c ? 256 : 106);
        char name[16];
        std::snprintf(name, sizeof name, "/%02d.png", i);
        cv::imwrite(dir + name, image);
      }
    }
}

const char* kHeader = R"(version: 1
name: prune-e2e
seed: 0
threads: 1
model: {source: zoo, name: mobilenet_v2, num_classes: 2, input_size: 32, width_mult: 0.25}
data:
  dataset: imagenet
  root: data
  batch_size: 8
  workers: 0
  train_transforms: [{normalize: {mean: [0.5], std: [0.25]}}]
  val_transforms: [{normalize: {mean: [0.5], std: [0.25]}}]
)";

std::string builtinPlugins() { return std::string(EDGEOPT_BINARY_DIR) + "/lib/edgeopt/plugins"; }

// A fresh folder with the image data and `stages` appended to the header.
std::string prepare(const std::string& name, const std::string& stages) {
  const std::string dir = scratchDir(name);
  writeImageFolder(dir + "/data", 12, 4);
  writeText(dir + "/r.yaml", std::string(kHeader) + stages);
  return dir;
}

nlohmann::json pruneJson(const std::string& run, int stage = 0) {
  return nlohmann::json::parse(readText(run + "/stages/" + std::to_string(stage) + "-prune/prune.json"));
}

int64_t zerosOf(const at::Tensor& t) { return (t == 0).sum().item<int64_t>(); }

at::Tensor evalForward(GraphModule& m, const at::Tensor& x) {
  at::NoGradGuard g;
  m.eval();
  return m.forward({x})[0];
}

}  // namespace

TEST_CASE("prune stage: unstructured per layer, exact counts, overrides and min_elements", "[prune][stage]") {
  const std::string dir = prepare("unstructured", R"(stages:
  - kind: prune
    type: unstructured
    ratio: 0.5
    epochs: 3
    init_train_epochs: 1
    lr: 0.01
    min_elements: 100
    overrides: [{layers: [classifier.1], ratio: 0.25}, {layers: [features.18], ratio: 0.75}]
)");
  CliResult r = runCli("r.yaml --output run", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto m = GraphModule::load(dir + "/run/checkpoints/stage-0-prune.edgeopt");
  m->lint();
  for (ir::Node* n : m->graph().nodes()) CHECK_FALSE((n->opcode() == ir::Opcode::Call && n->target() == "mul"));
  for (const auto& [name, t] : m->namedBuffers()) CHECK(name.find("_prune_mask") == std::string::npos);
  const nlohmann::json j = pruneJson(dir + "/run");
  int64_t checked = 0;
  for (const auto& layer : j["layers"]) {
    const std::string tensor = layer["tensor"];
    const at::Tensor w = m->tensor(tensor);
    double ratio = 0.5;
    if (tensor == "classifier.1.weight") ratio = 0.25;
    if (tensor.rfind("features.18.", 0) == 0) ratio = 0.75;
    INFO(tensor);
    CHECK(zerosOf(w) == prune::pruneCount(w.numel(), ratio));
    CHECK(layer["zeros"].get<int64_t>() == zerosOf(w));
    CHECK(layer["elements"].get<int64_t>() == w.numel());
    CHECK(w.numel() >= 100);
    ++checked;
  }
  CHECK(checked > 20);
  // Layers under min_elements are reported and left dense.
  REQUIRE(j["skipped"].size() > 0);
  for (const auto& s : j["skipped"]) {
    CHECK_THAT(s["reason"].get<std::string>(), Catch::Contains("< min_elements 100"));
    CHECK(zerosOf(m->tensor(s["tensor"].get<std::string>())) == 0);
  }
  CHECK_THAT(readText(dir + "/run/log.txt"), Catch::Contains("prune: unstructured: ") && Catch::Contains("left dense"));
}

TEST_CASE("prune stage: global unstructured with a per-layer cap, sigmoid", "[prune][stage]") {
  const std::string dir = prepare("global", R"(stages:
  - kind: prune
    type: unstructured
    global: true
    ratio: 0.6
    max_ratio: 0.7
    parametrization: sigmoid
    layers: ["!classifier"]
    epochs: 2
    init_train_epochs: 0
    lr: 0.01
)");
  CliResult r = runCli("r.yaml --output run", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto m = GraphModule::load(dir + "/run/checkpoints/stage-0-prune.edgeopt");
  const nlohmann::json j = pruneJson(dir + "/run");
  int64_t elements = 0, zeros = 0;
  for (const auto& layer : j["layers"]) {
    const at::Tensor w = m->tensor(layer["tensor"].get<std::string>());
    elements += w.numel();
    zeros += zerosOf(w);
    CHECK(zerosOf(w) <= static_cast<int64_t>(0.7 * w.numel()));
    CHECK(layer["tensor"].get<std::string>().rfind("classifier", 0) != 0);
  }
  CHECK(zeros == prune::pruneCount(elements, 0.6));
  CHECK(j["total"]["zeros"].get<int64_t>() == zeros);
  CHECK(j["parametrization"] == "sigmoid");
  CHECK(m->tensor("classifier.1.weight").ne(0).all().item<bool>());
}

TEST_CASE("prune stage: prunechannelunstructured, the ratio within every output channel, incremental", "[prune][stage]") {
  const std::string dir = prepare("per-channel", R"(stages:
  - kind: prune
    type: prunechannelunstructured
    ratio: 0.4
    parametrization: incremental
    layers: [type:Conv2d]
    epochs: 3
    init_train_epochs: 1
    lr: 0.01
)");
  CliResult r = runCli("r.yaml --output run", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto m = GraphModule::load(dir + "/run/checkpoints/stage-0-prune.edgeopt");
  const nlohmann::json j = pruneJson(dir + "/run");
  CHECK(j["layers"].size() == 52);  // every conv, no classifier
  for (const auto& layer : j["layers"]) {
    const at::Tensor w = m->tensor(layer["tensor"].get<std::string>());
    const at::Tensor rows = (w.reshape({w.size(0), -1}) == 0).sum(1);
    INFO(layer["tensor"].get<std::string>());
    CHECK(rows.eq(prune::pruneCount(w.numel() / w.size(0), 0.4)).all().item<bool>());
  }
}

TEST_CASE("prune stage: n2m 2:4 and 41:64 final weights satisfy the pattern exactly", "[prune][stage]") {
  const std::string dir = prepare("n2m", R"(stages:
  - kind: prune
    type: n2m
    n: 2
    m: 4
    epochs: 2
    init_train_epochs: 0
    lr: 0.01
  - kind: prune
    type: n2m
    ratio: 0.640625
    m: 64
    parametrization: incremental
    layers: [classifier.1]
    epochs: 2
    init_train_epochs: 0
    lr: 0.01
)");
  CliResult r = runCli("r.yaml --output run", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto m = GraphModule::load(dir + "/run/checkpoints/stage-0-prune.edgeopt");
  const nlohmann::json j = pruneJson(dir + "/run");
  int64_t full_groups = 0;
  for (const auto& layer : j["layers"]) {
    const at::Tensor w = m->tensor(layer["tensor"].get<std::string>());
    const int64_t in = w.size(1);
    // [O, I, ...] -> rows of I, cut into groups of 4 along I.
    const at::Tensor rows = w.movedim(1, -1).reshape({-1, in});
    const int64_t full = in / 4 * 4;
    if (full > 0) {
      const at::Tensor z = (rows.narrow(1, 0, full).reshape({rows.size(0), full / 4, 4}) == 0).sum(-1);
      CHECK(z.eq(2).all().item<bool>());
      full_groups += z.numel();
    }
    if (in % 4) {  // the short last group: round(2 * len / 4) zeros
      const at::Tensor z = (rows.narrow(1, full, in % 4) == 0).sum(-1);
      CHECK(z.eq(prune::pruneCount(in % 4, 0.5)).all().item<bool>());
    }
  }
  CHECK(full_groups > 1000);
  for (const auto& s : j["skipped"]) CHECK_THAT(s["reason"].get<std::string>(), Catch::Contains("depthwise"));
  CHECK(j["skipped"].size() == 17);  // the depthwise convs of mobilenet_v2
  // 41:64 on the classifier (1280 inputs at width 0.25: 20 groups of 64).
  auto m2 = GraphModule::load(dir + "/run/checkpoints/stage-1-prune.edgeopt");
  const at::Tensor fc = m2->tensor("classifier.1.weight");
  REQUIRE(fc.size(1) % 64 == 0);
  CHECK((fc.reshape({fc.size(0), -1, 64}) == 0).sum(-1).eq(41).all().item<bool>());
  // The second stage masks only the classifier: the others train freely.
  CHECK(pruneJson(dir + "/run", 1)["layers"].size() == 1);
}

TEST_CASE("prune stage: channel pruning removes channels, and the smaller model computes what the masked one does",
          "[prune][stage]") {
  const std::string stages = R"(stages:
  - kind: prune
    type: channel
    ratio: 0.3
    importance: l2
    epochs: 2
    init_train_epochs: 0
    lr: 0.01
    physical: PHYSICAL
  - kind: export
    formats: [edgeopt]
)";
  auto with = [&](const std::string& physical) {
    std::string s = stages;
    s.replace(s.find("PHYSICAL"), 8, physical);
    return s;
  };
  const std::string dir = prepare("channel", with("true"));
  writeText(dir + "/masked.yaml", std::string(kHeader) + with("false"));
  CliResult r = runCli("r.yaml --output run", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  r = runCli("masked.yaml --output masked", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto small = GraphModule::load(dir + "/run/checkpoints/stage-0-prune.edgeopt");
  auto masked = GraphModule::load(dir + "/masked/checkpoints/stage-0-prune.edgeopt");
  small->lint();
  const nlohmann::json j = pruneJson(dir + "/run");
  const int64_t before = j["channels"]["before"], after = j["channels"]["after"];
  CHECK(after < before);
  CHECK(j["params"]["after"].get<int64_t>() < j["params"]["before"].get<int64_t>());
  int64_t small_params = 0;
  for (const auto& [n, t] : small->namedParameters()) small_params += t.numel();
  CHECK(small_params == j["params"]["after"].get<int64_t>());
  for (const auto& g : j["groups"]) {
    const int64_t c = g["channels"], kept = g["kept"];
    CHECK(kept == c - std::min(prune::pruneCount(c, 0.3), c - 1));
  }
  // The classifier's group is the graph output: kept, and reported.
  CHECK(small->tensor("classifier.1.weight").size(0) == 2);
  bool classifier_reported = false;
  for (const auto& s : j["skipped"])
    classifier_reported = classifier_reported || (s["reason"] == "graph output" && s["producers"][0] == "classifier.1");
  CHECK(classifier_reported);
  // Both runs trained the same weights (seed, one thread); removing the
  // zeroed channels changes nothing in the outputs.
  CHECK(pruneJson(dir + "/masked")["physical"] == false);
  CHECK(masked->tensor("features.0.0.weight").size(0) > small->tensor("features.0.0.weight").size(0));
  at::manual_seed(5);
  const at::Tensor x = at::randn({4, 3, 32, 32});
  const at::Tensor a = evalForward(*small, x), b = evalForward(*masked, x);
  CHECK((a - b).abs().max().item<double>() < 1e-4);
  CHECK_THAT(readText(dir + "/run/log.txt"), Catch::Contains("prune: channel: ") && Catch::Contains("removed"));
}

TEST_CASE("prune stage: killed mid-stage and resumed, the masks come back and the result is bit-identical",
          "[prune][stage]") {
  const std::string dir = prepare("resume", R"(stages:
  - kind: prune
    type: channel
    ratio: 0.25
    epochs: 4
    init_train_epochs: 1
    lr: 0.01
  - kind: export
    formats: [edgeopt]
)");
  CliResult full = runCli("r.yaml --output full", dir, builtinPlugins());
  INFO(full.out << full.err);
  REQUIRE(full.code == 0);
  // Killed in epoch 3 (the masks at x0.25 in epoch 2, 0 from epoch 3): the
  // saved model carries the masks and their keep/importance buffers.
  CliResult killed = runCli("r.yaml --output killed", dir, builtinPlugins(), "EDGEOPT_FAULT_KILL=3:2");
  REQUIRE(killed.code == 128 + 9);
  CliResult resumed = runCli("--resume killed", dir, builtinPlugins());
  INFO(resumed.out << resumed.err);
  REQUIRE(resumed.code == 0);
  CHECK_THAT(readText(dir + "/killed/log.txt"), Catch::Contains("prune: resuming with the"));
  auto a = GraphModule::load(dir + "/full/exports/model.edgeopt")->stateDict();
  auto b = GraphModule::load(dir + "/killed/exports/model.edgeopt")->stateDict();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(a[i].first == b[i].first);
    CHECK(at::equal(a[i].second, b[i].second));
  }
  CHECK(pruneJson(dir + "/full")["groups"] == pruneJson(dir + "/killed")["groups"]);
  CHECK(pruneJson(dir + "/full")["skipped"] == pruneJson(dir + "/killed")["skipped"]);
}

TEST_CASE("prune stage: n2m with min_group_inputs leaves the layers with short groups dense", "[prune][stage]") {
  const std::string dir = prepare("n2m-min-inputs", R"(stages:
  - kind: prune
    type: n2m
    n: 41
    m: 64
    min_group_inputs: 64
    epochs: 1
    init_train_epochs: 0
    lr: 0.01
)");
  CliResult r = runCli("r.yaml --output run", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto m = GraphModule::load(dir + "/run/checkpoints/stage-0-prune.edgeopt");
  const nlohmann::json j = pruneJson(dir + "/run");
  // mobilenet_v2 at width 0.25 has 36 conv/linear layers with N:M groups.
  // Inputs below 64: features.0 (3), features.1's project (8), blocks 2-7's
  // expand (8) and project (48), blocks 8-11's expand (16), 12-14's (24),
  // 15-17's (40): 24 layers. Left: the projects of blocks 8-17 (96, 144,
  // 240), features.18 (80) and the classifier (1280): 12.
  CHECK(j["layers"].size() == 12);
  int64_t short_inputs = 0, depthwise = 0;
  for (const auto& s : j["skipped"]) {
    const std::string reason = s["reason"].get<std::string>();
    if (reason.find("depthwise") != std::string::npos) ++depthwise;
    if (reason.find("input channels < min_group_inputs 64") != std::string::npos) ++short_inputs;
    if (reason.find("min_group_inputs") != std::string::npos)
      CHECK(m->tensor(s["tensor"].get<std::string>()).size(1) < 64);
  }
  CHECK(short_inputs == 24);
  CHECK(depthwise == 17);
  CHECK(j["skipped"].size() == 41);
  int64_t zeros = 0;
  for (const auto& layer : j["layers"]) {
    const at::Tensor w = m->tensor(layer["tensor"].get<std::string>());
    const int64_t in = w.size(1), full = in / 64 * 64;
    REQUIRE(in >= 64);
    const at::Tensor rows = w.movedim(1, -1).reshape({-1, in});
    CHECK((rows.narrow(1, 0, full).reshape({rows.size(0), full / 64, 64}) == 0).sum(-1).eq(41).all().item<bool>());
    if (in % 64)  // the short last group: round(41 * len / 64) zeros
      CHECK((rows.narrow(1, full, in % 64) == 0).sum(-1).eq((2 * 41 * (in % 64) + 64) / 128).all().item<bool>());
    zeros += zerosOf(w);
  }
  CHECK(j["total"]["zeros"].get<int64_t>() == zeros);
  // Without the option the same stage prunes all 36 (the check above can fail).
  writeText(dir + "/all.yaml", std::string(kHeader) + R"(stages:
  - kind: prune
    type: n2m
    n: 41
    m: 64
    epochs: 1
    init_train_epochs: 0
    lr: 0.01
)");
  r = runCli("all.yaml --dry-run", dir, builtinPlugins());
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("36 layers pruned, 17 left dense"));
  // The option belongs to n2m only.
  writeText(dir + "/bad.yaml", std::string(kHeader) + R"(stages:
  - kind: prune
    type: unstructured
    ratio: 0.5
    min_group_inputs: 64
)");
  r = runCli("bad.yaml --dry-run", dir, builtinPlugins());
  CHECK(r.code == 3);
  CHECK_THAT(r.err, Catch::StartsWith("error: ") && Catch::Contains("bad.yaml:17:") &&
                        Catch::Contains("min_group_inputs is for type n2m"));
}

TEST_CASE("prune stage: recipe errors name the option and its line", "[prune][stage]") {
  const std::string dir = prepare("errors", R"(stages:
  - kind: prune
    type: n2m
    ratio: 0.5
)");
  CliResult r = runCli("r.yaml --dry-run", dir, builtinPlugins());
  CHECK(r.code == 3);
  CHECK_THAT(r.err, Catch::StartsWith("error: ") && Catch::Contains("r.yaml:15:") && Catch::Contains("needs m"));
  writeText(dir + "/r2.yaml", std::string(kHeader) + R"(stages:
  - kind: prune
    type: unstructured
    ratio: 0.5
    parametrization: cubic
)");
  r = runCli("r2.yaml --dry-run", dir, builtinPlugins());
  CHECK(r.code == 3);
  CHECK_THAT(r.err, Catch::Contains("r2.yaml:17:") && Catch::Contains("unknown pruning parametrization 'cubic'") &&
                        Catch::Contains("blend, incremental, sigmoid"));
  writeText(dir + "/r3.yaml", std::string(kHeader) + R"(stages:
  - kind: prune
    type: channel
    ratio: 0.5
    global: true
)");
  r = runCli("r3.yaml --dry-run", dir, builtinPlugins());
  CHECK(r.code == 3);
  CHECK_THAT(r.err, Catch::Contains("r3.yaml:17:") && Catch::Contains("global: true is for type unstructured"));
  writeText(dir + "/r4.yaml", std::string(kHeader) + R"(stages:
  - kind: prune
    type: unstructured
    ratio: 0.5
    epochs: 3
    init_train_epochs: 3
)");
  r = runCli("r4.yaml --dry-run", dir, builtinPlugins());
  CHECK(r.code == 3);
  CHECK_THAT(r.err, Catch::Contains("r4.yaml:18:") && Catch::Contains("init_epochs must lie in [0, total_epochs)"));
  writeText(dir + "/r5.yaml", std::string(kHeader) + R"(stages:
  - kind: prune
    type: unstructured
    ratio: 0.5
    overrides: [{layers: [features.99], ratio: 0.1}]
)");
  r = runCli("r5.yaml --dry-run", dir, builtinPlugins());
  CHECK(r.code == 3);
  CHECK_THAT(r.err, Catch::Contains("features.99") && Catch::Contains("matches no layer"));
}

TEST_CASE("prune stage: a later train stage keeps the pruned zeros unless told not to", "[prune][stage]") {
  const std::string stages = R"(stages:
  - kind: prune
    type: unstructured
    ratio: 0.5
    epochs: 2
    init_train_epochs: 0
    lr: 0.01
    min_elements: 100
  - kind: train
    epochs: 2
    lr: 0.05
)";
  const std::string dir = prepare("kept_zeros", stages);
  CliResult keep = runCli("r.yaml --output keep", dir, builtinPlugins());
  INFO(keep.out << keep.err);
  REQUIRE(keep.code == 0);
  auto pruned = GraphModule::load(dir + "/keep/checkpoints/stage-0-prune.edgeopt");
  auto trained = GraphModule::load(dir + "/keep/checkpoints/stage-1-train.edgeopt");
  // Zeros of the pruned weights still zero after training; the rest trained.
  const nlohmann::json layers = pruneJson(dir + "/keep")["layers"];
  auto zerosKeptAt = [&](GraphModule& m) {
    int64_t kept = 0, pruned_zeros = 0;
    for (const auto& layer : layers) {
      const std::string name = layer["tensor"];
      const at::Tensor was_zero = pruned->tensor(name).eq(0);
      pruned_zeros += was_zero.sum().item<int64_t>();
      kept += m.tensor(name).masked_select(was_zero).eq(0).sum().item<int64_t>();
    }
    return std::make_pair(kept, pruned_zeros);
  };
  const auto [kept, pruned_zeros] = zerosKeptAt(*trained);
  CHECK(pruned_zeros > 10000);
  CHECK(kept == pruned_zeros);
  CHECK_FALSE(at::equal(pruned->tensor("features.18.0.weight"), trained->tensor("features.18.0.weight")));
  CHECK_THAT(readText(dir + "/keep/log.txt"), Catch::Contains(fmt::format("keeping the {} zeros of", pruned_zeros)));
  // The marker is what keeps them, and it is saved with the model.
  int marked = 0;
  for (ir::Node* n : pruned->graph().nodes()) marked += n->getOr<bool>("keep_zeros", false);
  CHECK(marked == static_cast<int>(layers.size()));

  {  // keep_pruned_zeros: false lets training regrow them
    CliResult regrow = runCli("r.yaml --output regrow --set stages.1.keep_pruned_zeros=false", dir, builtinPlugins());
    REQUIRE(regrow.code == 0);
    auto m = GraphModule::load(dir + "/regrow/checkpoints/stage-1-train.edgeopt");
    CHECK(zerosKeptAt(*m).first < pruned_zeros / 100);
  }
  {  // the zeros of an unmarked weight (zero by design) train like any weight
    Rewriter rw(*pruned);
    for (ir::Node* n : pruned->graph().nodes())
      if (n->hasAttr("keep_zeros")) rw.removeAttr(n, "keep_zeros");
    pruned->save(dir + "/unmarked.edgeopt");
    std::string header = kHeader;
    const std::string zoo = "{source: zoo, name: mobilenet_v2, num_classes: 2, input_size: 32, width_mult: 0.25}";
    header.replace(header.find(zoo), zoo.size(), "{source: checkpoint, path: unmarked.edgeopt}");
    writeText(dir + "/u.yaml", header + "stages:\n  - kind: train\n    epochs: 2\n    lr: 0.05\n");
    CliResult unmarked = runCli("u.yaml --output unmarked", dir, builtinPlugins());
    INFO(unmarked.out << unmarked.err);
    REQUIRE(unmarked.code == 0);
    auto m = GraphModule::load(dir + "/unmarked/checkpoints/stage-0-train.edgeopt");
    CHECK(zerosKeptAt(*m).first < pruned_zeros / 100);
  }
}

TEST_CASE("prune stage: channel round_to keeps multiples of N per group, smaller groups whole and reported",
          "[prune][stage]") {
  // mobilenet_v2 x0.25: widths 8..1280; round_to 12 at 30 % (kept before
  // rounding in the comments), so every kind of group shows up.
  const std::string dir = prepare("round-to", R"(stages:
  - kind: prune
    type: channel
    ratio: 0.3
    round_to: 12
    epochs: 1
    init_train_epochs: 0
    lr: 0.01
)");
  CliResult r = runCli("r.yaml --output run", dir, builtinPlugins());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  const std::map<int64_t, int64_t> expected{{16, 12} /* 11 */,   {24, 12} /* 17 */,    {40, 24} /* 28 */,
                                            {48, 36} /* 34 */,   {80, 60} /* 56 */,    {96, 72} /* 67 */,
                                            {144, 96} /* 101 */, {240, 168} /* 168 */, {1280, 900} /* 896 */};
  const nlohmann::json j = pruneJson(dir + "/run");
  CHECK(j["round_to"] == 12);
  auto small = GraphModule::load(dir + "/run/checkpoints/stage-0-prune.edgeopt");
  int64_t checked_widths = 0;
  for (const auto& g : j["groups"]) {
    const int64_t c = g["channels"], kept = g["kept"];
    INFO("group of " << c << " channels, " << g["producers"].dump());
    REQUIRE(expected.count(c));
    CHECK(kept == expected.at(c));
    for (const std::string p : g["producers"])
      if (small->hasTensor(p + ".weight")) {
        CHECK(small->tensor(p + ".weight").size(0) == kept);
        ++checked_widths;
      }
  }
  CHECK(checked_widths >= 10);
  int64_t small_groups = 0;
  for (const auto& s : j["skipped"]) small_groups += s["reason"] == "8 channels < round_to 12";
  CHECK(small_groups > 0);
  CHECK(small->tensor("features.0.0.weight").size(0) == 8);  // the stem's 8 channels: left whole

  // The key is checked where the recipe gives it: a count of at least 1, channel pruning only.
  writeText(dir + "/zero.yaml", std::string(kHeader) + R"(stages:
  - kind: prune
    type: channel
    ratio: 0.3
    round_to: 0
)");
  r = runCli("zero.yaml --dry-run", dir, builtinPlugins());
  CHECK(r.code == 3);
  CHECK_THAT(r.err, Catch::StartsWith("error: ") && Catch::Contains("zero.yaml:17:") && Catch::Contains("round_to"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  writeText(dir + "/frac.yaml", std::string(kHeader) + R"(stages:
  - kind: prune
    type: channel
    ratio: 0.3
    round_to: 2.5
)");
  r = runCli("frac.yaml --dry-run", dir, builtinPlugins());
  CHECK(r.code == 3);
  CHECK_THAT(r.err, Catch::StartsWith("error: ") && Catch::Contains("frac.yaml:17:") && Catch::Contains("round_to"));
  writeText(dir + "/kind.yaml", std::string(kHeader) + R"(stages:
  - kind: prune
    type: unstructured
    ratio: 0.3
    round_to: 16
)");
  r = runCli("kind.yaml --dry-run", dir, builtinPlugins());
  CHECK(r.code == 3);
  CHECK_THAT(r.err, Catch::Contains("kind.yaml:17:") && Catch::Contains("round_to is for type channel"));
}
