// Dataset fingerprints: equal when the data is unchanged, different when a
// file is added, removed or rewritten; and the run manifest records them.
#include "data_test_util.h"  // first: its LibTorch headers define a CHECK that Catch's must replace
#include "cli_runner.h"

#include <edgeopt/fileutil.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>

using namespace edgeopt;
using edgeopt::test::openDataset;
using edgeopt::test::scratchDir;
using edgeopt::test::writeText;

namespace fs = std::filesystem;

namespace {

void writePng(const std::string& path, int size, int value) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(cv::imwrite(path, cv::Mat(size, size, CV_8UC1, cv::Scalar(value))));
}

// root/{train,val}/{a,b}/N.png, 12 x 12 gray.
std::string folderTree(const std::string& name) {
  const std::string root = scratchDir(name);
  for (const char* split : {"train", "val"})
    for (const char* cls : {"a", "b"})
      for (int i = 0; i < 3; ++i) writePng(root + "/" + split + "/" + cls + "/" + std::to_string(i) + ".png", 12, 40 * i);
  return root;
}

std::string fingerprintOf(const std::string& plugin, const std::string& options) {
  return openDataset(plugin, options)->fingerprint();
}

}  // namespace

TEST_CASE("fingerprint: imagenet follows the file list and sizes", "[data][fingerprint]") {
  const std::string root = folderTree("fp-imagenet"), opts = "root: " + root;
  const std::string first = fingerprintOf("imagenet", opts);
  CHECK(fingerprintOf("imagenet", opts) == first);
  writePng(root + "/train/a/9.png", 12, 1);
  const std::string added = fingerprintOf("imagenet", opts);
  CHECK(added != first);
  fs::remove(root + "/train/a/9.png");
  CHECK(fingerprintOf("imagenet", opts) == first);
  fs::remove(root + "/val/b/2.png");
  CHECK(fingerprintOf("imagenet", opts) != first);
  writePng(root + "/val/b/2.png", 12, 80);
  CHECK(fingerprintOf("imagenet", opts) == first);
  writePng(root + "/val/b/2.png", 16, 80);  // rewritten, another size
  CHECK(fingerprintOf("imagenet", opts) != first);
}

TEST_CASE("fingerprint: coco follows the JSON and its images' sizes", "[data][fingerprint]") {
  const std::string dir = scratchDir("fp-coco");
  writePng(dir + "/img/a.png", 12, 0);
  writePng(dir + "/img/b.png", 12, 0);
  const auto json = [&](const std::string& annotations) {
    return writeText(dir + "/instances.json", R"({"images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
      "categories": [{"id": 1, "name": "x"}], "annotations": [)" + annotations + "]}");
  };
  json(R"({"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4]})");
  const std::string opts = "train_json: " + dir + "/instances.json\ntrain_images: " + dir + "/img";
  const std::string first = fingerprintOf("coco", opts);
  CHECK(fingerprintOf("coco", opts) == first);
  writePng(dir + "/img/unused.png", 12, 0);  // not in the JSON: not part of the data
  CHECK(fingerprintOf("coco", opts) == first);
  writePng(dir + "/img/b.png", 20, 0);
  const std::string resized = fingerprintOf("coco", opts);
  CHECK(resized != first);
  fs::remove(dir + "/img/b.png");
  CHECK(fingerprintOf("coco", opts) != resized);
  writePng(dir + "/img/b.png", 12, 0);
  CHECK(fingerprintOf("coco", opts) == first);
  json(R"({"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 5]})");
  CHECK(fingerprintOf("coco", opts) != first);
}

TEST_CASE("fingerprint: mnist follows the IDX contents", "[data][fingerprint]") {
  const std::string root = scratchDir("fp-mnist");
  const auto write = [&](char pixel) {
    for (const char* prefix : {"train", "t10k"}) {
      writeText(root + "/" + prefix + "-images-idx3-ubyte",
                test::idxBytes({1, 2, 2}, std::string(3, '\x07') + pixel));
      writeText(root + "/" + prefix + "-labels-idx1-ubyte", test::idxBytes({1}, "\x04"));
    }
  };
  write('\x07');
  const std::string first = fingerprintOf("mnist", "root: " + root);
  CHECK(fingerprintOf("mnist", "root: " + root) == first);
  write('\x08');  // one pixel, same sizes
  CHECK(fingerprintOf("mnist", "root: " + root) != first);
}

TEST_CASE("fingerprint: recorded in the run manifest when a stage opens the data", "[data][fingerprint]") {
  const std::string dir = scratchDir("fp-manifest");
  const std::string root = folderTree("fp-manifest/images");
  writeText(dir + "/r.yaml", R"(version: 1
name: fp
threads: 1
model: {source: toy, channels: 4, num_classes: 2, input_size: 12}
data:
  dataset: imagenet
  root: images
  batch_size: 2
stages:
  - kind: evaluate
)");
  const std::string plugins =
      test::testPluginDir("good") + ":" + test::builtinSubset("fingerprint", {"train", "imagenet"});
  const test::CliResult r = test::runCli("r.yaml --output run", dir, plugins);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const nlohmann::json data = nlohmann::json::parse(readFile(dir + "/run/manifest.json")).at("data");
  CHECK(data.at("dataset") == "imagenet");
  CHECK(data.at("plugin") == "imagenet");
  CHECK(fs::equivalent(data.at("paths").at("root").get<std::string>(), root));
  CHECK(data.at("train_size") == 6);
  CHECK(data.at("val_size") == 6);
  CHECK(data.at("classes") == 2);
  CHECK(data.at("fingerprint") == fingerprintOf("imagenet", "root: " + root));

  // Killed in epoch 2 of a train stage, data changed, resumed: the record of
  // the data the run started with stays, and the run warns.
  REQUIRE(test::runCli("r.yaml --output killed --set 'stages=[{kind: train, epochs: 2}]'", dir, plugins,
                       "EDGEOPT_FAULT_KILL=2:1")
              .code == 128 + 9);
  const nlohmann::json before = nlohmann::json::parse(readFile(dir + "/killed/manifest.json")).at("data");
  CHECK(before.at("fingerprint") == data.at("fingerprint"));
  writePng(root + "/train/b/9.png", 12, 1);
  const test::CliResult resumed = test::runCli("--resume killed", dir, plugins);
  REQUIRE(resumed.code == 0);
  CHECK(resumed.err.find("the data changed since this run started: manifest.json records fingerprint '" +
                         before.at("fingerprint").get<std::string>() + "', now '" +
                         fingerprintOf("imagenet", "root: " + root) + "'") != std::string::npos);
  CHECK(nlohmann::json::parse(readFile(dir + "/killed/manifest.json")).at("data") == before);

  // No stage opens the data: nothing is read, nothing recorded.
  REQUIRE(test::runCli("r.yaml --output plain --set 'stages=[{kind: toy_train}]'", dir, plugins).code == 0);
  CHECK_FALSE(nlohmann::json::parse(readFile(dir + "/plain/manifest.json")).contains("data"));
}
