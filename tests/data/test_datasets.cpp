// The dataset plugins (loaded from the build tree like any plugin) on small
// fixtures made here, and on Debian's Fashion-MNIST files when installed.
#include "data_test_util.h"

#include <edgeopt/image_io.h>

#include <opencv2/imgcodecs.hpp>

#include <filesystem>

using namespace edgeopt;
using edgeopt::test::openDataset;
using edgeopt::test::scratchDir;
using edgeopt::test::writeText;

namespace fs = std::filesystem;

namespace {

const char* kFashion = "/usr/share/datasets/fashion-mnist";

std::string writeImage(const std::string& path, const cv::Mat& img) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(cv::imwrite(path, img));
  return path;
}

// Keeps the first `keep` bytes of a file, as an interrupted download would.
void truncateFile(const std::string& path, size_t keep) {
  const std::string bytes = test::readText(path);
  REQUIRE(bytes.size() > keep);
  writeText(path, bytes.substr(0, keep));
}

cv::Mat color(int h, int w, int b, int g, int r) { return cv::Mat(h, w, CV_8UC3, cv::Scalar(b, g, r)); }

// root/train/{cat,dog}, root/val/dog: 5 train images (one gray, one in a
// subfolder), plus files and folders the scan must ignore.
std::string imageTree(const std::string& name) {
  const std::string root = scratchDir(name);
  writeImage(root + "/train/dog/b.png", color(6, 8, 0, 0, 255));
  writeImage(root + "/train/dog/a.png", color(6, 8, 0, 255, 0));
  writeImage(root + "/train/dog/sub/c.PNG", color(6, 8, 255, 0, 0));
  writeImage(root + "/train/cat/x.bmp", cv::Mat(6, 8, CV_8UC1, cv::Scalar(77)));
  writeImage(root + "/train/cat/y.jpg", color(6, 8, 90, 90, 90));
  writeText(root + "/train/cat/notes.txt", "not an image");
  writeImage(root + "/train/.cache/z.png", color(6, 8, 0, 0, 0));
  writeImage(root + "/val/dog/v.png", color(6, 8, 1, 2, 3));
  return root;
}

}  // namespace

TEST_CASE("imagenet: classes are sorted folders, files sorted like ImageFolder", "[data][datasets]") {
  const std::string root = imageTree("imagenet-tree");
  auto ds = openDataset("imagenet", "root: " + root);
  CHECK(ds->classes() == std::vector<std::string>{"cat", "dog"});
  REQUIRE(ds->size(Split::Train) == 5);
  CHECK(ds->size(Split::Val) == 1);
  std::vector<std::string> files;
  for (size_t i = 0; i < 5; ++i) files.push_back(ds->get(Split::Train, i).source.substr(root.size()));
  CHECK(files == std::vector<std::string>{"/train/cat/x.bmp", "/train/cat/y.jpg", "/train/dog/a.png",
                                          "/train/dog/b.png", "/train/dog/sub/c.PNG"});
  const Example gray = ds->get(Split::Train, 0);
  CHECK(gray.label == 0);
  CHECK(gray.image.channels() == 3);  // replicated, like PIL's convert("RGB")
  CHECK(gray.image.at<cv::Vec3b>(0, 0) == cv::Vec3b(77, 77, 77));
  const Example red = ds->get(Split::Train, 3);
  CHECK(red.label == 1);
  CHECK(red.image.at<cv::Vec3b>(2, 2) == cv::Vec3b(0, 0, 255));  // decoded BGR
  CHECK(ds->get(Split::Val, 0).label == 1);
  CHECK(ds->fingerprint().rfind("imagenet train=5 val=1 classes=2 sha256=", 0) == 0);
  auto gray_ds = openDataset("imagenet", "root: " + root + "\nchannels: 1");
  CHECK(gray_ds->get(Split::Train, 3).image.channels() == 1);
}

TEST_CASE("imagenet: val from a label file", "[data][datasets]") {
  const std::string root = imageTree("imagenet-labels");
  writeImage(root + "/val/flat/one two.png", color(4, 4, 0, 0, 0));
  writeText(root + "/val.txt", "# path class\nflat/one two.png  cat\n\n");
  auto ds = openDataset("imagenet", "root: " + root + "\nval_labels: " + root + "/val.txt");
  REQUIRE(ds->size(Split::Val) == 1);
  CHECK(ds->get(Split::Val, 0).label == 0);
  writeText(root + "/val.txt", "flat/one two.png cat\nflat/one two.png bird\n");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(openDataset("imagenet", "root: " + root + "\nval_labels: " + root + "/val.txt"),
                                 InputError, root + "/val.txt:2: class 'bird' is not in " + root + "/train");
}

TEST_CASE("imagenet: folder errors name the path", "[data][datasets]") {
  const std::string root = imageTree("imagenet-errors");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(openDataset("imagenet", "root: " + root + "/nope"), InputError,
                                 root + "/nope/train: no such folder (expected " + root +
                                     "/nope/train/<class>/<image>, as torchvision's ImageFolder)");
  writeImage(root + "/val/bird/b.png", color(4, 4, 0, 0, 0));
  EDGEOPT_REQUIRE_THROWS_MESSAGE(openDataset("imagenet", "root: " + root), InputError,
                                 root + "/val/bird: class 'bird' is not in " + root + "/train");
  fs::create_directories(root + "/train/empty");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(openDataset("imagenet", "root: " + root), InputError,
                                 root + "/train/empty: no images (.jpg, .jpeg, .png, .bmp)");
}

TEST_CASE("truncated and unreadable images are InputErrors naming the file", "[data][datasets]") {
  const std::string dir = scratchDir("bad-images");
  cv::Mat noise(32, 32, CV_8UC3);
  cv::randu(noise, 0, 256);
  const std::string png = writeImage(dir + "/t.png", noise), jpg = writeImage(dir + "/t.jpg", noise);
  const std::string whole_jpg = writeImage(dir + "/ok.jpg", noise);
  truncateFile(png, test::readText(png).size() / 2);
  truncateFile(jpg, test::readText(jpg).size() - 10);
  EDGEOPT_REQUIRE_THROWS_MESSAGE(readImage(png), InputError, png + ": truncated PNG (no IEND chunk)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(readImage(jpg), InputError, jpg + ": truncated JPEG (no end-of-image marker)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(readImage(writeText(dir + "/x.jpg", "hello")), InputError,
                                 dir + "/x.jpg: not a readable image (unknown format or corrupt data)");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(readImage(dir + "/missing.png"), InputError,
                                 dir + "/missing.png: cannot be opened (No such file or directory)");
  CHECK(readImage(whole_jpg).size() == cv::Size(32, 32));
  // A real photo (Debian's labelme-examples), read-only.
  const std::string photo = "/usr/share/doc/labelme-examples/examples/bbox_detection/data_annotated/2011_000003.jpg";
  if (fs::exists(photo)) {
    const cv::Mat m = readImage(photo);
    CHECK(m.channels() == 3);
    CHECK(m.cols > 100);
  }
}

TEST_CASE("mnist: Debian's Fashion-MNIST IDX files", "[data][datasets]") {
  if (!fs::exists(std::string(kFashion) + "/train-images-idx3-ubyte.gz")) {
    WARN("dataset-fashion-mnist is not installed; skipped");
    return;
  }
  auto ds = openDataset("mnist", std::string("root: ") + kFashion + "\nvariant: fashion");
  REQUIRE(ds->size(Split::Train) == 60000);
  REQUIRE(ds->size(Split::Val) == 10000);
  std::vector<int64_t> train, val;
  for (size_t i = 0; i < 10; ++i) {
    train.push_back(ds->get(Split::Train, i).label);
    val.push_back(ds->get(Split::Val, i).label);
  }
  CHECK(train == std::vector<int64_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5});
  CHECK(val == std::vector<int64_t>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7});
  const Example first = ds->get(Split::Train, 0);
  CHECK(first.image.size() == cv::Size(28, 28));
  CHECK(cv::sum(first.image)[0] == 76247);  // the first image's pixel sum
  CHECK(first.source == std::string(kFashion) + "/train-images-idx3-ubyte.gz[0]");
  CHECK(ds->classes()[9] == "Ankle_boot");
  CHECK(ds->classes()[0] == "T-shirt_top");
}

namespace {

// Plain (not gzipped) IDX files: 3 images of 2 x 2 and their labels per split.
std::string idxFixture(const std::string& name) {
  const std::string root = scratchDir(name);
  for (const char* prefix : {"train", "t10k"}) {
    writeText(root + "/" + prefix + "-images-idx3-ubyte",
              test::idxBytes({3, 2, 2}, std::string(12, '\x05')));
    writeText(root + "/" + prefix + "-labels-idx1-ubyte", test::idxBytes({3}, "\x01\x02\x03"));
  }
  return root;
}

}  // namespace

TEST_CASE("mnist: IDX files are checked", "[data][datasets]") {
  std::string root = idxFixture("idx-ok");
  auto ds = openDataset("mnist", "root: " + root + "\nclasses: [a, b, c, d]");
  CHECK(ds->size(Split::Train) == 3);
  CHECK(ds->get(Split::Val, 2).label == 3);
  CHECK(ds->get(Split::Val, 2).image.at<uint8_t>(1, 1) == 5);

  EDGEOPT_REQUIRE_THROWS_MESSAGE(openDataset("mnist", "root: " + root + "\nclasses: [a, b, c]"), InputError,
                                 root + "/train-labels-idx1-ubyte: label 3 at index 2 is outside 0..2 (the number "
                                        "of classes)");
  const std::string images = root + "/train-images-idx3-ubyte";
  truncateFile(images, 16 + 10);
  EDGEOPT_REQUIRE_THROWS_MESSAGE(openDataset("mnist", "root: " + root), InputError,
                                 images + ": truncated: 10 of 12 data bytes");
  writeText(images, test::idxBytes({3, 2, 2}, "", 0x0D));
  EDGEOPT_REQUIRE_THROWS_MESSAGE(openDataset("mnist", "root: " + root), InputError,
                                 images + ": holds float values; MNIST files hold unsigned bytes (type 0x08)");
  writeText(images, test::idxBytes({3}, "abc"));
  EDGEOPT_REQUIRE_THROWS_MESSAGE(openDataset("mnist", "root: " + root), InputError,
                                 images + ": has 1 dimension(s), expected 3 (an images file: count, rows, columns)");
  writeText(images, test::idxBytes({2, 2, 2}, std::string(8, '\0')));
  EDGEOPT_REQUIRE_THROWS_MESSAGE(openDataset("mnist", "root: " + root), InputError,
                                 root + "/train-labels-idx1-ubyte: has 3 labels but " + images + " has 2 images");
  fs::remove(images);
  EDGEOPT_REQUIRE_THROWS_MESSAGE(openDataset("mnist", "root: " + root), InputError,
                                 images + ": no such file (nor train-images-idx3-ubyte.gz)");
}

TEST_CASE("edgeopt-idx2folder writes an ImageFolder tree the imagenet dataset reads", "[data][datasets]") {
  const std::string root = idxFixture("idx2folder");
  const std::string out = root + "/tree", exe = std::string(EDGEOPT_BINARY_DIR) + "/bin/edgeopt-idx2folder";
  REQUIRE(std::system(("'" + exe + "' '" + root + "' '" + out + "' > /dev/null").c_str()) == 0);
  CHECK(fs::exists(out + "/train/1/00000.png"));
  CHECK(fs::exists(out + "/val/3/00002.png"));
  auto ds = openDataset("imagenet", "root: " + out + "\nchannels: 1");
  CHECK(ds->classes() == std::vector<std::string>{"1", "2", "3"});  // only labels that occur
  REQUIRE(ds->size(Split::Train) == 3);
  const Example e = ds->get(Split::Train, 2);
  CHECK(e.label == 2);
  CHECK(e.image.size() == cv::Size(2, 2));
  CHECK(e.image.at<uint8_t>(1, 1) == 5);
}

namespace {

// Two images; categories with sparse, unsorted ids (7 "zebra", 3 "ant").
std::string cocoFixture(const std::string& dir, const std::string& annotations) {
  writeImage(dir + "/img/a.png", color(20, 30, 0, 0, 0));
  writeImage(dir + "/img/b.png", color(10, 10, 0, 0, 0));
  return writeText(dir + "/instances.json", R"({
  "images": [{"id": 42, "file_name": "b.png", "width": 10, "height": 10},
             {"id": 5, "file_name": "a.png", "width": 30, "height": 20}],
  "categories": [{"id": 7, "name": "zebra"}, {"id": 3, "name": "ant"}],
  "annotations": [)" + annotations + "]}");
}

}  // namespace

TEST_CASE("coco: contiguous labels, boxes as corners, image ids kept", "[data][datasets]") {
  const std::string dir = scratchDir("coco-ok");
  const std::string json = cocoFixture(dir, R"(
    {"id": 1, "image_id": 5, "category_id": 7, "bbox": [2, 3, 10, 5], "iscrowd": 0},
    {"id": 2, "image_id": 5, "category_id": 3, "bbox": [0.5, 1, 4, 4], "iscrowd": 1})");
  auto ds = openDataset("coco", "train_json: " + json + "\ntrain_images: " + dir + "/img");
  CHECK(ds->classes() == std::vector<std::string>{"ant", "zebra"});
  REQUIRE(ds->size(Split::Train) == 2);
  CHECK(ds->size(Split::Val) == 0);
  const Example a = ds->get(Split::Train, 0);  // id order: 5 before 42
  CHECK(a.image_id == 5);
  CHECK(a.image.size() == cv::Size(30, 20));
  REQUIRE(a.boxes.size() == 2);
  CHECK(a.boxes[0].label == 1);
  CHECK(a.boxes[0].x1 == 2);
  CHECK(a.boxes[0].y1 == 3);
  CHECK(a.boxes[0].x2 == 12);
  CHECK(a.boxes[0].y2 == 8);
  CHECK_FALSE(a.boxes[0].crowd);
  CHECK(a.boxes[1].label == 0);
  CHECK(a.boxes[1].crowd);
  CHECK(ds->get(Split::Train, 1).boxes.empty());

  // Through a loader with letterbox: 30 x 20 -> 15 x 15 is a scale of 0.5
  // (15 x 10 at top = (15 - 10) / 2 = 2), and the boxes go with it.
  auto data = test::dataOptions("dataset: coco\nbatch_size: 2\ntrain_transforms: [{letterbox: 15}]\n");
  LoaderOptions o;
  o.batch_size = 2;
  o.shuffle = false;
  auto l = makeDataLoader(std::shared_ptr<Dataset>(std::move(ds)), Split::Train, data, o);
  l->startEpoch(0);
  auto b = l->next();
  REQUIRE(b);
  CHECK(b->images.sizes() == at::IntArrayRef({2, 3, 15, 15}));
  CHECK(b->image_ids == std::vector<int64_t>{5, 42});
  REQUIRE(b->boxes[0].size() == 2);
  CHECK(b->boxes[0][0].x1 == Approx(1));
  CHECK(b->boxes[0][0].y1 == Approx(3.5));
  CHECK(b->boxes[0][0].x2 == Approx(6));
  CHECK(b->boxes[0][0].y2 == Approx(6));
}

TEST_CASE("coco: broken references name the file and the annotation", "[data][datasets]") {
  const std::string dir = scratchDir("coco-bad");
  std::string json = cocoFixture(dir, R"({"id": 9, "image_id": 99, "category_id": 7, "bbox": [0, 0, 1, 1]})");
  const std::string opts = "train_json: " + json + "\ntrain_images: " + dir + "/img";
  EDGEOPT_REQUIRE_THROWS_MESSAGE(openDataset("coco", opts), InputError,
                                 json + ": annotation 9: image_id 99 is not in images");
  cocoFixture(dir, R"({"id": 11, "image_id": 5, "category_id": 4, "bbox": [0, 0, 1, 1]})");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(openDataset("coco", opts), InputError,
                                 json + ": annotation 11: category_id 4 is not in categories");
  cocoFixture(dir, R"({"id": 12, "image_id": 5, "category_id": 3, "bbox": [0, 0, 1]})");
  EDGEOPT_REQUIRE_THROWS_MESSAGE(openDataset("coco", opts), InputError,
                                 json + ": annotation 12: 'bbox' must be [x, y, width, height], got [0,0,1]");
  writeText(json, "{\"images\": [");
  REQUIRE_THROWS_AS(openDataset("coco", opts), InputError);
}

TEST_CASE("coco: skip_categories get no label and lose their annotations", "[data][datasets]") {
  const std::string dir = scratchDir("coco-skip");
  writeImage(dir + "/img/a.png", color(20, 30, 0, 0, 0));
  const std::string json = writeText(dir + "/instances.json", R"({
  "images": [{"id": 1, "file_name": "a.png"}],
  "categories": [{"id": -1, "name": "__ignore__"}, {"id": 0, "name": "_background_"}, {"id": 4, "name": "cat"},
                 {"id": 9, "name": "dog"}],
  "annotations": [{"id": 1, "image_id": 1, "category_id": 0, "bbox": [0, 0, 30, 20]},
                  {"id": 2, "image_id": 1, "category_id": 9, "bbox": [1, 2, 3, 4]},
                  {"id": 3, "image_id": 1, "category_id": -1, "bbox": [5, 5, 2, 2]}]})");
  const std::string opts = "train_json: " + json + "\ntrain_images: " + dir + "/img";
  auto ds = openDataset("coco", opts);
  CHECK(ds->classes() == std::vector<std::string>{"cat", "dog"});
  const Example e = ds->get(Split::Train, 0);
  REQUIRE(e.boxes.size() == 1);
  CHECK(e.boxes[0].label == 1);
  CHECK(e.boxes[0].x2 == 4);

  // Keeping them: every category gets a label, in id order.
  auto all = openDataset("coco", opts + "\nskip_categories: []");
  CHECK(all->classes() == std::vector<std::string>{"__ignore__", "_background_", "cat", "dog"});
  CHECK(all->get(Split::Train, 0).boxes.size() == 3);
}
