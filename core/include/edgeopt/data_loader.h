#pragma once
// DataLoader: batches from a Dataset split, decoded and transformed on worker
// threads with prefetch, collated into tensors. The order of a split is fixed
// by (seed, epoch) and each example's augmentation randomness by (seed, epoch,
// index), so batches are identical whatever the number of workers.
//
// The recipe's `data:` section carries, besides the dataset's own options, the
// loader options declared by addDataLoaderOptions():
//   data:
//     dataset: imagenet
//     root: data/fashion-mnist
//     batch_size: 64          # val_batch_size defaults to it
//     workers: 2
//     on_bad_data: skip       # or error
//     train_transforms: [{random_resized_crop: {size: 32}}, {horizontal_flip: 0.5}, {normalize: {...}}]
//     val_transforms: [{resize: 36}, {center_crop: 32}, {normalize: {...}}]
#include <edgeopt/dataset.h>
#include <edgeopt/options.h>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace edgeopt {

// Adds batch_size, val_batch_size, workers, shuffle, drop_last, on_bad_data,
// train_transforms and val_transforms to a dataset's schema.
void addDataLoaderOptions(OptionSchema& schema);

struct Batch {
  at::Tensor images;  // [N, C, H, W] float32
  at::Tensor labels;  // [N] int64 (classification; -1 where none)
  std::vector<std::vector<Box>> boxes;  // detection targets, per image, in the transformed image's pixels
  std::vector<int64_t> image_ids;
  std::vector<std::string> sources;
};

struct LoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  int workers = 2;
  int prefetch_batches = 4;
  bool skip_bad = false;  // skip (and count) unreadable examples instead of failing
  int rank = 0;           // data parallel: this process's shard of world_size
  int world_size = 1;
};

class DataLoader {
 public:
  virtual ~DataLoader() = default;
  virtual size_t batchesPerEpoch() const = 0;
  virtual size_t examplesPerEpoch() const = 0;
  // Begins epoch `epoch` (restarting the workers); then next() until empty.
  virtual void startEpoch(int64_t epoch) = 0;
  virtual std::optional<Batch> next() = 0;
  // Examples skipped as unreadable during the current epoch.
  virtual size_t skippedThisEpoch() const = 0;
};

// `data` holds the validated data options (dataset options + loader options).
std::unique_ptr<DataLoader> makeDataLoader(std::shared_ptr<const Dataset> dataset, Split split, const Options& data,
                                           LoaderOptions options);
// The loader options of `split` from the validated data options.
LoaderOptions loaderOptions(const Options& data, Split split, uint64_t seed);

}  // namespace edgeopt
