// The loader's data-parallel shards: at every step, the batches of W ranks
// with batch b together are exactly the batch (same examples, same augmented
// pixels) that one process with batch b*W gets; the property that makes a
// W-rank run train what a 1-rank run with the global batch trains.
#include "../data/data_test_util.h"

#include <edgeopt/data_loader.h>

#include <ATen/ATen.h>

#include <map>

using namespace edgeopt;

namespace {

const char* kAugment =
    "dataset: noise\n"
    "train_transforms: [{random_resized_crop: 12}, {horizontal_flip: 0.5}, {normalize: {mean: [0.5], std: [0.25]}}]\n";

// Each step's batch as label -> augmented image.
std::vector<std::map<int64_t, at::Tensor>> steps(std::shared_ptr<Dataset> ds, int64_t batch, int rank, int world) {
  LoaderOptions o;
  o.batch_size = batch;
  o.shuffle = true;
  o.seed = 5;
  o.workers = 1;
  o.rank = rank;
  o.world_size = world;
  auto loader = makeDataLoader(std::move(ds), Split::Train, test::dataOptions(kAugment), o);
  std::vector<std::map<int64_t, at::Tensor>> out;
  loader->startEpoch(3);
  while (auto b = loader->next()) {
    out.emplace_back();
    for (int64_t i = 0; i < b->labels.size(0); ++i) out.back()[b->labels[i].item<int64_t>()] = b->images[i];
  }
  return out;
}

}  // namespace

TEST_CASE("shards: W ranks with batch b see, step by step, what 1 rank with batch b*W sees", "[dist][data]") {
  auto ds = std::make_shared<test::NoiseDataset>(48, 14, 14);
  for (int world : {2, 3}) {
    const int64_t b = 4;
    const auto single = steps(ds, b * world, 0, 1);
    REQUIRE(single.size() == 48 / (b * world));
    std::vector<std::vector<std::map<int64_t, at::Tensor>>> ranks;
    for (int r = 0; r < world; ++r) ranks.push_back(steps(ds, b, r, world));
    for (size_t k = 0; k < single.size(); ++k) {
      std::map<int64_t, at::Tensor> joined;
      for (int r = 0; r < world; ++r) {
        REQUIRE(ranks[static_cast<size_t>(r)].size() == single.size());
        CHECK(ranks[static_cast<size_t>(r)][k].size() == static_cast<size_t>(b));
        joined.insert(ranks[static_cast<size_t>(r)][k].begin(), ranks[static_cast<size_t>(r)][k].end());
      }
      INFO("world " << world << ", step " << k);
      REQUIRE(joined.size() == single[k].size());
      for (const auto& [label, image] : single[k]) {
        REQUIRE(joined.count(label) == 1);
        CHECK(at::equal(joined[label], image));
      }
    }
  }
}
