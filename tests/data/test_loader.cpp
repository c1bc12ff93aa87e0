// The DataLoader: order, shards, drop_last, bad data, and batches that don't
// depend on the number of worker threads.
#include "data_test_util.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>

using namespace edgeopt;
using edgeopt::test::dataOptions;
using edgeopt::test::epochLabels;
using edgeopt::test::NoiseDataset;

namespace {

const char* kAugment =
    "dataset: noise\n"
    "batch_size: 8\n"
    "train_transforms: [{random_resized_crop: 12}, {horizontal_flip: 0.5},\n"
    "                   {color_jitter: {brightness: 0.4, hue: 0.1}}, {normalize: {mean: [0.5], std: [0.25]}}]\n";

std::unique_ptr<DataLoader> loader(std::shared_ptr<Dataset> ds, LoaderOptions o, const char* data = kAugment) {
  return makeDataLoader(std::move(ds), Split::Train, dataOptions(data), o);
}

LoaderOptions opts(int64_t batch, bool shuffle, int workers = 0) {
  LoaderOptions o;
  o.batch_size = batch;
  o.shuffle = shuffle;
  o.workers = workers;
  o.seed = 7;
  return o;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

TEST_CASE("batches are identical with 0, 1 and 2 workers", "[data][loader]") {
  auto ds = std::make_shared<NoiseDataset>(37, 20, 24);
  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 2}) {
    auto l = loader(ds, opts(8, true, workers));
    std::vector<Batch> all;
    for (int64_t epoch : {0, 1}) {
      l->startEpoch(epoch);
      while (auto b = l->next()) all.push_back(std::move(*b));
    }
    runs.push_back(std::move(all));
  }
  REQUIRE(runs[0].size() == 10);  // 5 batches x 2 epochs
  CHECK(runs[0][0].images.sizes() == at::IntArrayRef({8, 3, 12, 12}));
  CHECK(runs[0][4].images.size(0) == 5);
  for (int r : {1, 2}) {
    REQUIRE(runs[r].size() == runs[0].size());
    for (size_t i = 0; i < runs[0].size(); ++i) {
      CHECK(at::equal(runs[r][i].images, runs[0][i].images));
      CHECK(at::equal(runs[r][i].labels, runs[0][i].labels));
    }
  }
  // The same example is augmented differently in another epoch.
  CHECK_FALSE(at::equal(runs[0][0].images, runs[0][5].images));
}

TEST_CASE("shuffling is a permutation fixed by seed and epoch", "[data][loader]") {
  auto ds = std::make_shared<NoiseDataset>(50, 16, 16);
  auto l = loader(ds, opts(16, true, 2));
  const auto e0 = epochLabels(*l, 0), e1 = epochLabels(*l, 1), e0_again = epochLabels(*l, 0);
  auto sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == iota(50));
  CHECK(e0 != iota(50));
  CHECK(e0 != e1);
  CHECK(e0 == e0_again);
  auto other_seed = opts(16, true, 2);
  other_seed.seed = 8;
  CHECK(epochLabels(*loader(ds, other_seed), 0) != e0);
  CHECK(epochLabels(*loader(ds, opts(16, false, 2)), 3) == iota(50));
}

TEST_CASE("shards are disjoint, equal, and cover the epoch's order", "[data][loader]") {
  for (size_t n : {30, 31}) {
    auto ds = std::make_shared<NoiseDataset>(n, 16, 16);
    std::vector<int64_t> all;
    for (int rank = 0; rank < 3; ++rank) {
      auto o = opts(4, true, 1);
      o.rank = rank;
      o.world_size = 3;
      auto l = loader(ds, o);
      CHECK(l->examplesPerEpoch() == 10);
      CHECK(l->batchesPerEpoch() == 3);
      const auto labels = epochLabels(*l, 2);
      CHECK(labels.size() == 10);
      all.insert(all.end(), labels.begin(), labels.end());
    }
    std::sort(all.begin(), all.end());
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());  // disjoint
    CHECK(all.size() == 30);  // 31: one example sits out this epoch, so every rank runs 10 steps
    if (n == 30) CHECK(all == iota(30));
  }
}

TEST_CASE("drop_last drops the incomplete batch", "[data][loader]") {
  auto ds = std::make_shared<NoiseDataset>(37, 16, 16);
  auto o = opts(8, false);
  auto keep = loader(ds, o);
  CHECK(keep->batchesPerEpoch() == 5);
  CHECK(keep->examplesPerEpoch() == 37);
  CHECK(epochLabels(*keep, 0).size() == 37);
  o.drop_last = true;
  auto drop = loader(ds, o);
  CHECK(drop->batchesPerEpoch() == 4);
  CHECK(epochLabels(*drop, 0) == iota(32));
}

TEST_CASE("bad examples are skipped and counted, or stop the epoch naming the file", "[data][loader]") {
  auto ds = std::make_shared<NoiseDataset>(20, 16, 16, std::set<size_t>{3, 10});
  for (int workers : {0, 2}) {
    auto o = opts(8, false, workers);
    o.skip_bad = true;
    auto l = loader(ds, o);
    l->startEpoch(0);
    std::vector<int64_t> sizes;
    while (auto b = l->next()) sizes.push_back(b->images.size(0));
    CHECK(sizes == std::vector<int64_t>{7, 7, 4});  // the batch keeps its slot, one example short
    CHECK(l->skippedThisEpoch() == 2);
    l->startEpoch(1);
    CHECK(l->skippedThisEpoch() == 0);

    o.skip_bad = false;
    auto strict = loader(ds, o);
    strict->startEpoch(0);
    EDGEOPT_REQUIRE_THROWS_MESSAGE(strict->next(), InputError,
                                   "item[3]: bad image (data.on_bad_data: skip would skip it)");
  }
}

TEST_CASE("a batch of different image sizes is a recipe error at the transform list", "[data][loader]") {
  auto ds = std::make_shared<NoiseDataset>(4, 16, 16);  // heights 16, 17, 18, 16: 8x8, 8x8, 9x8
  auto l = loader(ds, opts(4, false), "dataset: noise\ntrain_transforms: [{resize: 8}]\n");
  l->startEpoch(0);
  EDGEOPT_REQUIRE_THROWS_MESSAGE(
      l->next(), RecipeError,
      "recipe.yaml:2:19: data.train_transforms: the images of a batch must have one shape, but item[0] is 3x8x8 "
      "(CxHxW) and item[2] is 3x9x8; end with a fixed-size transform (center_crop, random_resized_crop, letterbox or "
      "resize: [h, w])");
}

TEST_CASE("loaderOptions reads the recipe's data section", "[data][loader]") {
  const Options data = dataOptions("dataset: x\nbatch_size: 64\nval_batch_size: 100\nworkers: 1\non_bad_data: skip\n");
  const auto train = loaderOptions(data, Split::Train, 5), val = loaderOptions(data, Split::Val, 5);
  CHECK(train.batch_size == 64);
  CHECK(train.shuffle);
  CHECK(train.skip_bad);
  CHECK(train.workers == 1);
  CHECK(val.batch_size == 100);
  CHECK_FALSE(val.shuffle);
}

TEST_CASE("a batch holds each example's transforms applied one by one", "[data][loader]") {
  // The loader defers the trailing flip and normalize into collate's write;
  // the batch must not differ from the eager pipeline by a bit.
  const char* data =
      "dataset: noise\n"
      "train_transforms: [{random_resized_crop: 12}, {horizontal_flip: 0.5},\n"
      "  {normalize: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}}]\n";
  auto ds = std::make_shared<NoiseDataset>(10, 20, 24);
  const auto pipeline = edgeopt::test::pipelineOf(
      "[{random_resized_crop: 12}, {horizontal_flip: 0.5},"
      " {normalize: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}}]");
  for (int workers : {0, 2}) {
    auto l = loader(ds, opts(4, false, workers), data);
    l->startEpoch(3);
    int64_t index = 0;
    while (auto b = l->next()) {
      for (int64_t i = 0; i < b->images.size(0); ++i, ++index) {
        Sample s = Sample::fromExample(ds->get(Split::Train, static_cast<size_t>(index)));
        Rng rng(7, 3, static_cast<uint64_t>(index));
        pipeline.apply(s, rng);
        CHECK(at::equal(b->images[i], imageToTensor(s.image, s.bgr)));
      }
    }
    CHECK(index == 10);
  }
}
